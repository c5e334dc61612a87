//! The invocation's time budget and the backoff used when DynamoDB asks us to slow down.
//!
//! A Lambda function that overruns its timeout is killed mid-write and the client sees a
//! 502/504 with no per-item answer. Every retry loop therefore checks a [`Deadline`] (the
//! Lambda deadline minus a margin) and stops in time to report what is left as failed.

use std::time::Duration;

use tokio::time::Instant;

/// The moment by which work must stop so the answer can still be sent.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Instant,
    /// When the answer must be out (the end of the budget); `at` is earlier by the
    /// answer's reserve.
    answer_by: Instant,
}

impl Deadline {
    /// A deadline `budget` from now (a budget beyond what the clock can hold is cut to a
    /// year: the invocation ends long before either).
    pub fn after(budget: Duration) -> Self {
        const YEAR: Duration = Duration::from_secs(365 * 86_400);
        let now = Instant::now();
        let at = now
            .checked_add(budget)
            .unwrap_or_else(|| now + budget.min(YEAR));
        Self { at, answer_by: at }
    }

    /// The Lambda deadline (milliseconds since the Unix epoch, as the runtime reports it)
    /// minus `margin`; a deadline already past yields an expired budget.
    pub fn from_epoch_millis(deadline_ms: u64, margin: Duration) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Self::after(left.saturating_sub(margin))
    }

    /// When an invocation's work must stop: the Lambda deadline (`deadline_ms`, Unix
    /// milliseconds, as the runtime reports it) minus `margin` — or, when the value is not
    /// a plausible epoch time (`cargo lambda watch` sends its timeout, e.g. `600000`, in
    /// that header) or absent (0), `default_budget` from now — minus the
    /// [`answer_reserve`] of that budget, so that the answer is built and sent before the
    /// budget ends, not after.
    pub fn for_invocation(deadline_ms: u64, margin: Duration, default_budget: Duration) -> Self {
        /// 2001-09-09 in Unix milliseconds: anything earlier is not an epoch time.
        const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
        let budget = if deadline_ms >= PLAUSIBLE_EPOCH_MS {
            Self::from_epoch_millis(deadline_ms, margin).remaining()
        } else {
            default_budget
        };
        let mut d = Self::after(budget.saturating_sub(answer_reserve(budget)));
        d.answer_by = d.at + answer_reserve(budget);
        d
    }

    /// The deadline for the last requests made while answering (recording the answer
    /// of an `Idempotency-Key`): half of the reserve kept after `self` for the answer.
    pub fn for_answer(&self) -> Self {
        let half = self.answer_by.saturating_duration_since(self.at) / 2;
        let at = self.at.max(Instant::now()) + half;
        let at = at.min(self.answer_by);
        Self {
            at,
            answer_by: self.answer_by,
        }
    }

    /// Time left.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }
}

/// The part of a budget kept for building and sending the answer once work stops: a
/// twentieth of it, at most 250 ms (rendering a thousand results takes a few ms; the rest
/// absorbs a busy scheduler).
pub fn answer_reserve(budget: Duration) -> Duration {
    (budget / 20).min(Duration::from_millis(250))
}

/// Capped exponential backoff with full jitter (sleep a random time in
/// `[0, min(cap, base * 2^attempt))`), the scheme AWS recommends for throttled batches:
/// it spreads retries of concurrent callers instead of synchronising them.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(25), Duration::from_secs(2))
    }
}

impl Backoff {
    /// A backoff starting at `base`, never sleeping more than `cap` at once.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The upper bound of the next sleep.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Retries made so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Sleeps before the next retry. Returns `false`, without sleeping, when the sleep
    /// would end past `deadline`: the caller must then give up and report.
    pub async fn wait(&mut self, deadline: &Deadline) -> bool {
        let ceiling = self.ceiling();
        let sleep = ceiling.mul_f64(fastrand::f64());
        self.attempt = self.attempt.saturating_add(1);
        if sleep >= deadline.remaining() {
            return false;
        }
        tokio::time::sleep(sleep).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_grows_then_caps() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(b.ceiling().as_millis());
            b.attempt += 1;
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 100, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_sleeps_within_budget_and_refuses_past_it() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(10));
        assert!(b.wait(&Deadline::after(Duration::from_secs(60))).await);
        assert_eq!(b.attempts(), 1);
        assert!(!b.wait(&Deadline::after(Duration::ZERO)).await);
        assert_eq!(b.attempts(), 2);
    }

    #[test]
    fn implausible_deadlines_fall_back_to_the_default_budget() {
        let d = Deadline::for_invocation(600_000, Duration::ZERO, Duration::from_secs(30));
        assert!(d.remaining() > Duration::from_secs(29));
        let d = Deadline::for_invocation(0, Duration::ZERO, Duration::from_secs(5));
        assert!(d.remaining() <= Duration::from_secs(5) && !d.expired());
    }

    #[test]
    fn work_stops_before_the_budget_ends_to_leave_time_for_the_answer() {
        let d = Deadline::for_invocation(0, Duration::ZERO, Duration::from_secs(2));
        assert!(d.remaining() <= Duration::from_millis(1900));
        assert!(d.remaining() > Duration::from_millis(1800));
        let d = Deadline::for_invocation(0, Duration::ZERO, Duration::from_secs(25));
        assert!(d.remaining() <= Duration::from_millis(24_750));
        assert_eq!(answer_reserve(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn huge_budgets_and_deadlines_do_not_overflow_the_clock() {
        assert!(!Deadline::after(Duration::MAX).expired());
        assert!(!Deadline::for_invocation(u64::MAX, Duration::ZERO, Duration::MAX).expired());
        assert!(!Deadline::for_invocation(0, Duration::MAX, Duration::MAX).expired());
        assert!(!Deadline::after(Duration::MAX).for_answer().expired());
    }

    #[test]
    fn lambda_deadline_in_the_past_is_expired() {
        let d = Deadline::from_epoch_millis(1_000, Duration::from_millis(10));
        assert!(d.expired());
    }
}
