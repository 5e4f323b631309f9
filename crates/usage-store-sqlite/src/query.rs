//! The read path: current usage, bucketed history, per-request totals. Plain functions over a
//! connection, so they run on the store's read connections (or inside a write transaction).

use crate::error::Fail;
use crate::write::load_quota;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use usage_store::model::{check_name, check_ts, micros_to_units};
use usage_store::{
    BucketSize, HistoryBucket, HistoryPage, HistoryQuery, ModuleTotal, QuotaPeriod, RequestUsage,
    Usage,
};

/// Totals by module for the tenant's current quota period (the calendar month without a quota).
pub(crate) fn usage(conn: &Connection, tenant: &str, at_ms: i64) -> Result<Usage, Fail> {
    check_name("tenant", tenant)?;
    check_ts("at_ms", at_ms)?;
    let quota = load_quota(conn, tenant)?;
    let period = quota.map_or(QuotaPeriod::Month, |(q, _)| q.period);
    let window = period.window(at_ms);
    let mut stmt = conn.prepare_cached(
        "SELECT module, SUM(micro_units), SUM(events) FROM usage_daily
         WHERE tenant = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3
         GROUP BY module ORDER BY module",
    )?;
    let mut rows = stmt.query(params![tenant, window.start_ms, window.end_ms])?;
    let mut by_module = BTreeMap::new();
    let (mut total, mut events) = (0i64, 0u64);
    while let Some(row) = rows.next()? {
        let (module, micros, n): (String, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
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

/// One page of the tenant's bucketed history (see [`HistoryQuery`] for the range rules).
pub(crate) fn history(conn: &Connection, q: &HistoryQuery) -> Result<HistoryPage, Fail> {
    let range = q.range()?;
    let limit = range.limit as usize;
    let (from_ms, to_ms, start) = (range.from_ms, range.to_ms, range.start_ms);
    let table = match q.bucket {
        BucketSize::Hour => "usage_hourly",
        BucketSize::Day => "usage_daily",
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT bucket_ms, module, micro_units, events FROM {table}
         WHERE tenant = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3
         ORDER BY bucket_ms, module"
    ))?;
    let mut rows = stmt.query(params![q.tenant, start, to_ms])?;
    let mut buckets: Vec<(HistoryBucket, i64)> = Vec::new();
    let mut next_cursor = None;
    while let Some(row) = rows.next()? {
        let (bucket_ms, module, micros, n): (i64, String, i64, i64) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
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
        from_ms,
        to_ms,
        buckets: buckets
            .into_iter()
            .map(|(mut b, total)| {
                // Summed in micro-units and converted once, so the bucket total is exact.
                b.run_units = micros_to_units(total);
                b
            })
            .collect(),
        next_cursor,
    })
}

/// All metered run-units of one request, or `None` if nothing was metered for it.
pub(crate) fn request_usage(
    conn: &Connection,
    request_id: &str,
) -> Result<Option<RequestUsage>, Fail> {
    check_name("request_id", request_id)?;
    let mut stmt = conn.prepare_cached(
        "SELECT module, SUM(micro_units), COUNT(*) FROM meter_events
         WHERE request_id = ?1 GROUP BY module ORDER BY module",
    )?;
    let mut rows = stmt.query([request_id])?;
    let mut by_module = BTreeMap::new();
    let (mut total, mut events) = (0i64, 0u64);
    while let Some(row) = rows.next()? {
        let (module, micros, n): (String, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
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
