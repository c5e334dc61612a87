//! The median every figure of the report uses, and the formatting of the figures.

use std::cmp::Ordering;
use std::time::Duration;

/// A figure the report takes medians of: times, ratios, request counts, memory.
pub trait Sample: Copy + PartialOrd {
    /// The median of no samples.
    const ZERO: Self;
    /// The mean of two samples (the median of an even count).
    fn mean(a: Self, b: Self) -> Self;
}

impl Sample for Duration {
    const ZERO: Self = Duration::ZERO;
    fn mean(a: Self, b: Self) -> Self {
        (a + b) / 2
    }
}

impl Sample for f64 {
    const ZERO: Self = 0.0;
    fn mean(a: Self, b: Self) -> Self {
        (a + b) / 2.0
    }
}

impl Sample for u64 {
    const ZERO: Self = 0;
    fn mean(a: Self, b: Self) -> Self {
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    }
}

/// The median (the mean of the middle two for an even count); zero for no samples.
pub fn median<T: Sample>(samples: &[T]) -> T {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    match s.len() {
        0 => T::ZERO,
        n if n % 2 == 1 => s[n / 2],
        n => T::mean(s[n / 2 - 1], s[n / 2]),
    }
}

/// The `q` quantile (0 to 1) by nearest rank: the smallest sample with at least `q` of
/// the samples at or below it (with 10 samples the 99th percentile is the largest);
/// zero for no samples.
pub fn percentile(samples: &[Duration], q: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q.clamp(0.0, 1.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", millis(d))
}

/// Milliseconds.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `a / b`, or 0 when `b` is zero.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        0.0
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

/// Items per second.
pub fn rate(items: usize, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        items as f64 / d.as_secs_f64()
    }
}

/// kB (as /proc reports, i.e. KiB) to MiB with one decimal.
pub fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_sample_or_the_mean_of_the_middle_two() {
        let d = Duration::from_millis;
        assert_eq!(median::<Duration>(&[]), Duration::ZERO);
        assert_eq!(median(&[d(5), d(1), d(3)]), d(3));
        assert_eq!(
            median(&[d(4), d(1), d(2), d(3)]),
            Duration::from_micros(2500)
        );
        assert_eq!(median(&[1.2, 0.9, 1.0]), 1.0);
        assert_eq!(median(&[1.0, 2.0]), 1.5);
        assert_eq!(median::<f64>(&[]), 0.0);
        assert_eq!(median(&[7_u64, 3, 5]), 5);
        assert_eq!(median(&[u64::MAX, u64::MAX]), u64::MAX);
        assert_eq!(median(&[10_u64, 13]), 11);
    }

    #[test]
    fn a_percentile_is_the_nearest_rank() {
        let d = Duration::from_millis;
        let ten: Vec<Duration> = (1..=10).rev().map(d).collect();
        assert_eq!(percentile(&ten, 0.5), d(5));
        assert_eq!(percentile(&ten, 0.99), d(10));
        assert_eq!(percentile(&ten, 0.0), d(1));
        let hundred: Vec<Duration> = (1..=100).map(d).collect();
        assert_eq!(percentile(&hundred, 0.99), d(99));
        assert_eq!(percentile(&hundred, 0.5), d(50));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }
}
