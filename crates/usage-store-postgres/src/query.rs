//! The read path: current usage, bucketed history, per-request totals; what each returns is
//! the SQLite backend's (`usage-store-sqlite/src/query.rs`). Sums are taken in micro-units and
//! converted once, so totals are exact.

use crate::error::Fail;
use crate::write::load_quota;
use postgres::GenericClient;
use postgres::types::Type;
use std::collections::BTreeMap;
use usage_store::model::{check_name, check_ts, micros_to_units};
use usage_store::{
    BucketSize, HistoryBucket, HistoryPage, HistoryQuery, ModuleTotal, QuotaPeriod, RequestUsage,
    Usage,
};

/// Totals by module for the tenant's current quota period (the calendar month without a
/// quota). The quota and the sums must come from one snapshot (the caller's `read_tx`).
pub(crate) fn usage(db: &mut impl GenericClient, tenant: &str, at_ms: i64) -> Result<Usage, Fail> {
    check_name("tenant", tenant)?;
    check_ts("at_ms", at_ms)?;
    let quota = load_quota(db, tenant)?;
    let period = quota.map_or(QuotaPeriod::Month, |(q, _)| q.period);
    let window = period.window(at_ms);
    let rows = db.query_typed(
        "SELECT module, SUM(micro_units)::BIGINT, SUM(events)::BIGINT FROM usage_daily
         WHERE tenant = $1 AND bucket_ms >= $2 AND bucket_ms < $3
         GROUP BY module ORDER BY module",
        &[
            (&tenant, Type::TEXT),
            (&window.start_ms, Type::INT8),
            (&window.end_ms, Type::INT8),
        ],
    )?;
    let (by_module, total, events) = module_totals(&rows);
    Ok(Usage {
        tenant: tenant.to_owned(),
        window,
        run_units: micros_to_units(total),
        events,
        by_module,
        quota: quota.map(|(q, _)| q),
        state: quota.map(|(q, limit)| q.state(limit, total)),
    })
}

/// Rows of `(module, micro-units, events)` as totals per module, and their sums.
fn module_totals(rows: &[postgres::Row]) -> (BTreeMap<String, ModuleTotal>, i64, u64) {
    let mut by_module = BTreeMap::new();
    let (mut total, mut events) = (0i64, 0u64);
    for row in rows {
        let (module, micros, n): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        total += micros;
        events += n as u64;
        by_module.insert(
            module,
            ModuleTotal {
                run_units: micros_to_units(micros),
                events: n as u64,
            },
        );
    }
    (by_module, total, events)
}

/// One page of the tenant's bucketed history (see [`HistoryQuery`] for the range rules).
pub(crate) fn history(db: &mut impl GenericClient, q: &HistoryQuery) -> Result<HistoryPage, Fail> {
    let range = q.range()?;
    let limit = range.limit as usize;
    let table = match q.bucket {
        BucketSize::Hour => "usage_hourly",
        BucketSize::Day => "usage_daily",
    };
    // Only the rows of the page's buckets and of the one after it (whose start is the next
    // cursor) are read, however long the range.
    let rows = db.query_typed(
        &format!(
            "WITH page AS (
                 SELECT DISTINCT bucket_ms FROM {table}
                 WHERE tenant = $1 AND bucket_ms >= $2 AND bucket_ms < $3
                 ORDER BY bucket_ms LIMIT $4
             )
             SELECT t.bucket_ms, t.module, t.micro_units, t.events
             FROM {table} t JOIN page USING (bucket_ms)
             WHERE t.tenant = $1
             ORDER BY t.bucket_ms, t.module"
        ),
        &[
            (&q.tenant, Type::TEXT),
            (&range.start_ms, Type::INT8),
            (&range.to_ms, Type::INT8),
            (&(limit as i64 + 1), Type::INT8),
        ],
    )?;
    let mut buckets: Vec<(HistoryBucket, i64)> = Vec::new();
    let mut next_cursor = None;
    for row in &rows {
        let (bucket_ms, module, micros, n): (i64, String, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if buckets.last().is_none_or(|(b, _)| b.start_ms != bucket_ms) {
            if buckets.len() == limit {
                next_cursor = Some(bucket_ms);
                break;
            }
            buckets.push((
                HistoryBucket {
                    start_ms: bucket_ms,
                    end_ms: bucket_ms + q.bucket.len_ms(),
                    run_units: 0.0,
                    events: 0,
                    by_module: BTreeMap::new(),
                },
                0,
            ));
        }
        let (bucket, total) = buckets.last_mut().expect("pushed above");
        *total += micros;
        bucket.events += n as u64;
        bucket.by_module.insert(
            module,
            ModuleTotal {
                run_units: micros_to_units(micros),
                events: n as u64,
            },
        );
    }
    Ok(HistoryPage {
        tenant: q.tenant.clone(),
        bucket: q.bucket,
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        buckets: buckets
            .into_iter()
            .map(|(mut b, total)| {
                b.run_units = micros_to_units(total);
                b
            })
            .collect(),
        next_cursor,
    })
}

/// All metered run-units of one request, or `None` if nothing was metered for it.
pub(crate) fn request_usage(
    db: &mut impl GenericClient,
    request_id: &str,
) -> Result<Option<RequestUsage>, Fail> {
    check_name("request_id", request_id)?;
    let rows = db.query_typed(
        "SELECT module, SUM(micro_units)::BIGINT, COUNT(*) FROM meter_events
         WHERE request_id = $1 GROUP BY module ORDER BY module",
        &[(&request_id, Type::TEXT)],
    )?;
    let (by_module, total, events) = module_totals(&rows);
    if events == 0 {
        return Ok(None);
    }
    Ok(Some(RequestUsage {
        request_id: request_id.to_owned(),
        run_units: micros_to_units(total),
        events,
        by_module,
    }))
}
