//! The user filter of the delete by filter (docs/contracts.md#delete-by-filter): thirteen
//! query parameters combined with AND, parsed from a query string (or a saved filter of
//! the scheduled clean-up) into a [`Filter`].
//!
//! What a filter means for stored users (where its candidates come from, whether a user
//! read matches, the condition each delete carries) is the filter delete's, in
//! `service::filter_plan`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::num::IntErrorKind;
use std::time::Duration;

use uuid::Uuid;

use crate::domain::{LinkId, Timestamp, UserName};

/// The parameters the delete by filter's contract names, in its order.
pub const PARAMETERS: [&str; 13] = [
    "active",
    "create_time_gt",
    "create_time_lt",
    "email",
    "is_online",
    "last_login_time_gt",
    "last_login_time_lt",
    "login_ip",
    "name",
    "role_id",
    "user_id",
    "user_id_in",
    "user_type",
];

/// Parameters that are not filters.
pub const DRY_RUN: &str = "dry_run";

/// A filter on live users; every field set must hold (AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// `active`.
    pub active: Option<bool>,
    /// `create_time_gt` (exclusive).
    pub create_time_gt: Option<Timestamp>,
    /// `create_time_lt` (exclusive).
    pub create_time_lt: Option<Timestamp>,
    /// `email`, exact.
    pub email: Option<String>,
    /// `is_online`.
    pub is_online: Option<bool>,
    /// `last_login_time_gt` (exclusive; users that never logged in do not match).
    pub last_login_time_gt: Option<Timestamp>,
    /// `last_login_time_lt` (exclusive; users that never logged in do not match).
    pub last_login_time_lt: Option<Timestamp>,
    /// `login_ip`, compared in canonical form.
    pub login_ip: Option<IpAddr>,
    /// `name`, exact.
    pub name: Option<String>,
    /// `role_id`, exact.
    pub role_id: Option<String>,
    /// `user_id`: one user.
    pub user_id: Option<LinkId>,
    /// `user_id_in`: any of these users.
    pub user_id_in: Option<Vec<LinkId>>,
    /// `user_type`, exact.
    pub user_type: Option<String>,
}

/// A parsed filter request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterRequest {
    /// What to match.
    pub filter: Filter,
    /// Answer what would be deleted and delete nothing.
    pub dry_run: bool,
}

/// Why a filter request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// No filter parameter at all: never "delete everyone".
    #[error("At least one filter parameter is required")]
    NoFilter,
    /// A parameter this endpoint does not know.
    #[error("Unknown parameter `{0}`")]
    Unknown(String),
    /// A value that does not parse, or a parameter given twice.
    #[error("Invalid value for parameter `{param}`: {expected}")]
    Invalid {
        /// The parameter.
        param: String,
        /// What was expected.
        expected: &'static str,
    },
}

const BOOL: &str = "expected true or false";
const TIME: &str = "expected an RFC 3339 date-time, Unix seconds, or now-<n><s|m|h|d>";
const TIME_RANGE: &str = "expected a time between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z";
const NAME: &str = "expected a user name: 1 to 256 characters, no control characters";
const UUID: &str = "expected a UUID";
const UUID_LIST: &str = "expected comma-separated UUIDs";
const TEXT: &str = "expected a non-empty value of at most 1024 characters";
const IP: &str = "expected an IPv4 or IPv6 address";
const ONCE: &str = "given more than once";

/// A refusal of `param`'s value, saying what was `expected`.
pub fn invalid(param: &str, expected: &'static str) -> FilterError {
    FilterError::Invalid {
        param: param.to_owned(),
        expected,
    }
}

impl FilterRequest {
    /// Parses query parameters (already percent-decoded). `max_ids` bounds `user_id_in`;
    /// relative times (`now-30d`) are taken from `now`.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: Timestamp,
        max_ids: usize,
    ) -> Result<Self, FilterError> {
        let mut dry_run = None;
        let filter = Filter::parse_with(pairs, now, max_ids, |key, value| {
            if key != DRY_RUN {
                return Ok(false);
            }
            dry_run = Some(boolean(key, value.trim())?);
            Ok(true)
        })?;
        if filter == Filter::default() {
            return Err(FilterError::NoFilter);
        }
        Ok(Self {
            filter,
            dry_run: dry_run.unwrap_or(false),
        })
    }
}

