//! Virtual time: `Instant` (a point on the simulated clock) and `Duration` (a span), both
//! whole nanoseconds in a `u64`.
//!
//! We own these types instead of borrowing `std::time` so that nothing in a run can reach the
//! wall clock by accident, and so that durations parse and print the way scenarios and traces
//! write them: "150ms", "2s", "1.5us".

use std::fmt;
use std::ops::{Add, AddAssign, Mul, Sub};
use std::str::FromStr;

/// A point in virtual time, in nanoseconds since the start of the run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// A span of virtual time, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

/// Why a duration string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; expected a number with a unit, like \"150ms\"")]
    Empty,
    #[error("negative duration {0:?}; durations are never negative")]
    Negative(String),
    #[error("{0:?} has no unit; expected one of ns, us, ms, s, m, h (e.g. \"150ms\")")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in {text:?}; expected one of ns, us, ms, s, m, h")]
    UnknownUnit { text: String, unit: String },
    #[error("{0:?} is not a number with a unit, like \"1.5s\"")]
    BadNumber(String),
    #[error("{0:?} is finer than one nanosecond")]
    SubNanosecond(String),
    #[error("{0:?} is too long (the limit is about 584 years)")]
    Overflow(String),
}

impl Instant {
    pub const ZERO: Instant = Instant(0);
    pub const MAX: Instant = Instant(u64::MAX);

    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed since the start of the run.
    pub const fn since_start(self) -> Duration {
        Duration(self.0)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    pub const fn saturating_add(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_add(duration.0))
    }

    pub const fn checked_add(self, duration: Duration) -> Option<Instant> {
        match self.0.checked_add(duration.0) {
            Some(nanos) => Some(Instant(nanos)),
            None => None,
        }
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const MAX: Duration = Duration(u64::MAX);
    pub const NANOSECOND: Duration = Duration(1);
    pub const MICROSECOND: Duration = Duration(1_000);
    pub const MILLISECOND: Duration = Duration(1_000_000);
    pub const SECOND: Duration = Duration(1_000_000_000);

    pub const fn from_nanos(nanos: u64) -> Duration {
        Duration(nanos)
    }
    pub const fn from_micros(micros: u64) -> Duration {
        Duration(micros.saturating_mul(1_000))
    }
    pub const fn from_millis(millis: u64) -> Duration {
        Duration(millis.saturating_mul(1_000_000))
    }
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs.saturating_mul(1_000_000_000))
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    pub const fn saturating_add(self, other: Duration) -> Duration {
        Duration(self.0.saturating_add(other.0))
    }
    pub const fn saturating_sub(self, other: Duration) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }
    pub const fn checked_add(self, other: Duration) -> Option<Duration> {
        match self.0.checked_add(other.0) {
            Some(nanos) => Some(Duration(nanos)),
            None => None,
        }
    }
}

/// Shorthand constructors, for tests and examples: `ms(150)`.
pub const fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}
pub const fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Virtual time saturates at `Instant::MAX` ("never") instead of wrapping.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Panics if `rhs` is later: in the engine that would mean time went backwards.
    #[inline]
    fn sub(self, rhs: Instant) -> Duration {
        if rhs.0 > self.0 {
            instant_subtraction_went_negative(self, rhs);
        }
        Duration(self.0 - rhs.0)
    }
}

/// Out of line so the formatting never weighs on the hot callers of `Instant - Instant`.
#[cold]
#[inline(never)]
fn instant_subtraction_went_negative(left: Instant, right: Instant) -> ! {
    panic!("instant subtraction went negative: {left} - {right}")
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        self.saturating_add(rhs)
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

impl Mul<u64> for Duration {
    type Output = Duration;
    fn mul(self, rhs: u64) -> Duration {
        Duration(self.0.saturating_mul(rhs))
    }
}

const UNITS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

impl FromStr for Duration {
    type Err = DurationError;

    /// Parses a decimal number followed by a unit: "150ms", "2s", "1.5us", "0s".
    /// Exact: the number is read as a decimal, never through a float.
    fn from_str(text: &str) -> Result<Duration, DurationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(DurationError::Empty);
        }
        if trimmed.starts_with('-') {
            return Err(DurationError::Negative(text.to_string()));
        }
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| DurationError::MissingUnit(text.to_string()))?;
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim();
        let scale =
            UNITS.iter().find(|(name, _)| *name == unit).map(|(_, scale)| *scale).ok_or_else(
                || DurationError::UnknownUnit { text: text.to_string(), unit: unit.to_string() },
            )?;
        let (whole, fraction) = match number.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (number, ""),
        };
        if (whole.is_empty() && fraction.is_empty())
            || fraction.contains('.')
            || !whole.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DurationError::BadNumber(text.to_string()));
        }
        let overflow = || DurationError::Overflow(text.to_string());
        let whole_value: u64 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| overflow())? };
        let mut nanos = whole_value.checked_mul(scale).ok_or_else(overflow)?;
        // Each fractional digit is worth scale / 10^k nanoseconds; it must divide exactly.
        let mut place = scale;
        for digit in fraction.bytes() {
            let digit = u64::from(digit - b'0');
            if place % 10 != 0 {
                if digit != 0 {
                    return Err(DurationError::SubNanosecond(text.to_string()));
                }
                continue;
            }
            place /= 10;
            nanos = nanos.checked_add(digit * place).ok_or_else(overflow)?;
        }
        Ok(Duration(nanos))
    }
}

