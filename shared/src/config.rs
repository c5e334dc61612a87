//! Configuration, read once at cold start from the environment; a bad value stops the
//! function before it serves anything, with a message naming the variable.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::auth::{AuthSettings, Authenticator};

/// Request and item limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most items in one bulk request (`MAX_ITEMS_PER_REQUEST`, default 1000).
    pub max_items: usize,
    /// Largest accepted body in bytes (`MAX_BODY_BYTES`, default 6,000,000: Lambda's
    /// synchronous payload limit is 6 MB).
    pub max_body_bytes: usize,
    /// Most card/PIN factors per user (`MAX_IDENTIFIERS_PER_USER`, default 10).
    pub max_identifiers: usize,
    /// Most face factors per user (`MAX_FACE_IDENTIFIERS_PER_USER`, default 2).
    pub max_face_identifiers: usize,
    /// Whether face factors are accepted at all (`FACE_ID_ENABLED`, default true).
    pub face_enabled: bool,
    /// Largest decoded face image in bytes (`MAX_FACE_IMAGE_BYTES`, default 100,000).
    pub max_face_image_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_items: 1000,
            max_body_bytes: 6_000_000,
            max_identifiers: 10,
            max_face_identifiers: 2,
            face_enabled: true,
            max_face_image_bytes: 100_000,
        }
    }
}

/// Longest soft-delete retention, in days (100 years), for `SOFT_DELETE_RETENTION_DAYS` and
/// a clean-up rule's `retention_days`: keeps the purge's cut-off a representable time.
pub const MAX_RETENTION_DAYS: u64 = 36_500;
/// Longest `DEADLINE_MARGIN_MS` and `DEFAULT_BUDGET_MS`: Lambda's longest timeout (15 min).
const MAX_BUDGET_MS: u64 = 900_000;

/// DynamoDB's item size limit; every user must fit with room for its other fields.
const ITEM_BUDGET_BYTES: usize = 350_000;
/// A transaction carries at most 100 actions; one user's write must fit in one.
const MAX_IDENTIFIERS_CEILING: usize = 40;

/// Everything a function needs besides the DynamoDB client.
#[derive(Clone, Debug)]
pub struct Config {
    /// The users table (`TABLE_NAME`).
    pub table_name: String,
    /// Request and item limits.
    pub limits: Limits,
    /// Time kept free before the Lambda deadline to answer (`DEADLINE_MARGIN_MS`, default 2000).
    pub deadline_margin: Duration,
    /// Time budget when no Lambda deadline is known, e.g. in-process tests
    /// (`DEFAULT_BUDGET_MS`, default 25,000).
    pub default_budget: Duration,
    /// DynamoDB requests in flight per invocation (`DYNAMODB_CONCURRENCY`, default 8).
    pub concurrency: usize,
    /// How long soft-deleted users are kept before the scheduled clean-up purges them
    /// (`SOFT_DELETE_RETENTION_DAYS`, default 30).
    pub soft_delete_retention: Duration,
    /// Token verification.
    pub auth: Authenticator,
    /// The key listing cursors are sealed with (`CURSOR_SECRET`, else derived from the
    /// token key).
    pub cursor_key: CursorKey,
    /// CloudWatch namespace of the metrics (`METRICS_NAMESPACE`, default `BulkUserApi`).
    pub metrics_namespace: String,
    /// The `Service` dimension of every metric (`METRICS_SERVICE`, default
    /// `bulk-user-api`; the template sets the stack name).
    pub metrics_service: String,
}

