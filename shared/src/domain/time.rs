//! Instants: what a client sends as a time and what is stored.

use std::fmt;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::domain::json::{BodyError, FromJson, JsonPath};

/// An instant, stored as a fixed-width UTC RFC 3339 string with milliseconds
/// (`2026-02-04T01:49:44.209Z`) so that string order is time order in DynamoDB.
///
/// Only instants in the years 0000 to 9999 (UTC) exist as values of this type: that is
/// what RFC 3339 can write and what keeps the stored form fixed-width. Every constructor
/// returns `None` outside that range instead of overflowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// The years a [`Timestamp`] may fall in (UTC).
pub const TIMESTAMP_YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc())
    }

    /// `t` in UTC, when it falls in [`TIMESTAMP_YEARS`].
    fn in_range(t: OffsetDateTime) -> Option<Self> {
        let utc = t.checked_to_offset(UtcOffset::UTC)?;
        TIMESTAMP_YEARS.contains(&utc.year()).then_some(Self(utc))
    }

    /// Reads an RFC 3339 date-time with any offset.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .and_then(Self::in_range)
    }

    /// Seconds since the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .and_then(Self::in_range)
    }

    /// The stored form; see the type's documentation.
    pub fn to_db_string(&self) -> String {
        let t = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }

    /// This instant moved back by `d`; `None` when that leaves [`TIMESTAMP_YEARS`] (a
    /// `now-<n>d` filter bound or a retention from client or configuration input).
    pub fn checked_sub(&self, d: std::time::Duration) -> Option<Self> {
        let d = time::Duration::try_from(d).ok()?;
        self.0.checked_sub(d).and_then(Self::in_range)
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_db_string())
    }
}

impl FromJson for Timestamp {
    fn from_json(value: &Value, path: &JsonPath) -> Result<Self, BodyError> {
        value
            .as_str()
            .and_then(Timestamp::parse_rfc3339)
            .ok_or_else(|| BodyError::WrongType(path.clone()))
    }
}