impl Filter {
    /// Parses the filter parameters among query parameters (already percent-decoded);
    /// `other` is offered every parameter that is not a filter first and answers whether
    /// it took it (a parameter nobody takes is [`FilterError::Unknown`]). No parameter
    /// may be given twice, but `user_id_in`, whose lists add up. An empty filter is not
    /// an error here.
    pub fn parse_with<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: Timestamp,
        max_ids: usize,
        mut other: impl FnMut(&str, &str) -> Result<bool, FilterError>,
    ) -> Result<Self, FilterError> {
        let mut f = Filter::default();
        let mut seen = BTreeSet::new();
        for (key, value) in pairs {
            if key != "user_id_in" && !seen.insert(key.to_owned()) {
                return Err(invalid(key, ONCE));
            }
            if !PARAMETERS.contains(&key) {
                if other(key, value)? {
                    continue;
                }
                return Err(FilterError::Unknown(key.to_owned()));
            }
            let value = value.trim();
            match key {
                "active" => f.active = Some(boolean(key, value)?),
                "is_online" => f.is_online = Some(boolean(key, value)?),
                "create_time_gt" => f.create_time_gt = Some(time(key, value, now)?),
                "create_time_lt" => f.create_time_lt = Some(time(key, value, now)?),
                "last_login_time_gt" => f.last_login_time_gt = Some(time(key, value, now)?),
                "last_login_time_lt" => f.last_login_time_lt = Some(time(key, value, now)?),
                "email" => f.email = Some(text(key, value)?),
                "name" => {
                    let name = UserName::parse(value).ok_or_else(|| invalid(key, NAME))?;
                    f.name = Some(name.as_str().to_owned());
                }
                "role_id" => f.role_id = Some(text(key, value)?),
                "user_type" => f.user_type = Some(text(key, value)?),
                "login_ip" => f.login_ip = Some(value.parse().map_err(|_| invalid(key, IP))?),
                "user_id" => {
                    let id = Uuid::try_parse(value).map_err(|_| invalid(key, UUID))?;
                    f.user_id = Some(id.into());
                }
                _ => {
                    let list = f.user_id_in.get_or_insert_with(Vec::new);
                    for part in value.split(',').map(str::trim) {
                        let id = Uuid::try_parse(part).map_err(|_| invalid(key, UUID_LIST))?;
                        list.push(id.into());
                    }
                    if list.len() > max_ids {
                        return Err(invalid(key, "too many ids"));
                    }
                }
            }
        }
        Ok(f)
    }
}

/// `true`/`1` or `false`/`0`, in any case.
pub fn boolean(param: &str, v: &str) -> Result<bool, FilterError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid(param, BOOL)),
    }
}

fn text(param: &str, v: &str) -> Result<String, FilterError> {
    let ok = !v.is_empty() && v.chars().count() <= crate::domain::MAX_TEXT_CHARS;
    ok.then(|| v.to_owned()).ok_or_else(|| invalid(param, TEXT))
}

/// RFC 3339, Unix seconds, or `now-<n><unit>` (s, m, h, d) for saved filters.
///
/// A well-formed value whose time falls outside the years 0000 to 9999 (`now-999999999999d`,
/// Unix seconds past 9999) is refused with [`TIME_RANGE`]; nothing here can overflow.
fn time(param: &str, v: &str, now: Timestamp) -> Result<Timestamp, FilterError> {
    let out_of_range = || invalid(param, TIME_RANGE);
    if let Some(rest) = v.strip_prefix("now-") {
        let Some(unit) = rest.chars().last() else {
            return Err(invalid(param, TIME));
        };
        let digits = &rest[..rest.len() - unit.len_utf8()];
        let unit_secs: u64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid(param, TIME)),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(param, TIME));
        }
        // Only digits are left: a failure here is a number too large for u64.
        let n: u64 = digits.parse().map_err(|_| out_of_range())?;
        let secs = n.checked_mul(unit_secs).ok_or_else(out_of_range)?;
        return now
            .checked_sub(Duration::from_secs(secs))
            .ok_or_else(out_of_range);
    }
    match v.parse::<i64>() {
        Ok(secs) => return Timestamp::from_unix_seconds(secs).ok_or_else(out_of_range),
        Err(e)
            if matches!(
                e.kind(),
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow
            ) =>
        {
            return Err(out_of_range());
        }
        Err(_) => {}
    }
    Timestamp::parse_rfc3339(v).ok_or_else(|| invalid(param, TIME))
}

/// Reads `key=value&...` (percent-decoded, `+` as space).
/// The SHA-256 of a list of parameters, in order, each length-prefixed so that no two
/// lists give the same bytes: what a listing's cursor is bound to, and the id of a saved
/// filter's clean-up progress.
pub fn pairs_digest<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (k, v) in pairs {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v.as_bytes());
    }
    h.finalize().into()
}

pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap()
    }

    fn parse(q: &str) -> Result<FilterRequest, FilterError> {
        let pairs = query_pairs(q);
        FilterRequest::parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            now(),
            3,
        )
    }

    #[test]
    fn every_parameter_parses() {
        let id = "91c615e3-1040-4815-8ecb-039a18b756b5";
        let q = format!(
            "active=false&create_time_gt=2026-01-01T00:00:00Z&create_time_lt=1767225600&email=a%40b.c\
             &is_online=true&last_login_time_gt=now-30d&last_login_time_lt=now-1h&login_ip=10.0.0.1\
             &name=Ann+Lee&role_id=r&user_id={id}&user_id_in={id},{id}&user_type=visitor&dry_run=1"
        );
        let r = parse(&q).unwrap();
        assert!(r.dry_run);
        let f = r.filter;
        assert_eq!(f.active, Some(false));
        assert_eq!(f.email.as_deref(), Some("a@b.c"));
        assert_eq!(f.name.as_deref(), Some("Ann Lee"));
        assert_eq!(
            f.create_time_lt.unwrap().to_db_string(),
            "2026-01-01T00:00:00.000Z"
        );
        assert_eq!(
            f.last_login_time_gt.unwrap().to_db_string(),
            "2026-05-02T00:00:00.000Z"
        );
        assert_eq!(f.user_id_in.as_ref().unwrap().len(), 2);
        assert_eq!(f.user_id, Some(Uuid::parse_str(id).unwrap().into()));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let cases = [
            ("active=yes", "active", BOOL),
            ("create_time_gt=tomorrow", "create_time_gt", TIME),
            ("last_login_time_lt=now-5y", "last_login_time_lt", TIME),
            ("user_id=123", "user_id", UUID),
            (
                "user_id_in=91c615e3-1040-4815-8ecb-039a18b756b5,x",
                "user_id_in",
                UUID_LIST,
            ),
            ("login_ip=300.1.1.1", "login_ip", IP),
            ("name=", "name", NAME),
            ("name=Ann%0ALee", "name", NAME),
            ("name=%00", "name", NAME),
            ("email=", "email", TEXT),
            ("active=true&active=false", "active", ONCE),
        ];
        for (q, param, expected) in cases {
            assert_eq!(parse(q), Err(invalid(param, expected)), "{q}");
        }
        assert_eq!(
            parse("actve=true"),
            Err(FilterError::Unknown("actve".into()))
        );
        assert_eq!(parse(""), Err(FilterError::NoFilter));
        assert_eq!(parse("dry_run=true"), Err(FilterError::NoFilter));
        let four = "user_id_in=91c615e3-1040-4815-8ecb-039a18b756b1,91c615e3-1040-4815-8ecb-039a18b756b2,\
                    91c615e3-1040-4815-8ecb-039a18b756b3,91c615e3-1040-4815-8ecb-039a18b756b4";
        assert!(matches!(parse(four), Err(FilterError::Invalid { .. })));
    }

    #[test]
    fn times_beyond_the_representable_range_are_invalid_values_not_panics() {
        let cases = [
            (
                "create_time_gt=now-999999999999d",
                "create_time_gt",
                TIME_RANGE,
            ),
            (
                "last_login_time_lt=now-18446744073709551615s",
                "last_login_time_lt",
                TIME_RANGE,
            ),
            (
                "last_login_time_gt=now-18446744073709551616s",
                "last_login_time_gt",
                TIME_RANGE,
            ),
            (
                "create_time_lt=now-3074457345618258h",
                "create_time_lt",
                TIME_RANGE,
            ),
            ("create_time_lt=now-740134d", "create_time_lt", TIME_RANGE),
            (
                "create_time_gt=9223372036854775807",
                "create_time_gt",
                TIME_RANGE,
            ),
            (
                "create_time_gt=-9223372036854775808",
                "create_time_gt",
                TIME_RANGE,
            ),
            (
                "create_time_gt=99999999999999999999",
                "create_time_gt",
                TIME_RANGE,
            ),
            ("create_time_gt=253402300800", "create_time_gt", TIME_RANGE),
            ("create_time_gt=now-", "create_time_gt", TIME),
            ("create_time_gt=now-d", "create_time_gt", TIME),
            ("create_time_gt=now-%2B5d", "create_time_gt", TIME),
            ("create_time_gt=now-5%C3%A9", "create_time_gt", TIME),
            ("create_time_gt=now-%C3%A9", "create_time_gt", TIME),
            (
                "create_time_gt=9999-12-31T23:00:00-23:59",
                "create_time_gt",
                TIME,
            ),
        ];
        for (q, param, expected) in cases {
            assert_eq!(parse(q), Err(invalid(param, expected)), "{q}");
        }
        let e = parse("create_time_gt=now-999999999999d").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid value for parameter `create_time_gt`: expected a time between \
             0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
        );
        // The edges of the range are fine.
        let f = parse("create_time_gt=now-740133d&create_time_lt=253402300799")
            .unwrap()
            .filter;
        assert_eq!(
            f.create_time_gt.unwrap().to_db_string(),
            "0000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            f.create_time_lt.unwrap().to_db_string(),
            "9999-12-31T23:59:59.000Z"
        );
    }
}