/// The 32-byte key that seals listing cursors: derived from `CURSOR_SECRET` when set,
/// otherwise from the token key (`AUTH_JWT_SECRET`, or the public key of RS*/ES*/EdDSA
/// tokens, which is not secret: set `CURSOR_SECRET` with those). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// The key derived from `secret`.
    pub fn derive(secret: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"bulk-user-api listing cursor v1\0");
        h.update(secret);
        Self(h.finalize().into())
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// A missing or unreadable setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} must be set")]
    Missing(&'static str),
    /// A variable does not parse.
    #[error("environment variable {name} has an invalid value: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The JWT key does not fit the algorithm.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthConfigError),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads a given set of variables (tests build configurations this way).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let d = Limits::default();
        let limits = Limits {
            max_items: env.parse("MAX_ITEMS_PER_REQUEST", d.max_items)?,
            max_body_bytes: env.parse("MAX_BODY_BYTES", d.max_body_bytes)?,
            max_identifiers: env.parse("MAX_IDENTIFIERS_PER_USER", d.max_identifiers)?,
            max_face_identifiers: env
                .parse("MAX_FACE_IDENTIFIERS_PER_USER", d.max_face_identifiers)?,
            face_enabled: env.parse("FACE_ID_ENABLED", d.face_enabled)?,
            max_face_image_bytes: env.parse("MAX_FACE_IMAGE_BYTES", d.max_face_image_bytes)?,
        };
        if limits.max_items == 0 {
            return Err(invalid("MAX_ITEMS_PER_REQUEST", "must be at least 1"));
        }
        if limits.max_identifiers > MAX_IDENTIFIERS_CEILING {
            return Err(invalid(
                "MAX_IDENTIFIERS_PER_USER",
                "must be at most 40 (a user's write must fit one transaction)",
            ));
        }
        let face_bytes = limits
            .max_face_identifiers
            .checked_mul(limits.max_face_image_bytes);
        if face_bytes.is_none_or(|b| b > ITEM_BUDGET_BYTES) {
            return Err(invalid(
                "MAX_FACE_IMAGE_BYTES",
                "MAX_FACE_IDENTIFIERS_PER_USER x MAX_FACE_IMAGE_BYTES must stay under 350000 \
                 (DynamoDB item limit)",
            ));
        }
        let algorithm = match env.get("AUTH_JWT_ALGORITHM").unwrap_or("HS256") {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "EdDSA" => Algorithm::EdDSA,
            other => return Err(invalid("AUTH_JWT_ALGORITHM", other)),
        };
        let key_var = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "AUTH_JWT_SECRET",
            _ => "AUTH_JWT_PUBLIC_KEY",
        };
        let key_material = env.required(key_var)?.to_owned();
        if key_var == "AUTH_JWT_SECRET" && key_material.len() < 16 {
            return Err(invalid("AUTH_JWT_SECRET", "must be at least 16 bytes"));
        }
        let cursor_key = match env.get("CURSOR_SECRET").filter(|s| !s.is_empty()) {
            Some(s) if s.len() < 16 => {
                return Err(invalid("CURSOR_SECRET", "must be at least 16 bytes"));
            }
            Some(s) => CursorKey::derive(s.as_bytes()),
            None => CursorKey::derive(key_material.as_bytes()),
        };
        let auth = Authenticator::new(AuthSettings {
            algorithm,
            key_material,
            issuer: env.get("AUTH_JWT_ISSUER").map(str::to_owned),
            audience: env.get("AUTH_JWT_AUDIENCE").map(str::to_owned),
            admin_role: env.get("AUTH_ADMIN_ROLE").unwrap_or("admin").to_owned(),
            trust_gateway_claims: env.parse("AUTH_TRUST_GATEWAY_CLAIMS", false)?,
        })?;
        let concurrency = env.parse("DYNAMODB_CONCURRENCY", 8usize)?;
        if concurrency == 0 {
            return Err(invalid("DYNAMODB_CONCURRENCY", "must be at least 1"));
        }
        let millis = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            let ms = env.parse(name, default)?;
            if ms > MAX_BUDGET_MS {
                return Err(invalid(
                    name,
                    "must be at most 900000 (Lambda's longest timeout)",
                ));
            }
            Ok(Duration::from_millis(ms))
        };
        let retention_days = env.parse("SOFT_DELETE_RETENTION_DAYS", 30u64)?;
        if retention_days > MAX_RETENTION_DAYS {
            return Err(invalid(
                "SOFT_DELETE_RETENTION_DAYS",
                "must be at most 36500 (100 years)",
            ));
        }
        Ok(Self {
            table_name: env.required("TABLE_NAME")?.to_owned(),
            limits,
            deadline_margin: millis("DEADLINE_MARGIN_MS", 2000)?,
            default_budget: millis("DEFAULT_BUDGET_MS", 25_000)?,
            concurrency,
            // At most 36500 x 86400 seconds: no overflow.
            soft_delete_retention: Duration::from_secs(retention_days * 86_400),
            auth,
            cursor_key,
            metrics_namespace: env
                .get("METRICS_NAMESPACE")
                .filter(|s| !s.is_empty())
                .unwrap_or("BulkUserApi")
                .to_owned(),
            metrics_service: env
                .get("METRICS_SERVICE")
                .filter(|s| !s.is_empty())
                .unwrap_or("bulk-user-api")
                .to_owned(),
        })
    }
}

