//! A batch of metering events in a fixed number of statements, whatever its size: what it
//! needs is read in three (the stored keys of its idempotency keys, the rows of the keys
//! already stored, the quotas and period sums of its tenants), every event is decided in input
//! order in memory, and the new keys, events, roll-ups and overages are written with one
//! multi-row `INSERT` each (`unnest` of one array per column).
//!
//! The outcome is exactly that of metering the events one by one with [`crate::write`]'s
//! `meter_one` in one transaction (the conformance check
//! `a_batch_meters_as_its_events_one_by_one` compares the two): an event whose key the store
//! or an earlier event of the batch holds is a `Duplicate` of that event, or an
//! `IdempotencyConflict` if its content differs; a quota counts every event recorded before it,
//! the batch's own included; the first error in input order fails the batch and nothing is
//! written. Event ids rise in input order. Metered one by one, a batch cost about five round
//! trips an event: 1,562 events/s filling a log of 1M events in the `backends` bench; set-based,
//! 68,381/s in the same bench (SQLite 167,043/s).
//!
//! Runs, like every write, after the caller holds the lock of every tenant of the batch, so
//! what is read stays true until the writes commit.

use crate::error::Fail;
use crate::write::quota_from_row;
use postgres::Transaction;
use postgres::types::Type;
use std::collections::{BTreeMap, HashMap, HashSet};
use usage_store::model::micros_to_units;
use usage_store::{BucketSize, MeterEvent, MeterOutcome, Quota, QuotaKind, UsageError, ValidEvent};

/// What a key already names: its event id and, unless retention dropped it, the event.
struct KnownKey {
    event_id: EventId,
    /// request id, module, tool, micro-units, timestamp; `None` once the row was dropped.
    content: Option<(String, String, String, i64, i64)>,
}

/// An event's id: stored, or the position among the batch's new events (ids are drawn once
/// every event is decided).
#[derive(Clone, Copy)]
enum EventId {
    Stored(i64),
    New(usize),
}

/// An event's outcome before the new events have ids.
enum Pending {
    Recorded(usize),
    Duplicate(EventId),
}

/// A new event: its index in the batch and its overage in micro-units.
struct NewEvent {
    index: usize,
    overage_micros: i64,
    /// The quota period start and limit, when the event went over a soft quota.
    overage_period: Option<(i64, i64)>,
}

