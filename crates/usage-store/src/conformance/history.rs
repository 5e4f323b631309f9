//! Conformance checks of bucketed history: bucket boundaries (to the millisecond), ranges that
//! start or end inside a bucket, buckets next to a quota-period edge, pagination, and
//! malformed queries.

use super::Opener;
use crate::model::{HistoryPage, HistoryQuery, MeterEvent};
use crate::period::{BucketSize, DAY_MS, HOUR_MS, QuotaPeriod, utc_midnight_ms};
use crate::{UsageBackend, UsageError};
use std::sync::Arc;

/// 2026-02-01T00:00:00Z: a month edge (and so a day and hour edge).
fn feb1() -> i64 {
    utc_midnight_ms(2026, 2, 1)
}

fn ev(key: &str, module: &str, units: f64, ts_ms: i64) -> MeterEvent {
    super::ev("acme", key, module, units, ts_ms)
}

fn query(bucket: BucketSize, from_ms: i64, to_ms: i64) -> HistoryQuery {
    HistoryQuery {
        tenant: "acme".into(),
        bucket,
        from_ms,
        to_ms,
        cursor: None,
        limit: None,
    }
}

/// `(start_ms relative to feb1, run_units, events)` per bucket.
fn rows(page: &HistoryPage) -> Vec<(i64, f64, u64)> {
    page.buckets
        .iter()
        .map(|b| (b.start_ms - feb1(), b.run_units, b.events))
        .collect()
}

fn store_with_edge_events(open: &Opener) -> Arc<dyn UsageBackend> {
    let s = open();
    s.meter_batch(&[
        // The last millisecond of January, and the first of February.
        ev("a", "search", 1.0, feb1() - 1),
        ev("b", "search", 2.0, feb1()),
        ev("c", "code", 4.0, feb1() + HOUR_MS - 1),
        ev("d", "code", 8.0, feb1() + HOUR_MS),
        ev("e", "search", 16.0, feb1() + DAY_MS + 30 * 60_000),
    ])
    .unwrap();
    s
}

/// Hour buckets split at the hour, to the millisecond, with per-module totals.
pub fn hour_buckets_split_exactly_at_the_hour(open: &Opener) {
    let s = store_with_edge_events(open);
    let page = s
        .history(&query(
            BucketSize::Hour,
            feb1() - DAY_MS,
            feb1() + 2 * DAY_MS,
        ))
        .unwrap();
    assert_eq!(
        rows(&page),
        vec![
            (-HOUR_MS, 1.0, 1),
            (0, 6.0, 2),
            (HOUR_MS, 8.0, 1),
            (DAY_MS, 16.0, 1)
        ]
    );
    let search = &page.buckets[1].by_module["search"];
    assert_eq!((search.run_units, search.events), (2.0, 1));
    let code = &page.buckets[1].by_module["code"];
    assert_eq!((code.run_units, code.events), (4.0, 1));
    assert_eq!(page.buckets[1].end_ms - page.buckets[1].start_ms, HOUR_MS);
    assert_eq!(page.next_cursor, None);
}

/// Day buckets split at midnight UTC, and an event belongs to its own month's quota period.
pub fn day_buckets_split_at_the_month_edge_like_the_quota_period(open: &Opener) {
    let s = store_with_edge_events(open);
    let page = s
        .history(&query(
            BucketSize::Day,
            feb1() - DAY_MS,
            feb1() + 2 * DAY_MS,
        ))
        .unwrap();
    assert_eq!(
        rows(&page),
        vec![(-DAY_MS, 1.0, 1), (0, 14.0, 3), (DAY_MS, 16.0, 1)]
    );
    // The January event belongs to January's quota period, not February's.
    assert_eq!(s.usage("acme", feb1()).unwrap().run_units, 30.0);
    assert_eq!(s.usage("acme", feb1() - 1).unwrap().run_units, 1.0);
    let jan = QuotaPeriod::Month.window(feb1() - 1);
    assert_eq!(jan.end_ms, feb1());
}

/// A range is widened to whole buckets; a range ending on a bucket start excludes it.
pub fn a_range_edge_inside_a_bucket_widens_to_the_whole_bucket(open: &Opener) {
    let s = store_with_edge_events(open);
    // From 23:30 on Jan 31 to 00:30 on Feb 2: both end buckets straddle the range's edges.
    let from = feb1() - 30 * 60_000;
    let to = feb1() + DAY_MS + 30 * 60_000;
    let page = s.history(&query(BucketSize::Day, from, to)).unwrap();
    assert_eq!(
        (page.from_ms, page.to_ms),
        (feb1() - DAY_MS, feb1() + 2 * DAY_MS)
    );
    assert_eq!(
        rows(&page),
        vec![(-DAY_MS, 1.0, 1), (0, 14.0, 3), (DAY_MS, 16.0, 1)]
    );
    // A range ending exactly on a bucket start excludes that bucket.
    let page = s
        .history(&query(BucketSize::Day, feb1(), feb1() + DAY_MS))
        .unwrap();
    assert_eq!(rows(&page), vec![(0, 14.0, 3)]);
}

/// Following `next_cursor` visits every non-empty bucket once, in order, `limit` at a time.
pub fn pages_follow_the_cursor_to_the_end(open: &Opener) {
    let s = open();
    // Every other hour of two days has an event: 24 non-empty hour buckets.
    let events: Vec<_> = (0..24)
        .map(|i| {
            ev(
                &format!("k{i}"),
                "m",
                1.0 + i as f64,
                feb1() + 2 * i * HOUR_MS + 5,
            )
        })
        .collect();
    s.meter_batch(&events).unwrap();
    let mut q = query(BucketSize::Hour, feb1(), feb1() + 2 * DAY_MS);
    q.limit = Some(10);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = s.history(&q).unwrap();
        pages += 1;
        assert!(page.buckets.len() <= 10);
        seen.extend(page.buckets.iter().map(|b| b.start_ms));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<_> = (0..24).map(|i| feb1() + 2 * i * HOUR_MS).collect();
    assert_eq!(seen, expected);
}

/// An empty range, a negative start, a zero limit, a cursor off a bucket start or outside the
/// range, and a blank tenant are `InvalidInput` naming the field.
pub fn malformed_queries_are_typed_errors(open: &Opener) {
    let s = store_with_edge_events(open);
    let field = |q: HistoryQuery| match s.history(&q) {
        Err(UsageError::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(field(query(BucketSize::Day, feb1(), feb1())), "to_ms");
    assert_eq!(field(query(BucketSize::Day, -1, feb1())), "from_ms");
    let mut q = query(BucketSize::Day, feb1(), feb1() + DAY_MS);
    q.limit = Some(0);
    assert_eq!(field(q.clone()), "limit");
    q.limit = None;
    q.cursor = Some(feb1() + 1);
    assert_eq!(field(q.clone()), "cursor");
    q.cursor = Some(feb1() + 5 * DAY_MS);
    assert_eq!(field(q.clone()), "cursor");
    q.cursor = None;
    q.tenant = String::new();
    assert_eq!(field(q), "tenant");
}
