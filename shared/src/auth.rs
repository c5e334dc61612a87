//! Who is calling: JWT verification and the admin check every endpoint requires.
//!
//! Tokens arrive as `Authorization: Bearer <JWT>` or `X-Auth-Token: <JWT>` (seed 004 uses
//! the latter). The algorithm is pinned by configuration and never taken from the token
//! header; `exp` is always required; `iss` and `aud` are checked when configured.
//! The verification happens in the function rather than in an API Gateway authorizer
//! because each endpoint must answer auth failures in its own error dialect.
//!
//! Behind an API Gateway JWT authorizer the verified claims also arrive in the request
//! context; they are accepted when `AUTH_TRUST_GATEWAY_CLAIMS=true`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The header seed 004 documents.
pub const X_AUTH_TOKEN: &str = "x-auth-token";

/// Why a caller is not authenticated. Dialects render these differently (seed 004 has a
/// code and reason per case; the others answer `Log In` for all).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Neither header is present.
    #[error("no token")]
    MissingToken,
    /// The token is past its `exp`.
    #[error("token expired")]
    Expired,
    /// Bad signature, wrong algorithm, wrong issuer/audience, or not a JWT at all.
    #[error("invalid token")]
    Invalid,
}

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: recorded as who created, changed or deleted a user.
    pub subject: String,
    /// Whether the token carries the admin role.
    pub is_admin: bool,
}

/// The claims this service reads. The admin role is found in `role` (a string) or
/// `roles` (a list of strings).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the caller's user id or name.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch; required.
    pub exp: u64,
    /// A single role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Several roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Issuer, checked when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience, checked when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// How tokens are verified; built once at cold start from the environment.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
    admin_role: String,
    trust_gateway_claims: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .field("admin_role", &self.admin_role)
            .field("trust_gateway_claims", &self.trust_gateway_claims)
            .finish_non_exhaustive()
    }
}

/// Settings of an [`Authenticator`].
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// The one accepted algorithm.
    pub algorithm: Algorithm,
    /// HS* shared secret or the PEM public key for RS*/ES*.
    pub key_material: String,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    /// The role value that grants administrator rights.
    pub admin_role: String,
    /// Accept claims verified by an API Gateway JWT authorizer.
    pub trust_gateway_claims: bool,
}

/// A configuration problem with the auth settings (reported at cold start).
#[derive(Debug, thiserror::Error)]
#[error("invalid JWT key for {algorithm:?}")]
pub struct AuthConfigError {
    algorithm: Algorithm,
    #[source]
    source: jsonwebtoken::errors::Error,
}

/// Clock-skew allowance for `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;

impl Authenticator {
    /// Builds the verifier; fails on a key that does not fit the algorithm.
    pub fn new(settings: AuthSettings) -> Result<Self, AuthConfigError> {
        let alg = settings.algorithm;
        let pem = settings.key_material.as_bytes();
        let key = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                Ok(DecodingKey::from_secret(pem))
            }
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            _ => DecodingKey::from_rsa_pem(pem),
        }
        .map_err(|source| AuthConfigError {
            algorithm: alg,
            source,
        })?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = &settings.issuer {
            validation.set_issuer(&[iss]);
        }
        match &settings.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Self {
            key,
            validation,
            admin_role: settings.admin_role,
            trust_gateway_claims: settings.trust_gateway_claims,
        })
    }

    /// Authenticates a request from its headers, or from claims an API Gateway JWT
    /// authorizer already verified (only when trusted by configuration).
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        gateway_claims: Option<&HashMap<String, String>>,
    ) -> Result<Principal, AuthError> {
        if let Some(token) = token_from_headers(headers) {
            return self.verify(token);
        }
        match gateway_claims {
            Some(claims) if self.trust_gateway_claims => self.principal_of_claims(claims),
            _ => Err(AuthError::MissingToken),
        }
    }

    /// Verifies one token.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            },
        )?;
        let c = data.claims;
        let is_admin = c.role.as_deref() == Some(self.admin_role.as_str())
            || c.roles.contains(&self.admin_role);
        Ok(Principal {
            subject: c.sub,
            is_admin,
        })
    }

    fn principal_of_claims(
        &self,
        claims: &HashMap<String, String>,
    ) -> Result<Principal, AuthError> {
        let subject = claims.get("sub").cloned().ok_or(AuthError::Invalid)?;
        // API Gateway flattens list claims into strings such as "[admin auditor]".
        let is_admin = ["role", "roles"].iter().any(|k| {
            claims.get(*k).is_some_and(|v| {
                v.trim_matches(|c| c == '[' || c == ']')
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .any(|r| r.trim_matches('"') == self.admin_role)
            })
        });
        Ok(Principal { subject, is_admin })
    }
}

