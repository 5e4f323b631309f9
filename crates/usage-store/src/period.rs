//! UTC calendar arithmetic on Unix milliseconds: hour and day buckets, day and month quota
//! periods. Pure, no clock, no I/O. UTC hours and days have fixed lengths, so buckets are
//! plain arithmetic; months come from jiff's proleptic Gregorian calendar (which is also what
//! a quota period in a tenant's time zone would need).
//!
//! Every hour bucket lies inside one day and every day inside one month, so a bucket never
//! straddles a quota-period edge: summing day buckets gives a month exactly.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a (UTC, leap-second-free) day.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// First instant this crate refuses: 10000-01-01T00:00:00Z. Keeps all arithmetic far from
/// overflow and every timestamp printable as a four-digit year.
pub const MAX_TS_MS: i64 = 253_402_300_800_000;

/// The length of a quota period: a UTC calendar day or a UTC calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaPeriod {
    /// From 00:00:00.000 UTC to the next midnight.
    Day,
    /// From the first of the month, 00:00 UTC, to the first of the next month.
    Month,
}

/// The size of a history bucket, aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketSize {
    /// One clock hour, `[hh:00, hh+1:00)`.
    Hour,
    /// One UTC calendar day.
    Day,
}

impl BucketSize {
    /// The bucket's length in milliseconds.
    pub fn len_ms(self) -> i64 {
        match self {
            Self::Hour => HOUR_MS,
            Self::Day => DAY_MS,
        }
    }

    /// Start of the bucket holding `ts_ms`.
    pub fn floor(self, ts_ms: i64) -> i64 {
        ts_ms - ts_ms.rem_euclid(self.len_ms())
    }

    /// Smallest bucket start `>= ts_ms`.
    pub fn ceil(self, ts_ms: i64) -> i64 {
        let floor = self.floor(ts_ms);
        if floor == ts_ms {
            floor
        } else {
            floor + self.len_ms()
        }
    }
}

/// One concrete quota period: `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodWindow {
    /// Day or month.
    pub period: QuotaPeriod,
    /// First millisecond of the period.
    pub start_ms: i64,
    /// First millisecond after the period.
    pub end_ms: i64,
}

impl QuotaPeriod {
    /// The period of this kind that contains `ts_ms`, which validation keeps in
    /// `[0, MAX_TS_MS)` (an instant outside is taken as the nearest one inside).
    pub fn window(self, ts_ms: i64) -> PeriodWindow {
        let day = ts_ms.clamp(0, MAX_TS_MS - 1).div_euclid(DAY_MS);
        let (start_day, end_day) = match self {
            Self::Day => (day, day + 1),
            Self::Month => {
                let first = date_of_day(day).first_of_month();
                // The month after December 9999 is past jiff's calendar: it starts at
                // MAX_TS_MS, the first instant this crate refuses.
                let next = first
                    .checked_add(1.month())
                    .map_or(MAX_TS_MS / DAY_MS, day_of_date);
                (day_of_date(first), next)
            }
        };
        PeriodWindow {
            period: self,
            start_ms: start_day * DAY_MS,
            end_ms: end_day * DAY_MS,
        }
    }
}

/// 1970-01-01, day 0 of Unix time.
const EPOCH: Date = Date::constant(1970, 1, 1);

/// The UTC date of a day count since 1970-01-01 (a day of `[0, MAX_TS_MS)`).
fn date_of_day(day: i64) -> Date {
    EPOCH
        .checked_add(day.days())
        .expect("days of [0, MAX_TS_MS) are dates of jiff's calendar")
}

/// Days since 1970-01-01 of a date.
fn day_of_date(date: Date) -> i64 {
    let span = EPOCH
        .until(date)
        .expect("the days between two dates of jiff's calendar fit a span");
    i64::from(span.get_days())
}