/// Meters `valid` (already validated, in input order) recorded at `recorded_ms`. On `Err` the
/// caller must roll the transaction back.
pub(crate) fn meter_batch(
    tx: &mut Transaction<'_>,
    valid: &[ValidEvent<'_>],
    recorded_ms: i64,
) -> Result<Vec<MeterOutcome>, Fail> {
    if valid.is_empty() {
        return Ok(Vec::new());
    }
    let mut known = stored_keys(tx, valid)?;
    let quotas = quotas(tx, valid)?;
    let mut used = period_sums(tx, valid, &quotas, &known)?;

    let mut new_events: Vec<NewEvent> = Vec::new();
    let mut outcomes: Vec<Pending> = Vec::with_capacity(valid.len());
    for (index, v) in valid.iter().enumerate() {
        let ev = v.event;
        let key = (ev.tenant.clone(), ev.idempotency_key.clone());
        if let Some(stored) = known.get(&key) {
            if let Some((request_id, module, tool, micros, ts_ms)) = &stored.content {
                let same = *request_id == ev.request_id
                    && *module == ev.module
                    && *tool == ev.tool
                    && *micros == v.micros
                    && *ts_ms == ev.timestamp_ms;
                if !same {
                    return Err(UsageError::IdempotencyConflict {
                        tenant: ev.tenant.clone(),
                        idempotency_key: ev.idempotency_key.clone(),
                    }
                    .into());
                }
            }
            outcomes.push(Pending::Duplicate(stored.event_id));
            continue;
        }
        let mut overage_micros = 0;
        let mut overage_period = None;
        if let Some((quota, limit)) = quotas.get(&ev.tenant) {
            let window = quota.period.window(ev.timestamp_ms);
            let used = used
                .get_mut(&(ev.tenant.clone(), window.start_ms))
                .expect("period_sums read every window of a quota'd tenant's new events");
            let after = *used + v.micros;
            if after > *limit {
                match quota.kind {
                    QuotaKind::Hard => {
                        return Err(UsageError::QuotaExhausted {
                            tenant: ev.tenant.clone(),
                            limit: micros_to_units(*limit),
                            used: micros_to_units(*used),
                            requested: micros_to_units(v.micros),
                            period_end_ms: window.end_ms,
                        }
                        .into());
                    }
                    QuotaKind::Soft => {
                        overage_micros = v.micros.min(after - limit);
                        overage_period = Some((window.start_ms, *limit));
                    }
                }
            }
            *used = after;
        }
        let n = new_events.len();
        new_events.push(NewEvent {
            index,
            overage_micros,
            overage_period,
        });
        known.insert(
            key,
            KnownKey {
                event_id: EventId::New(n),
                content: Some((
                    ev.request_id.clone(),
                    ev.module.clone(),
                    ev.tool.clone(),
                    v.micros,
                    ev.timestamp_ms,
                )),
            },
        );
        outcomes.push(Pending::Recorded(n));
    }

    let ids = draw_ids(tx, new_events.len())?;
    write_events(tx, valid, &new_events, &ids, recorded_ms)?;
    let id = |event: EventId| match event {
        EventId::Stored(id) => id,
        EventId::New(n) => ids[n],
    };
    Ok(outcomes
        .into_iter()
        .map(|pending| match pending {
            Pending::Duplicate(event) => MeterOutcome::Duplicate {
                event_id: id(event),
            },
            Pending::Recorded(n) => MeterOutcome::Recorded {
                event_id: ids[n],
                run_units: micros_to_units(valid[new_events[n].index].micros),
                overage: micros_to_units(new_events[n].overage_micros),
            },
        })
        .collect())
}

/// The keys of the batch the store already holds, with their events (a second statement, only
/// when there are some: retries are rare, and joining the keys to the log would plan every
/// partition of the log).
fn stored_keys(
    tx: &mut Transaction<'_>,
    valid: &[ValidEvent<'_>],
) -> Result<HashMap<(String, String), KnownKey>, Fail> {
    // Each key once: a key repeated in the batch would otherwise come back once per repeat.
    let (tenants, keys): (Vec<&str>, Vec<&str>) = valid
        .iter()
        .map(|v| (v.event.tenant.as_str(), v.event.idempotency_key.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .unzip();
    let rows = tx.query_typed(
        "SELECT k.tenant, k.idempotency_key, k.event_id, k.recorded_ms
         FROM meter_keys k
         JOIN unnest($1::text[], $2::text[]) AS w (tenant, idempotency_key)
           ON k.tenant = w.tenant AND k.idempotency_key = w.idempotency_key",
        &[(&tenants, Type::TEXT_ARRAY), (&keys, Type::TEXT_ARRAY)],
    )?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let (ids, months): (Vec<i64>, Vec<i64>) = rows
        .iter()
        .map(|r| (r.get::<_, i64>(2), r.get::<_, i64>(3)))
        .unzip();
    let mut contents: HashMap<i64, _> = tx
        .query_typed(
            "SELECT e.id, e.request_id, e.module, e.tool, e.micro_units, e.ts_ms
             FROM unnest($1::bigint[], $2::bigint[]) AS w (id, recorded_ms)
             JOIN meter_events e ON e.id = w.id AND e.recorded_ms = w.recorded_ms",
            &[(&ids, Type::INT8_ARRAY), (&months, Type::INT8_ARRAY)],
        )?
        .iter()
        .map(|r| {
            (
                r.get::<_, i64>(0),
                (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)),
            )
        })
        .collect();
    Ok(rows
        .iter()
        .map(|r| {
            let event_id: i64 = r.get(2);
            (
                (r.get(0), r.get(1)),
                KnownKey {
                    event_id: EventId::Stored(event_id),
                    content: contents.remove(&event_id),
                },
            )
        })
        .collect())
}

/// The quotas of the batch's tenants (with their limits in micro-units).
fn quotas(
    tx: &mut Transaction<'_>,
    valid: &[ValidEvent<'_>],
) -> Result<HashMap<String, (Quota, i64)>, Fail> {
    let mut tenants: Vec<&str> = valid.iter().map(|v| v.event.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    Ok(tx
        .query_typed(
            "SELECT tenant, limit_micro, period, kind FROM quotas WHERE tenant = ANY($1)",
            &[(&tenants, Type::TEXT_ARRAY)],
        )?
        .iter()
        .map(|r| (r.get(0), quota_from_row(r, 1)))
        .collect())
}

/// The micro-units already metered in every quota period that a new event of the batch falls
/// in, by tenant and period start (integer sums of the daily roll-ups, as `period_used`).
fn period_sums(
    tx: &mut Transaction<'_>,
    valid: &[ValidEvent<'_>],
    quotas: &HashMap<String, (Quota, i64)>,
    known: &HashMap<(String, String), KnownKey>,
) -> Result<HashMap<(String, i64), i64>, Fail> {
    let mut windows = BTreeMap::new();
    for v in valid {
        let ev = v.event;
        let Some((quota, _)) = quotas.get(&ev.tenant) else {
            continue;
        };
        if known.contains_key(&(ev.tenant.clone(), ev.idempotency_key.clone())) {
            continue;
        }
        let window = quota.period.window(ev.timestamp_ms);
        windows.insert((ev.tenant.as_str(), window.start_ms), window.end_ms);
    }
    if windows.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tenants = Vec::with_capacity(windows.len());
    let mut starts = Vec::with_capacity(windows.len());
    let mut ends = Vec::with_capacity(windows.len());
    for ((tenant, start), end) in windows {
        tenants.push(tenant);
        starts.push(start);
        ends.push(end);
    }
    // SUM of BIGINT is NUMERIC; the sums stay far inside BIGINT (see `period_used`).
    Ok(tx
        .query_typed(
            "SELECT w.tenant, w.start_ms,
                    COALESCE((SELECT SUM(d.micro_units) FROM usage_daily d
                              WHERE d.tenant = w.tenant
                                AND d.bucket_ms >= w.start_ms AND d.bucket_ms < w.end_ms),
                             0)::BIGINT
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS w (tenant, start_ms, end_ms)",
            &[
                (&tenants, Type::TEXT_ARRAY),
                (&starts, Type::INT8_ARRAY),
                (&ends, Type::INT8_ARRAY),
            ],
        )?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// `n` new event ids from the log's sequence, ascending (so ids rise in input order; other
/// replicas may draw between them, as between two single meters).
fn draw_ids(tx: &mut Transaction<'_>, n: usize) -> Result<Vec<i64>, Fail> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let count = i64::try_from(n).expect("a batch is at most MAX_BATCH_EVENTS");
    let mut ids: Vec<i64> = tx
        .query_typed(
            "SELECT nextval('meter_event_ids') FROM generate_series(1, $1::bigint)",
            &[(&count, Type::INT8)],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Writes the new events: their keys, the events, both roll-ups and the overages, one
/// statement each. Keys first: should a key be taken after all (a writer that skipped the
/// tenant's lock), its primary key fails the batch before any event is written.
fn write_events(
    tx: &mut Transaction<'_>,
    valid: &[ValidEvent<'_>],
    new_events: &[NewEvent],
    ids: &[i64],
    recorded_ms: i64,
) -> Result<(), Fail> {
    if new_events.is_empty() {
        return Ok(());
    }
    let events: Vec<&ValidEvent<'_>> = new_events.iter().map(|n| &valid[n.index]).collect();
    let column = |f: for<'e> fn(&'e MeterEvent) -> &'e str| -> Vec<&str> {
        events.iter().map(|v| f(v.event)).collect()
    };
    let tenant = column(|e| &e.tenant);
    let key = column(|e| &e.idempotency_key);
    tx.execute_typed(
        "INSERT INTO meter_keys (tenant, idempotency_key, event_id, recorded_ms)
         SELECT *, $4 FROM unnest($1::text[], $2::text[], $3::bigint[])",
        &[
            (&tenant, Type::TEXT_ARRAY),
            (&key, Type::TEXT_ARRAY),
            (&ids, Type::INT8_ARRAY),
            (&recorded_ms, Type::INT8),
        ],
    )?;
    let micros: Vec<i64> = events.iter().map(|v| v.micros).collect();
    let ts: Vec<i64> = events.iter().map(|v| v.event.timestamp_ms).collect();
    tx.execute_typed(
        "INSERT INTO meter_events
            (id, tenant, idempotency_key, request_id, module, tool, micro_units, ts_ms, recorded_ms)
         SELECT *, $9 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
             $6::text[], $7::bigint[], $8::bigint[])",
        &[
            (&ids, Type::INT8_ARRAY),
            (&tenant, Type::TEXT_ARRAY),
            (&key, Type::TEXT_ARRAY),
            (&column(|e| &e.request_id), Type::TEXT_ARRAY),
            (&column(|e| &e.module), Type::TEXT_ARRAY),
            (&column(|e| &e.tool), Type::TEXT_ARRAY),
            (&micros, Type::INT8_ARRAY),
            (&ts, Type::INT8_ARRAY),
            (&recorded_ms, Type::INT8),
        ],
    )?;
    for (table, size) in [
        ("usage_hourly", BucketSize::Hour),
        ("usage_daily", BucketSize::Day),
    ] {
        roll_up(tx, table, size, &events)?;
    }
    let over: Vec<(i64, &str, i64, i64, i64)> = new_events
        .iter()
        .zip(ids)
        .filter_map(|(new, id)| {
            let (start, limit) = new.overage_period?;
            (new.overage_micros > 0).then(|| {
                let tenant = valid[new.index].event.tenant.as_str();
                (*id, tenant, start, limit, new.overage_micros)
            })
        })
        .collect();
    if !over.is_empty() {
        tx.execute_typed(
            "INSERT INTO quota_overages (event_id, tenant, period_start_ms, limit_micro, over_micro)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
                 $5::bigint[])",
            &[
                (&over.iter().map(|o| o.0).collect::<Vec<_>>(), Type::INT8_ARRAY),
                (&over.iter().map(|o| o.1).collect::<Vec<_>>(), Type::TEXT_ARRAY),
                (&over.iter().map(|o| o.2).collect::<Vec<_>>(), Type::INT8_ARRAY),
                (&over.iter().map(|o| o.3).collect::<Vec<_>>(), Type::INT8_ARRAY),
                (&over.iter().map(|o| o.4).collect::<Vec<_>>(), Type::INT8_ARRAY),
            ],
        )?;
    }
    Ok(())
}

/// Adds `events` to the roll-up `table`: summed per bucket in memory first (one upsert may not
/// touch a row twice), then one upsert.
fn roll_up(
    tx: &mut Transaction<'_>,
    table: &str,
    size: BucketSize,
    events: &[&ValidEvent<'_>],
) -> Result<(), Fail> {
    let mut buckets: BTreeMap<(&str, i64, &str), (i64, i64)> = BTreeMap::new();
    for v in events {
        let bucket = buckets
            .entry((
                &v.event.tenant,
                size.floor(v.event.timestamp_ms),
                &v.event.module,
            ))
            .or_default();
        bucket.0 += v.micros;
        bucket.1 += 1;
    }
    let mut tenant = Vec::with_capacity(buckets.len());
    let mut bucket_ms = Vec::with_capacity(buckets.len());
    let mut module = Vec::with_capacity(buckets.len());
    let mut micros = Vec::with_capacity(buckets.len());
    let mut count = Vec::with_capacity(buckets.len());
    for ((t, b, m), (units, n)) in buckets {
        tenant.push(t);
        bucket_ms.push(b);
        module.push(m);
        micros.push(units);
        count.push(n);
    }
    tx.execute_typed(
        &format!(
            "INSERT INTO {table} (tenant, bucket_ms, module, micro_units, events)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[],
                 $5::bigint[])
             ON CONFLICT (tenant, bucket_ms, module) DO UPDATE SET
                micro_units = {table}.micro_units + excluded.micro_units,
                events = {table}.events + excluded.events"
        ),
        &[
            (&tenant, Type::TEXT_ARRAY),
            (&bucket_ms, Type::INT8_ARRAY),
            (&module, Type::TEXT_ARRAY),
            (&micros, Type::INT8_ARRAY),
            (&count, Type::INT8_ARRAY),
        ],
    )?;
    Ok(())
}
