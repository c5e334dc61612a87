//! Who is calling: JWT verification and the admin check every endpoint requires.
//!
//! Tokens arrive as `Authorization: Bearer <JWT>` or `X-Auth-Token: <JWT>` (the delete by
//! filter's contract uses the latter). The algorithm is pinned by configuration and never
//! taken from the token header; `exp` is always required; `iss` and `aud` are checked
//! when configured. The verification happens in the function rather than in an API
//! Gateway authorizer because each endpoint must answer auth failures in its own error
//! dialect.
//!
//! Behind an API Gateway JWT authorizer the verified claims also arrive in the request
//! context; they are accepted when `AUTH_TRUST_GATEWAY_CLAIMS=true`.

use std::collections::HashMap;

use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The header the delete by filter's contract documents.
pub const X_AUTH_TOKEN: &str = "x-auth-token";

/// Why a caller is not authenticated. Dialects render these differently (the filter dialect
/// has a code and reason per case; the others answer `Log In` for all).
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
    /// The verification keys, with their `kid` when they came from a JWKS.
    keys: Vec<(Option<String>, DecodingKey)>,
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
    /// HS* shared secret; for RS*/PS*/ES*/EdDSA a PEM public key, or a JWKS document
    /// (`{"keys": [...]}`) whose keys are chosen by the token's `kid`.
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
        let material = settings.key_material.as_bytes();
        let hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
        let keys = if !hmac && settings.key_material.trim_start().starts_with('{') {
            jwks_keys(&settings.key_material, alg)
        } else {
            match alg {
                _ if hmac => Ok(DecodingKey::from_secret(material)),
                Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(material),
                Algorithm::EdDSA => DecodingKey::from_ed_pem(material),
                _ => DecodingKey::from_rsa_pem(material),
            }
            .map(|key| vec![(None, key)])
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
            keys,
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
        let key = self.key_for(token)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid,
                }
            })?;
        let c = data.claims;
        let is_admin = c.role.as_deref() == Some(self.admin_role.as_str())
            || c.roles.contains(&self.admin_role);
        Ok(Principal {
            subject: c.sub,
            is_admin,
        })
    }

    /// The key a token names: the only key, or the JWKS key with the token's `kid`.
    fn key_for(&self, token: &str) -> Result<&DecodingKey, AuthError> {
        if let [(None, key)] = &self.keys[..] {
            return Ok(key);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let only_one = self.keys.len() == 1;
        self.keys
            .iter()
            .find(|(kid, _)| match (kid, &header.kid) {
                (Some(k), Some(t)) => k == t,
                (None, _) | (Some(_), None) => only_one,
            })
            .map(|(_, key)| key)
            .ok_or(AuthError::Invalid)
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

/// The signing keys of a JWKS document that fit the pinned algorithm: keys for
/// encryption, declaring another algorithm or of another key type are left out; none
/// left is a configuration error.
fn jwks_keys(
    document: &str,
    alg: Algorithm,
) -> Result<Vec<(Option<String>, DecodingKey)>, jsonwebtoken::errors::Error> {
    let set: JwkSet = serde_json::from_str(document)
        .map_err(|_| jsonwebtoken::errors::Error::from(ErrorKind::InvalidKeyFormat))?;
    let fits_type = |params: &AlgorithmParameters| match params {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(_) => {
            matches!(alg, Algorithm::ES256 | Algorithm::ES384)
        }
        AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
        _ => false,
    };
    let keys = set
        .keys
        .iter()
        .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| a.to_string() == format!("{alg:?}"))
        })
        .filter(|k| fits_type(&k.algorithm))
        .map(|k| Ok((k.common.key_id.clone(), DecodingKey::from_jwk(k)?)))
        .collect::<Result<Vec<_>, jsonwebtoken::errors::Error>>()?;
    if keys.is_empty() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(keys)
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

/// Mints an HS256 token for local use (`devctl token`) and for tests. Only with the
/// `dev-tokens` feature: no production binary can mint a token.
#[cfg(any(test, feature = "dev-tokens"))]
pub fn mint_hs256(
    secret: &str,
    subject: &str,
    role: Option<&str>,
    ttl: std::time::Duration,
) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let exp = SystemTime::now()
        .checked_add(ttl)
        .unwrap_or(SystemTime::now())
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    mint_hs256_with_exp(secret, subject, role, exp)
}