fn invalid(name: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.to_owned(),
    }
}

struct Env<'a>(&'a HashMap<String, String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    fn parse<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| invalid(name, &e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_and_required_vars_are_named() {
        let c = Config::from_vars(&vars(&[
            ("TABLE_NAME", "users"),
            ("AUTH_JWT_SECRET", "0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.concurrency, 8);
        let e = Config::from_vars(&vars(&[("AUTH_JWT_SECRET", "0123456789abcdef")])).unwrap_err();
        assert_eq!(e.to_string(), "environment variable TABLE_NAME must be set");
    }

    #[test]
    fn bad_values_are_refused_at_start() {
        let base = [("TABLE_NAME", "t"), ("AUTH_JWT_SECRET", "0123456789abcdef")];
        for bad in [
            ("MAX_ITEMS_PER_REQUEST", "lots"),
            ("MAX_ITEMS_PER_REQUEST", "0"),
            ("FACE_ID_ENABLED", "maybe"),
            ("MAX_IDENTIFIERS_PER_USER", "41"),
            ("MAX_FACE_IMAGE_BYTES", "300000"),
            ("AUTH_JWT_ALGORITHM", "none"),
            // Numbers that would overflow a computation are refused, not wrapped or panicked on.
            ("SOFT_DELETE_RETENTION_DAYS", "36501"),
            ("SOFT_DELETE_RETENTION_DAYS", "999999999999"),
            ("SOFT_DELETE_RETENTION_DAYS", "18446744073709551615"),
            ("SOFT_DELETE_RETENTION_DAYS", "18446744073709551616"),
            ("SOFT_DELETE_RETENTION_DAYS", "-1"),
            ("MAX_FACE_IMAGE_BYTES", "18446744073709551615"),
            ("MAX_FACE_IDENTIFIERS_PER_USER", "9223372036854775807"),
            ("DEADLINE_MARGIN_MS", "900001"),
            ("DEFAULT_BUDGET_MS", "18446744073709551615"),
            ("MAX_ITEMS_PER_REQUEST", "18446744073709551616"),
        ] {
            let mut v = vars(&base);
            v.insert(bad.0.into(), bad.1.into());
            let e = Config::from_vars(&v).unwrap_err().to_string();
            assert!(e.contains(bad.0), "{e}");
        }
        let short = vars(&[("TABLE_NAME", "t"), ("AUTH_JWT_SECRET", "short")]);
        assert!(Config::from_vars(&short).is_err());
    }

    #[test]
    fn the_largest_accepted_numbers_still_compute() {
        let mut v = vars(&[("TABLE_NAME", "t"), ("AUTH_JWT_SECRET", "0123456789abcdef")]);
        for (name, value) in [
            ("SOFT_DELETE_RETENTION_DAYS", "36500"),
            ("DEADLINE_MARGIN_MS", "900000"),
            ("DEFAULT_BUDGET_MS", "900000"),
            ("MAX_FACE_IDENTIFIERS_PER_USER", "0"),
            ("MAX_FACE_IMAGE_BYTES", "18446744073709551615"),
            ("MAX_BODY_BYTES", "18446744073709551615"),
        ] {
            v.insert(name.into(), value.into());
        }
        let c = Config::from_vars(&v).unwrap();
        assert_eq!(
            c.soft_delete_retention,
            Duration::from_secs(36_500 * 86_400)
        );
        assert_eq!(c.default_budget, Duration::from_secs(900));
    }
}
