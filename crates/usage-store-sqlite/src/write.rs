//! The write path: one metering event inside an open write transaction (idempotency check,
//! quota check, append, roll-ups), and the quota table's rows.
//!
//! Every function here runs inside a `BEGIN IMMEDIATE` transaction opened by the caller, so the
//! reads they make (is the key known? how much of the quota is used?) cannot be invalidated by
//! another writer before the transaction's own writes commit.

use crate::error::Fail;
use rusqlite::{Connection, OptionalExtension, params};
use usage_store::model::micros_to_units;
use usage_store::{
    BucketSize, MeterOutcome, PeriodWindow, Quota, QuotaKind, QuotaPeriod, UsageError, ValidEvent,
};

/// Meters one validated event. On `Err` the caller must roll the transaction back.
pub(crate) fn meter_one(
    tx: &Connection,
    valid: &ValidEvent<'_>,
    recorded_ms: i64,
) -> Result<MeterOutcome, Fail> {
    let ev = valid.event;
    if let Some(outcome) = existing(tx, valid)? {
        return Ok(outcome);
    }
    let mut overage_micros = 0;
    let mut overage_window = None;
    if let Some((quota, limit)) = load_quota(tx, &ev.tenant)? {
        let window = quota.period.window(ev.timestamp_ms);
        let used = period_used(tx, &ev.tenant, window)?;
        let after = used + valid.micros;
        if after > limit {
            match quota.kind {
                QuotaKind::Hard => {
                    return Err(UsageError::QuotaExhausted {
                        tenant: ev.tenant.clone(),
                        limit: micros_to_units(limit),
                        used: micros_to_units(used),
                        requested: micros_to_units(valid.micros),
                        period_end_ms: window.end_ms,
                    }
                    .into());
                }
                QuotaKind::Soft => {
                    // Only the part of this event beyond the limit is its overage; the part
                    // before it was already counted against earlier events.
                    overage_micros = valid.micros.min(after - limit);
                    overage_window = Some((window, limit));
                }
            }
        }
    }
    tx.prepare_cached(
        "INSERT INTO meter_events
            (tenant, idempotency_key, request_id, module, tool, micro_units, ts_ms, recorded_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        ev.tenant,
        ev.idempotency_key,
        ev.request_id,
        ev.module,
        ev.tool,
        valid.micros,
        ev.timestamp_ms,
        recorded_ms
    ])?;
    let event_id = tx.last_insert_rowid();
    for (table, size) in [
        ("usage_hourly", BucketSize::Hour),
        ("usage_daily", BucketSize::Day),
    ] {
        tx.prepare_cached(&format!(
            "INSERT INTO {table} (tenant, bucket_ms, module, micro_units, events)
             VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT (tenant, bucket_ms, module) DO UPDATE SET
                micro_units = micro_units + excluded.micro_units,
                events = events + 1"
        ))?
        .execute(params![
            ev.tenant,
            size.floor(ev.timestamp_ms),
            ev.module,
            valid.micros
        ])?;
    }
    if let Some((window, limit)) = overage_window.filter(|_| overage_micros > 0) {
        tx.prepare_cached(
            "INSERT INTO quota_overages (event_id, tenant, period_start_ms, limit_micro, over_micro)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![event_id, ev.tenant, window.start_ms, limit, overage_micros])?;
    }
    Ok(MeterOutcome::Recorded {
        event_id,
        run_units: micros_to_units(valid.micros),
        overage: micros_to_units(overage_micros),
    })
}

/// `Some(Duplicate)` if the key was used for the same event, an error if for another one.
fn existing(tx: &Connection, valid: &ValidEvent<'_>) -> Result<Option<MeterOutcome>, Fail> {
    let ev = valid.event;
    let row = tx
        .prepare_cached(
            "SELECT id, request_id, module, tool, micro_units, ts_ms FROM meter_events
             WHERE tenant = ?1 AND idempotency_key = ?2",
        )?
        .query_row(params![ev.tenant, ev.idempotency_key], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    let Some((event_id, request_id, module, tool, micros, ts_ms)) = row else {
        return Ok(None);
    };
    let same = request_id == ev.request_id
        && module == ev.module
        && tool == ev.tool
        && micros == valid.micros
        && ts_ms == ev.timestamp_ms;
    if same {
        Ok(Some(MeterOutcome::Duplicate { event_id }))
    } else {
        Err(UsageError::IdempotencyConflict {
            tenant: ev.tenant.clone(),
            idempotency_key: ev.idempotency_key.clone(),
        }
        .into())
    }
}

/// Micro-units the tenant has metered in `window` (exact: integer sum of daily roll-ups, and a
/// quota period is always a whole number of days).
pub(crate) fn period_used(
    conn: &Connection,
    tenant: &str,
    window: PeriodWindow,
) -> Result<i64, Fail> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(micro_units), 0) FROM usage_daily
             WHERE tenant = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3",
        )?
        .query_row(params![tenant, window.start_ms, window.end_ms], |r| {
            r.get(0)
        })?)
}

/// The tenant's quota and its limit in micro-units.
pub(crate) fn load_quota(conn: &Connection, tenant: &str) -> Result<Option<(Quota, i64)>, Fail> {
    let row = conn
        .prepare_cached("SELECT limit_micro, period, kind FROM quotas WHERE tenant = ?1")?
        .query_row([tenant], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((limit, period, kind)) = row else {
        return Ok(None);
    };
    // The CHECK constraints make any other spelling impossible short of a hand-edited file.
    let period = if period == "day" {
        QuotaPeriod::Day
    } else {
        QuotaPeriod::Month
    };
    let kind = if kind == "hard" {
        QuotaKind::Hard
    } else {
        QuotaKind::Soft
    };
    let quota = Quota {
        limit: micros_to_units(limit),
        period,
        kind,
    };
    Ok(Some((quota, limit)))
}

/// Inserts or replaces the tenant's quota. Not retroactive: usage already recorded stays.
pub(crate) fn store_quota(
    tx: &Connection,
    tenant: &str,
    quota: &Quota,
    limit_micros: i64,
    now_ms: i64,
) -> Result<(), Fail> {
    let period = match quota.period {
        QuotaPeriod::Day => "day",
        QuotaPeriod::Month => "month",
    };
    let kind = match quota.kind {
        QuotaKind::Hard => "hard",
        QuotaKind::Soft => "soft",
    };
    tx.execute(
        "INSERT INTO quotas (tenant, limit_micro, period, kind, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant) DO UPDATE SET
            limit_micro = excluded.limit_micro, period = excluded.period,
            kind = excluded.kind, updated_ms = excluded.updated_ms",
        params![tenant, limit_micros, period, kind, now_ms],
    )?;
    Ok(())
}