/// Unix milliseconds of midnight UTC starting a date (a test and fixture helper: quota periods
/// and buckets in tests are written as dates).
pub fn utc_midnight_ms(year: i16, month: i8, day: i8) -> i64 {
    day_of_date(Date::new(year, month, day).expect("a valid date")) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(utc_midnight_ms(1970, 1, 1), 0);
        assert_eq!(utc_midnight_ms(2000, 2, 29), 951_782_400_000);
        // 2024 is a leap year: February has 29 days; 2100 is not.
        let feb = QuotaPeriod::Month.window(utc_midnight_ms(2024, 2, 10));
        assert_eq!((feb.end_ms - feb.start_ms) / DAY_MS, 29);
        let feb = QuotaPeriod::Month.window(utc_midnight_ms(2100, 2, 10));
        assert_eq!((feb.end_ms - feb.start_ms) / DAY_MS, 28);
        let dec = QuotaPeriod::Month.window(utc_midnight_ms(2025, 12, 31) + 5);
        assert_eq!(dec.end_ms, utc_midnight_ms(2026, 1, 1));
        // The last month this crate accepts ends where it stops accepting instants.
        let last = QuotaPeriod::Month.window(MAX_TS_MS - 1);
        assert_eq!(
            (last.start_ms, last.end_ms),
            (utc_midnight_ms(9999, 12, 1), MAX_TS_MS)
        );
        assert_eq!(MAX_TS_MS, utc_midnight_ms(9999, 12, 31) + DAY_MS);
    }

    proptest! {
        #[test]
        fn month_window_holds_its_instant_and_starts_on_the_first(ts in 0..MAX_TS_MS) {
            let w = QuotaPeriod::Month.window(ts);
            prop_assert!(w.start_ms <= ts && ts < w.end_ms);
            prop_assert_eq!(date_of_day(w.start_ms / DAY_MS).day(), 1);
            if w.end_ms < MAX_TS_MS {
                prop_assert_eq!(date_of_day(w.end_ms / DAY_MS).day(), 1);
            }
            let days = (w.end_ms - w.start_ms) / DAY_MS;
            prop_assert!((28..=31).contains(&days));
        }

        #[test]
        fn buckets_nest_inside_periods(ts in 0..MAX_TS_MS) {
            let day = QuotaPeriod::Day.window(ts);
            let month = QuotaPeriod::Month.window(ts);
            let hour = BucketSize::Hour.floor(ts);
            prop_assert!(day.start_ms <= hour && hour + HOUR_MS <= day.end_ms);
            prop_assert!(month.start_ms <= day.start_ms && day.end_ms <= month.end_ms);
            prop_assert_eq!(BucketSize::Day.floor(ts), day.start_ms);
        }

        #[test]
        fn day_counts_round_trip_through_dates(z in 0..MAX_TS_MS / DAY_MS) {
            prop_assert_eq!(day_of_date(date_of_day(z)), z);
        }

        /// The month window agrees with Howard Hinnant's civil-from-days algorithm, which
        /// this module used before jiff (kept here as the independent check).
        #[test]
        fn month_windows_agree_with_hinnant(ts in 0..MAX_TS_MS) {
            let day = ts.div_euclid(DAY_MS);
            let (y, m, _) = hinnant::civil_from_days(day);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let w = QuotaPeriod::Month.window(ts);
            prop_assert_eq!(w.start_ms, hinnant::days_from_civil(y, m, 1) * DAY_MS);
            prop_assert_eq!(w.end_ms, hinnant::days_from_civil(ny, nm, 1) * DAY_MS);
        }
    }

    /// Howard Hinnant's days-from-civil algorithms, the independent oracle of the tests.
    mod hinnant {
        pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y - era * 400;
            let m = i64::from(m);
            let mp = if m > 2 { m - 3 } else { m + 9 };
            let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            era * 146_097 + doe - 719_468
        }

        pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
            let z = z + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
            let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
            (yoe + era * 400 + i64::from(m <= 2), m, d)
        }
    }
}