/// The token of `Authorization: Bearer ...` or, failing that, of `X-Auth-Token`.
fn token_from_headers(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    bearer
        .or_else(|| {
            headers
                .get(X_AUTH_TOKEN)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|t| !t.is_empty())
}

/// Mints an HS256 token for local use (`devctl token`) and for tests.
pub fn mint_hs256(secret: &str, subject: &str, role: Option<&str>, ttl: Duration) -> String {
    let exp = SystemTime::now()
        .checked_add(ttl)
        .unwrap_or(SystemTime::now())
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    mint_hs256_with_exp(secret, subject, role, exp)
}

/// Mints an HS256 token with an explicit `exp` (tests of expired tokens).
pub fn mint_hs256_with_exp(secret: &str, subject: &str, role: Option<&str>, exp: u64) -> String {
    let claims = Claims {
        sub: subject.to_owned(),
        exp,
        role: role.map(str::to_owned),
        roles: Vec::new(),
        iss: None,
        aud: None,
    };
    // Encoding an in-memory struct with an HMAC key cannot fail.
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(AuthSettings {
            algorithm: Algorithm::HS256,
            key_material: "s3cret".into(),
            issuer: None,
            audience: None,
            admin_role: "admin".into(),
            trust_gateway_claims: true,
        })
        .unwrap()
    }

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn bearer_and_x_auth_token_are_both_read() {
        let t = mint_hs256("s3cret", "ops", Some("admin"), Duration::from_secs(60));
        let p = auth()
            .authenticate(&headers("authorization", &format!("Bearer {t}")), None)
            .unwrap();
        assert_eq!(
            p,
            Principal {
                subject: "ops".into(),
                is_admin: true
            }
        );
        let p = auth()
            .authenticate(&headers("x-auth-token", &t), None)
            .unwrap();
        assert!(p.is_admin);
    }

    #[test]
    fn missing_expired_forged_and_unsigned_tokens_are_refused() {
        let a = auth();
        assert_eq!(
            a.authenticate(&HeaderMap::new(), None),
            Err(AuthError::MissingToken)
        );
        let expired = mint_hs256_with_exp("s3cret", "ops", Some("admin"), 1_000);
        assert_eq!(a.verify(&expired), Err(AuthError::Expired));
        let forged = mint_hs256("other", "ops", Some("admin"), Duration::from_secs(60));
        assert_eq!(a.verify(&forged), Err(AuthError::Invalid));
        // alg=none with the same claims: the pinned algorithm refuses it.
        let good = mint_hs256("s3cret", "ops", Some("admin"), Duration::from_secs(60));
        let payload = good.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(a.verify(&none), Err(AuthError::Invalid));
        assert_eq!(a.verify("garbage"), Err(AuthError::Invalid));
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        #[derive(Serialize)]
        struct NoExp {
            sub: String,
            role: String,
        }
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &NoExp {
                sub: "x".into(),
                role: "admin".into(),
            },
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert_eq!(auth().verify(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn non_admin_roles_are_authenticated_but_not_admin() {
        let t = mint_hs256("s3cret", "clerk", Some("viewer"), Duration::from_secs(60));
        assert!(!auth().verify(&t).unwrap().is_admin);
    }

    #[test]
    fn gateway_claims_are_used_only_when_trusted() {
        let claims: HashMap<String, String> = [
            ("sub".to_string(), "gw-user".to_string()),
            ("roles".to_string(), "[auditor admin]".to_string()),
        ]
        .into();
        let p = auth()
            .authenticate(&HeaderMap::new(), Some(&claims))
            .unwrap();
        assert!(p.is_admin);
        let mut untrusted = auth();
        untrusted.trust_gateway_claims = false;
        assert_eq!(
            untrusted.authenticate(&HeaderMap::new(), Some(&claims)),
            Err(AuthError::MissingToken)
        );
    }
}
