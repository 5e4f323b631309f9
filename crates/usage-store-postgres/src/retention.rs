//! Retention of the event log: [`PostgresUsageStore::drop_events_before`] drops whole months of
//! `meter_events` and then forgets their idempotency keys. The rule, stated once here:
//!
//! * **What goes.** Every monthly partition of `meter_events` whose month ends at or before the
//!   cut (`to_ms <= cut_ms`), dropped in one transaction (`DROP TABLE`: no row-by-row delete,
//!   nothing left to vacuum). Months are months of *recording* (`recorded_ms`, the store's
//!   time), not of the event's `ts_ms`: a late event recorded today stays as long as today's
//!   month. A cut inside a month keeps that whole month: only whole partitions go, and every
//!   event recorded from [`EventRetention::kept_from_ms`] (the first instant of the cut's
//!   month) on is kept. Then the keys (`meter_keys`) of events recorded before `kept_from_ms`
//!   are deleted, [`KEY_CHUNK`] per transaction, so no transaction holds many row locks long.
//! * **What stays exact.** `usage_hourly`, `usage_daily`, `quotas` and `quota_overages` are
//!   never touched. Usage, history, anything billed from them, and the quota check (a sum of
//!   `usage_daily`) answer the same after retention as before, for every period.
//! * **What is lost.** The per-event rows: `request_usage` / `request_total` of a request whose
//!   events were dropped (nothing, or only the part recorded later), and the per-event audit
//!   (which key, tool and time each event had). A `quota_overages` row keeps its `event_id`,
//!   which then names no row.
//! * **Retries of dropped events.** Until its key is forgotten, a retry of a dropped event is
//!   a `Duplicate` of its id, whatever it carries (there is no row to compare it with). Once
//!   the key is forgotten, a retry is recorded as a new event and counted again. Retention
//!   windows are months and retries minutes, so a cut months back never meets a retry.
//!
//! A cut in the future is refused: it could drop the month being written. The key step is
//! re-runnable: if it is interrupted, running retention again with the same cut finishes it.

use crate::error::{Fail, kit, storage};
use crate::{EVENTS, PostgresUsageStore};
use postgres::GenericClient;
use postgres::types::Type;
use postgres_kit::partitions::{self, Partition};
use usage_store::UsageError;
use usage_store::model::check_ts;

/// How many idempotency keys one transaction of retention deletes.
pub const KEY_CHUNK: i64 = 10_000;

/// One month of the event log that retention dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedPartition {
    /// The partition's table name.
    pub name: String,
    /// The first instant of its month (`recorded_ms`, included).
    pub from_ms: i64,
    /// The first instant of the next month (excluded).
    pub to_ms: i64,
    /// How many events it held when it was dropped.
    pub events: u64,
}

/// What [`PostgresUsageStore::drop_events_before`] removed, and from when everything is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRetention {
    /// The partitions dropped, oldest first (none if no month ended before the cut).
    pub partitions: Vec<DroppedPartition>,
    /// The events they held.
    pub events_dropped: u64,
    /// The idempotency keys deleted (those of the dropped events, and of events an earlier,
    /// interrupted run dropped).
    pub keys_forgotten: u64,
    /// Every event recorded at or after this instant (the first of the cut's month) is kept.
    pub kept_from_ms: i64,
}

impl PostgresUsageStore {
    /// Drops every month of the event log that ends at or before `cut_ms`, then forgets the
    /// idempotency keys of the dropped events. The roll-ups, quotas and soft-quota audit are
    /// never touched: usage, history and quota checks stay exact. A cut inside a month keeps
    /// that month. What is lost (per-event rows: request totals and the per-event audit of
    /// those events; after the keys go, a retry of such an old key counts as a new event) is
    /// the rule in [`crate::retention`].
    ///
    /// `cut_ms` must be a valid time no later than the store's clock, else
    /// `UsageError::InvalidInput`.
    pub fn drop_events_before(&self, cut_ms: i64) -> Result<EventRetention, UsageError> {
        check_ts("cut_ms", cut_ms)?;
        let now = self.now_ms();
        if cut_ms > now {
            return Err(UsageError::invalid(
                "cut_ms",
                format!("{cut_ms} is in the future (now {now}); retention drops only the past"),
            ));
        }
        let kept_from_ms = partitions::month_start_ms(cut_ms)
            .ok_or_else(|| UsageError::invalid("cut_ms", "outside the calendar"))?;
        let mut conn = self.pool.get().map_err(kit)?;
        let dropped = postgres_kit::write_tx(&mut conn, |tx| drop_months(tx, cut_ms))?;
        // Months this handle made may be gone now; other handles find out on their next
        // write to one (see `write_events`), which only a cut in the future could cause.
        self.partitions.forget();
        let keys_forgotten = forget_keys(&mut *conn, kept_from_ms)?;
        Ok(EventRetention {
            events_dropped: dropped.iter().map(|p| p.events).sum(),
            partitions: dropped,
            keys_forgotten,
            kept_from_ms,
        })
    }
}

/// Counts the events of each month ending by `cut_ms`, then drops those months, in the
/// caller's transaction.
fn drop_months(
    tx: &mut postgres::Transaction<'_>,
    cut_ms: i64,
) -> Result<Vec<DroppedPartition>, Fail> {
    let doomed: Vec<Partition> = partitions::list(tx, EVENTS)?
        .into_iter()
        .filter(|p| p.to_ms <= cut_ms)
        .collect();
    let mut counted = Vec::with_capacity(doomed.len());
    for partition in &doomed {
        // The name came from the catalogue; quoting keeps it one identifier whatever it is.
        let quoted = partition.name.replace('"', "\"\"");
        let events: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM \"{quoted}\""), &[])?
            .get(0);
        counted.push(DroppedPartition {
            name: partition.name.clone(),
            from_ms: partition.from_ms,
            to_ms: partition.to_ms,
            events: events as u64,
        });
    }
    let dropped = partitions::drop_before(tx, EVENTS, cut_ms)?;
    // A partition of an old month made between the listing and the drop (a replica whose
    // clock is months behind) would be dropped uncounted: refuse, and roll everything back.
    if dropped != doomed {
        return Err(UsageError::Storage(
            "the event log's partitions changed while retention counted them; nothing was dropped"
                .into(),
        )
        .into());
    }
    Ok(counted)
}

/// Deletes the keys of events recorded before `before_ms`, [`KEY_CHUNK`] per transaction.
///
/// Every partition below `before_ms` (the first instant of the cut's month) has just been
/// dropped, so no key below it names a row; a bound of the months dropped by *this* run would
/// leave the keys of an interrupted earlier run behind. Keys are never updated, so a chunk
/// chosen by `ctid` is deleted exactly.
fn forget_keys(client: &mut impl GenericClient, before_ms: i64) -> Result<u64, UsageError> {
    let mut forgotten = 0;
    loop {
        let deleted = client
            .execute_typed(
                "DELETE FROM meter_keys WHERE ctid = ANY(ARRAY(
                     SELECT ctid FROM meter_keys WHERE recorded_ms < $1 LIMIT $2))",
                &[(&before_ms, Type::INT8), (&KEY_CHUNK, Type::INT8)],
            )
            .map_err(storage)?;
        forgotten += deleted;
        if deleted < KEY_CHUNK as u64 {
            return Ok(forgotten);
        }
    }
}