/// Mints an HS256 token with an explicit `exp` (tests of expired tokens); `dev-tokens`
/// only, as [`mint_hs256`].
#[cfg(any(test, feature = "dev-tokens"))]
pub fn mint_hs256_with_exp(secret: &str, subject: &str, role: Option<&str>, exp: u64) -> String {
    use jsonwebtoken::{EncodingKey, Header};
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
    use jsonwebtoken::{EncodingKey, Header};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// Two Ed25519 keys made for these tests only (`openssl genpkey -algorithm ed25519`)
    /// and their public halves as JWKs.
    const OLD_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIN4A/y1xyuQ9nOS0QzavFTL4Ea2LDEPgVc5ZstHFiF8E\n-----END PRIVATE KEY-----\n";
    const NEW_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKV55QhhPYXmUWdHDXgoDC3QQe+Cyqcw2brTt3ltOgHF\n-----END PRIVATE KEY-----\n";
    const OLD_X: &str = "DNdiO_dmpN1oqePY4k5R6x6vZGtnZTFLamhynqHVW44";
    const NEW_X: &str = "Sj6cyEqMAaaAALw0JJxTpBZIukkwK5PSYGcJ3-fXd44";

    fn jwk(kid: &str, x: &str) -> serde_json::Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x, "use": "sig", "alg": "EdDSA"})
    }

    fn with_keys(alg: Algorithm, key_material: String) -> Result<Authenticator, AuthConfigError> {
        Authenticator::new(AuthSettings {
            algorithm: alg,
            key_material,
            issuer: None,
            audience: None,
            admin_role: "admin".into(),
            trust_gateway_claims: false,
        })
    }

    fn signed(private: &str, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        let claims = Claims {
            sub: "idp-user".into(),
            exp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 60,
            role: Some("admin".into()),
            roles: Vec::new(),
            iss: None,
            aud: None,
        };
        let key = EncodingKey::from_ed_pem(private.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    #[test]
    fn a_jwks_verifies_each_token_with_the_key_its_kid_names() {
        let jwks = serde_json::json!({"keys": [jwk("old", OLD_X), jwk("new", NEW_X)]});
        let a = with_keys(Algorithm::EdDSA, jwks.to_string()).unwrap();
        assert!(
            a.verify(&signed(NEW_PRIVATE, Some("new")))
                .unwrap()
                .is_admin
        );
        assert!(a.verify(&signed(OLD_PRIVATE, Some("old"))).is_ok());
        // Signed by one key but naming the other, naming no key, or an unknown one.
        assert_eq!(
            a.verify(&signed(NEW_PRIVATE, Some("old"))),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            a.verify(&signed(NEW_PRIVATE, None)),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            a.verify(&signed(NEW_PRIVATE, Some("gone"))),
            Err(AuthError::Invalid)
        );
        // A JWKS of one key also takes tokens without a kid.
        let one = serde_json::json!({"keys": [jwk("new", NEW_X)]});
        let a = with_keys(Algorithm::EdDSA, one.to_string()).unwrap();
        assert!(a.verify(&signed(NEW_PRIVATE, None)).is_ok());
        assert_eq!(
            a.verify(&signed(OLD_PRIVATE, None)),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn a_jwks_without_a_key_for_the_pinned_algorithm_is_a_configuration_error() {
        let jwks = serde_json::json!({"keys": [jwk("new", NEW_X)]});
        assert!(with_keys(Algorithm::RS256, jwks.to_string()).is_err());
        assert!(with_keys(Algorithm::EdDSA, r#"{"keys": []}"#.into()).is_err());
        assert!(with_keys(Algorithm::EdDSA, "{not json".into()).is_err());
        let mut encryption = jwk("new", NEW_X);
        encryption["use"] = "enc".into();
        let jwks = serde_json::json!({"keys": [encryption]});
        assert!(with_keys(Algorithm::EdDSA, jwks.to_string()).is_err());
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
