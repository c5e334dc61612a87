//! Which answers are retried, and how long to wait.
//!
//! - **Retried** (the same request, the same `Idempotency-Key`): transport errors
//!   (connect, reset, timeout), 408, 409 (the same key's first request is still running:
//!   the contract says "try again later"), 429 and every 5xx (the server answers 503 with
//!   `Retry-After: 5` when DynamoDB was unavailable and nothing was applied).
//! - **Stop everything**: 401 and 403 (the token is not accepted; nothing will work).
//! - **Refused**: any other status (400, 404, 413, 415, 422, ...): reported for every item
//!   of the request, not retried.
//!
//! The wait before retry `n` (0-based) is a jittered exponential backoff, "equal jitter":
//! uniformly between half and all of `min(cap, base * 2^n)` (base 200 ms, cap 20 s), and
//! never less than the server's `Retry-After` (whole seconds; capped at two minutes).

use std::time::Duration;

/// What to do with an HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: the answer.
    Success,
    /// Send the same request again after a wait.
    Retry,
    /// 401/403: stop the run.
    Auth,
    /// Any other status: the request's items fail.
    Refused,
}

/// Classifies an HTTP status.
pub fn classify(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        401 | 403 => StatusClass::Auth,
        408 | 409 | 429 | 500..=599 => StatusClass::Retry,
        _ => StatusClass::Refused,
    }
}

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Reads a `Retry-After` value in seconds (the HTTP-date form is not used by this API
/// and is ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait's ceiling.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
    /// Retries after the first attempt (and re-sends of `not_processed` items).
    pub max_retries: u32,
}

impl RetryPolicy {
    /// The documented policy with `max_retries`.
    pub fn new(max_retries: u32) -> Self {
        Self {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
            max_retries,
        }
    }

    /// The ceiling of wait `attempt`: `min(cap, base * 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `attempt`, jittered, at least `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jittered = half + Duration::from_millis(fastrand::u64(0..=jitter_ms));
        match retry_after {
            Some(after) => jittered.max(after),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_documented() {
        for s in [200, 201, 204] {
            assert_eq!(classify(s), StatusClass::Success, "{s}");
        }
        for s in [408, 409, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), StatusClass::Retry, "{s}");
        }
        for s in [401, 403] {
            assert_eq!(classify(s), StatusClass::Auth, "{s}");
        }
        for s in [400, 404, 405, 413, 415, 422] {
            assert_eq!(classify(s), StatusClass::Refused, "{s}");
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_and_capped() {
        assert_eq!(parse_retry_after("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("100000"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = RetryPolicy::new(8);
        assert_eq!(p.ceiling(0), Duration::from_millis(200));
        assert_eq!(p.ceiling(1), Duration::from_millis(400));
        assert_eq!(p.ceiling(5), Duration::from_millis(6400));
        assert_eq!(p.ceiling(7), Duration::from_secs(20));
        assert_eq!(p.ceiling(40), Duration::from_secs(20));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(20));
        for attempt in 0..40 {
            for _ in 0..20 {
                let d = p.delay(attempt, None);
                assert!(d <= p.ceiling(attempt), "{attempt}: {d:?}");
                assert!(d >= p.ceiling(attempt) / 2, "{attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn retry_after_is_a_floor_for_the_wait() {
        let p = RetryPolicy::new(8);
        assert!(p.delay(0, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert!(p.delay(9, Some(Duration::from_secs(1))) >= Duration::from_secs(10));
    }
}