impl fmt::Display for Duration {
    /// The largest unit in which the value is at least one, with an exact decimal fraction:
    /// 150ms, 2s, 1.5us, 0s. Parsing the output gives back the same duration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0;
        if nanos == 0 {
            return f.write_str("0s");
        }
        let (unit, scale) = [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)]
            .into_iter()
            .find(|(_, scale)| nanos >= *scale)
            .unwrap_or(("ns", 1));
        write_decimal(f, nanos, scale)?;
        f.write_str(unit)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    /// Seconds with nine decimals, the trace's first column: `0.001000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.0 / 1_000_000_000, self.0 % 1_000_000_000)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Writes `value / scale` as an exact decimal without trailing zeros (scale is a power of 10).
fn write_decimal(f: &mut fmt::Formatter<'_>, value: u64, scale: u64) -> fmt::Result {
    let whole = value / scale;
    let mut fraction = value % scale;
    write!(f, "{whole}")?;
    if fraction == 0 {
        return Ok(());
    }
    let mut digits = scale.ilog10() as usize;
    while fraction.is_multiple_of(10) {
        fraction /= 10;
        digits -= 1;
    }
    write!(f, ".{fraction:0digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the documented spellings parse to exact nanoseconds.
    #[test]
    fn parses_units_and_fractions() {
        let cases = [
            ("150ms", 150_000_000),
            ("2s", 2_000_000_000),
            ("1.5us", 1_500),
            ("1.5µs", 1_500),
            ("10ns", 10),
            ("0s", 0),
            ("1m", 60_000_000_000),
            ("1h", 3_600_000_000_000),
            ("0.001s", 1_000_000),
            (".5s", 500_000_000),
            (" 3 ms ", 3_000_000),
            ("1.000000001s", 1_000_000_001),
        ];
        for (text, nanos) in cases {
            assert_eq!(text.parse::<Duration>(), Ok(Duration(nanos)), "{text}");
        }
    }

    // Proves malformed durations are typed errors, never panics or silent zeros.
    #[test]
    fn rejects_malformed_durations() {
        type IsExpected = fn(&DurationError) -> bool;
        let cases: [(&str, IsExpected); 9] = [
            ("", |e| matches!(e, DurationError::Empty)),
            ("-1s", |e| matches!(e, DurationError::Negative(_))),
            ("100", |e| matches!(e, DurationError::MissingUnit(_))),
            ("5 parsecs", |e| matches!(e, DurationError::UnknownUnit { .. })),
            ("1.2.3s", |e| matches!(e, DurationError::BadNumber(_))),
            ("ms", |e| matches!(e, DurationError::BadNumber(_))),
            ("1.5ns", |e| matches!(e, DurationError::SubNanosecond(_))),
            ("99999999999999999999s", |e| matches!(e, DurationError::Overflow(_))),
            ("6000000h", |e| matches!(e, DurationError::Overflow(_))),
        ];
        for (text, is_expected) in cases {
            let error = text.parse::<Duration>().expect_err(text);
            assert!(is_expected(&error), "{text}: {error:?}");
        }
    }

    // Proves printing picks the natural unit and round-trips through parsing.
    #[test]
    fn prints_in_the_natural_unit_and_round_trips() {
        let cases = [
            (ms(150), "150ms"),
            (secs(2), "2s"),
            (ns(1_500), "1.5us"),
            (ns(0), "0s"),
            (ns(7), "7ns"),
            (ns(1_000_000_001), "1.000000001s"),
            (ms(2_500), "2.5s"),
        ];
        for (duration, text) in cases {
            assert_eq!(duration.to_string(), text);
            assert_eq!(text.parse::<Duration>(), Ok(duration));
        }
        assert_eq!(Instant::from_nanos(1_000_000).to_string(), "0.001000000");
        assert_eq!(Instant::from_nanos(12_345_000_000_001).to_string(), "12345.000000001");
    }

    // Proves arithmetic saturates rather than wrapping around "never".
    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Instant::MAX + ms(1), Instant::MAX);
        assert_eq!(ms(1) - ms(2), Duration::ZERO);
        assert_eq!(Instant::from_nanos(5) - Instant::from_nanos(2), ns(3));
    }
}
