//! Ingest: validate everything first, then in one `BEGIN IMMEDIATE` transaction append each new
//! trajectory and its reward event, and upsert every touched checkpoint once at the end. A
//! single trajectory goes through the group writer instead: its transaction may hold other
//! callers' single ingests, each in its own savepoint, each loading the checkpoints the ones
//! before it saved.
//!
//! # Decisions
//!
//! A trajectory that names a `decision_id` is checked against the decision log inside the same
//! transaction: the decision must exist, be for the trajectory's intent and module set, and not
//! have served another request already. What it served (the budget, the policy's budget,
//! whether the order was explored) is copied into the trajectory's row, so a rebuild replays
//! from the trajectory log alone.
//!
//! # Duplicates and conflicts
//!
//! A request id already in the log is compared with the stored row inside the same write
//! transaction, column by column on the encoded values (intent and module-set ids, the call
//! bytes, the numbers), so the check costs one primary-key read and only on a repeat. Equal
//! content is a `Duplicate` (a retry; nothing changes). Different content is a conflict: a
//! client bug that must not be mistaken for a retry, and the log is append-only, so the first
//! version stays. A conflict anywhere in a batch rolls the whole batch back and every
//! conflicting item is listed, like invalid items.

use crate::{Fail, Store};
use otc_policy::blob;
use otc_policy::state::{CombinationState, Observation};
use otc_policy::trajectory::{ModuleSet, Trajectory, ValidationError};
use policy_store::{BatchReport, IngestOutcome};
use policy_store::{ConflictItem, InvalidItem, PolicyError};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::sync::Arc;

/// Ids created inside the open transaction; they join the shared cache only after commit.
#[derive(Default)]
pub(super) struct NewIds {
    pub intents: HashMap<String, i64>,
    pub sets: HashMap<i64, i64>,
}

pub(super) fn ingest_batch(store: &Store, items: &[Trajectory]) -> Result<BatchReport, Fail> {
    let sets = validated_sets(items)?;
    let mut new_ids = NewIds::default();
    let mut conn = store.writer();
    let report = sqlite_kit::write_tx(&mut conn, |tx| {
        ingest_in(store, tx, items, sets, &mut new_ids)
    })?;
    drop(conn);
    store.remember(new_ids.intents, new_ids.sets);
    Ok(report)
}

/// One trajectory, through the group writer: concurrent single ingests share a commit, each
/// all-or-nothing in its own savepoint.
pub(super) fn ingest_single(store: &Arc<Store>, item: &Trajectory) -> Result<BatchReport, Fail> {
    let job = single_job(store, item)?;
    let (report, new_ids) = store.writer.submit(job)?;
    // Only now committed: the ids may join the shared cache.
    store.remember(new_ids.intents, new_ids.sets);
    Ok(report)
}

/// [`ingest_single`] without blocking the calling thread: the write is queued for the group
/// writer and the future resolves after its commit.
pub(super) fn ingest_single_queued(
    store: &Arc<Store>,
    item: &Trajectory,
) -> impl Future<Output = Result<BatchReport, Fail>> + Send + 'static {
    let queued = single_job(store, item).map(|job| store.writer.submit_async(job));
    let store = Arc::clone(store);
    async move {
        let (report, new_ids) = queued?.await?;
        store.remember(new_ids.intents, new_ids.sets);
        Ok(report)
    }
}

/// The group writer's job for one validated trajectory. It may run on another caller's
/// thread (or the writer's leader thread), so it owns what it needs.
fn single_job(
    store: &Arc<Store>,
    item: &Trajectory,
) -> Result<impl FnMut(&Connection) -> Result<(BatchReport, NewIds), Fail> + Send + 'static, Fail> {
    let sets = validated_sets(std::slice::from_ref(item))?;
    let shared = Arc::clone(store);
    let item = item.clone();
    Ok(move |conn: &Connection| {
        let mut new_ids = NewIds::default();
        let report = ingest_in(
            &shared,
            conn,
            std::slice::from_ref(&item),
            sets.clone(),
            &mut new_ids,
        )?;
        Ok::<_, Fail>((report, new_ids))
    })
}

/// Every item's module set, or every invalid item.
fn validated_sets(items: &[Trajectory]) -> Result<Vec<ModuleSet>, Fail> {
    let now = jiff::Timestamp::now().as_millisecond();
    let mut sets = Vec::with_capacity(items.len());
    let mut invalid = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item.validated_set(now) {
            Ok(set) => sets.push(set),
            Err(err) => invalid.push(InvalidItem::new(index, err)),
        }
    }
    if !invalid.is_empty() {
        return Err(PolicyError::InvalidBatch(invalid).into());
    }
    Ok(sets)
}

/// Appends `items` inside the open write transaction; an error means the caller must roll
/// back.
fn ingest_in(
    store: &Store,
    tx: &Connection,
    items: &[Trajectory],
    sets: Vec<ModuleSet>,
    new_ids: &mut NewIds,
) -> Result<BatchReport, Fail> {
    let mut open: HashMap<(i64, i64), CombinationState> = HashMap::new();
    let mut report = BatchReport {
        accepted: 0,
        duplicates: 0,
        items: Vec::with_capacity(items.len()),
    };
    let mut conflicts = Vec::new();
    let mut invalid = Vec::new();
    for (index, (item, set)) in items.iter().zip(sets).enumerate() {
        // After a conflict the batch will roll back, but the remaining items are still
        // checked so that the error lists every conflicting one.
        match ingest_one(store, tx, &mut open, new_ids, item, set)? {
            Ingested::Invalid(error) => invalid.push(InvalidItem::new(index, error)),
            Ingested::Outcome(outcome) => {
                match outcome {
                    IngestOutcome::Accepted { .. } => report.accepted += 1,
                    IngestOutcome::Duplicate { .. } => report.duplicates += 1,
                }
                report.items.push(outcome);
            }
            Ingested::Conflict(fields) => conflicts.push(ConflictItem {
                index,
                request_id: item.request_id.clone(),
                fields,
            }),
        }
    }
    // Returning an error rolls the transaction back: nothing of the batch is written.
    if !invalid.is_empty() {
        return Err(PolicyError::InvalidBatch(invalid).into());
    }
    if !conflicts.is_empty() {
        return Err(PolicyError::ConflictBatch(conflicts).into());
    }
    for ((intent_id, set_id), state) in &open {
        save_checkpoint(store, tx, *intent_id, *set_id, state)?;
    }
    Ok(report)
}

/// What became of one item inside the batch transaction.
enum Ingested {
    /// Stored, or an identical repeat.
    Outcome(IngestOutcome),
    /// Its request id is stored with different content; these fields differ.
    Conflict(Vec<&'static str>),
    /// It names a decision that cannot be its own.
    Invalid(ValidationError),
}

/// What a logged decision served, as the trajectory's row keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Served {
    pub budget: u32,
    pub policy_budget: u32,
    pub order_explored: bool,
}

/// Bit of `decisions.explored` for a decision that explored the module order.
pub(super) const EXPLORED_ORDER: i64 = 4;

/// Checks the decision a trajectory names; `Ok(Err(_))` when it cannot be this request's.
fn decision_for(
    tx: &Connection,
    item: &Trajectory,
    intent_id: i64,
    set_id: i64,
) -> Result<Result<Option<Served>, ValidationError>, Fail> {
    let Some(id) = item.decision_id else {
        return Ok(Ok(None));
    };
    let Ok(key) = i64::try_from(id) else {
        return Ok(Err(ValidationError::UnknownDecision { id }));
    };
    let row: Option<(i64, i64, u32, u32, i64)> = tx
        .prepare_cached(
            "SELECT intent_id, module_set_id, budget, policy_budget, explored
             FROM decisions WHERE id = ?1",
        )?
        .query_row([key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((d_intent, d_set, budget, policy_budget, explored)) = row else {
        return Ok(Err(ValidationError::UnknownDecision { id }));
    };
    if (d_intent, d_set) != (intent_id, set_id) {
        return Ok(Err(ValidationError::DecisionMismatch { id }));
    }
    let user: Option<String> = tx
        .prepare_cached("SELECT request_id FROM trajectory_log WHERE decision_id = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    if user.is_some_and(|u| u != item.request_id) {
        return Ok(Err(ValidationError::DecisionUsed { id }));
    }
    Ok(Ok(Some(Served {
        budget,
        policy_budget,
        order_explored: explored & EXPLORED_ORDER != 0,
    })))
}

fn ingest_one(
    store: &Store,
    tx: &Connection,
    open: &mut HashMap<(i64, i64), CombinationState>,
    new_ids: &mut NewIds,
    item: &Trajectory,
    set: ModuleSet,
) -> Result<Ingested, Fail> {
    let intent_id = intent_id(store, tx, new_ids, &item.intent)?;
    let set_id = set_id(store, tx, new_ids, &set)?;
    let calls = set.encode_calls(&item.calls)?;
    let served = match decision_for(tx, item, intent_id, set_id)? {
        Ok(served) => served,
        Err(invalid) => return Ok(Ingested::Invalid(invalid)),
    };
    let answered = item
        .answered_by
        .as_deref()
        .and_then(|m| set.index_of(m))
        .and_then(|i| u8::try_from(i).ok());
    let inserted = tx
        .prepare_cached(
            "INSERT INTO trajectory_log (request_id, intent_id, module_set_id, calls, run_units,
                 correct, latency_ms, timestamp_ms, decision_id, served, policy_budget,
                 order_explored, answered, answered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (request_id) DO NOTHING",
        )?
        .execute(params![
            item.request_id,
            intent_id,
            set_id,
            calls,
            item.run_units,
            item.correct,
            item.latency_ms,
            item.timestamp_ms,
            item.decision_id.and_then(|d| i64::try_from(d).ok()),
            served.map(|s| s.budget),
            served.map(|s| s.policy_budget),
            served.map(|s| s.order_explored),
            answered,
            item.answered_at,
        ])?;
    if inserted == 0 {
        let differs = differing_fields(tx, item, intent_id, set_id, &calls, answered)?;
        return Ok(if differs.is_empty() {
            Ingested::Outcome(IngestOutcome::Duplicate {
                request_id: item.request_id.clone(),
            })
        } else {
            Ingested::Conflict(differs)
        });
    }
    let trajectory_id = tx.last_insert_rowid();
    let state = match open.entry((intent_id, set_id)) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(load_checkpoint(tx, intent_id, set_id, &item.intent, &set)?)
        }
    };
    let r_cost = store.config.cost.r_cost(&item.intent, item.run_units)?;
    let score = state.observe(
        &Observation {
            calls: &calls,
            correct: item.correct,
            r_cost,
            timestamp_ms: item.timestamp_ms,
            served: served.map(|s| s.budget),
            policy_budget: served.map(|s| s.policy_budget),
            answered_by: answered,
            answered_at: item.answered_at,
            order_explored: served.is_some_and(|s| s.order_explored),
        },
        &store.config,
    )?;
    tx.prepare_cached(
        "INSERT INTO reward_events (trajectory_id, config_id, n_used, r_tool, r_correctness,
             r_cost, composite)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        trajectory_id,
        store.config_id,
        score.optimal,
        score.r_tool,
        score.r_correctness,
        score.r_cost,
        score.composite
    ])?;
    Ok(Ingested::Outcome(IngestOutcome::Accepted {
        request_id: item.request_id.clone(),
        score,
    }))
}

/// The fields in which `item` differs from the stored trajectory with its request id, compared
/// on the stored encoding: the same module set in another order is the same set (same id), and
/// numbers compare as the `f64`s SQLite returns, which are exactly the ones stored.
fn differing_fields(
    tx: &Connection,
    item: &Trajectory,
    intent_id: i64,
    set_id: i64,
    calls: &[u8],
    answered: Option<u8>,
) -> Result<Vec<&'static str>, Fail> {
    type Stored = (
        i64,
        i64,
        Vec<u8>,
        f64,
        bool,
        f64,
        i64,
        Option<i64>,
        Option<u8>,
        Option<i64>,
    );
    let stored: Stored = tx
        .prepare_cached(
            "SELECT intent_id, module_set_id, calls, run_units, correct, latency_ms, timestamp_ms,
                    decision_id, answered, answered_at
             FROM trajectory_log WHERE request_id = ?1",
        )?
        .query_row([&item.request_id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
            ))
        })?;
    let (
        s_intent,
        s_set,
        s_calls,
        s_units,
        s_correct,
        s_latency,
        s_ts,
        s_decision,
        s_answered,
        s_answered_at,
    ) = stored;
    // Calls are indices into their module set: within one set the bytes compare; across sets
    // the stored calls are decoded to names first.
    let same_calls = if s_set == set_id {
        s_calls == calls
    } else {
        let modules: String = tx
            .prepare_cached("SELECT modules FROM module_sets WHERE id = ?1")?
            .query_row([s_set], |row| row.get(0))?;
        ModuleSet::from_canonical(&modules).decode_calls(&s_calls) == Some(item.calls.clone())
    };
    Ok([
        ("intent", s_intent == intent_id),
        ("modules", s_set == set_id),
        ("calls", same_calls),
        ("run_units", s_units == item.run_units),
        ("correct", s_correct == item.correct),
        ("latency_ms", s_latency == item.latency_ms),
        ("timestamp_ms", s_ts == item.timestamp_ms),
        (
            "decision_id",
            s_decision == item.decision_id.and_then(|d| i64::try_from(d).ok()),
        ),
        ("answered_by", s_set != set_id || s_answered == answered),
        // A position in the calls, not an index into the set: it compares across sets too.
        (
            "answered_at",
            s_answered_at == item.answered_at.map(i64::from),
        ),
    ]
    .into_iter()
    .filter_map(|(field, same)| (!same).then_some(field))
    .collect())
}

pub(super) fn intent_id(
    store: &Store,
    tx: &Connection,
    new_ids: &mut NewIds,
    name: &str,
) -> Result<i64, Fail> {
    if let Some(id) = store
        .cached_intent(name)
        .or_else(|| new_ids.intents.get(name).copied())
    {
        return Ok(id);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO intent_classes (name) VALUES (?1)")?
        .execute([name])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM intent_classes WHERE name = ?1")?
        .query_row([name], |row| row.get(0))?;
    new_ids.intents.insert(name.to_owned(), id);
    Ok(id)
}

pub(super) fn set_id(
    store: &Store,
    tx: &Connection,
    new_ids: &mut NewIds,
    set: &ModuleSet,
) -> Result<i64, Fail> {
    let fingerprint = set.fingerprint();
    if let Some(id) = store
        .cached_set(fingerprint)
        .or_else(|| new_ids.sets.get(&fingerprint).copied())
    {
        return Ok(id);
    }
    let canonical = set.canonical();
    tx.prepare_cached("INSERT OR IGNORE INTO module_sets (fingerprint, modules) VALUES (?1, ?2)")?
        .execute(params![fingerprint, canonical])?;
    let (id, stored): (i64, String) = tx
        .prepare_cached("SELECT id, modules FROM module_sets WHERE fingerprint = ?1")?
        .query_row([fingerprint], |row| Ok((row.get(0)?, row.get(1)?)))?;
    if stored != canonical {
        return Err(PolicyError::FingerprintCollision {
            existing: stored,
            new: canonical,
        }
        .into());
    }
    new_ids.sets.insert(fingerprint, id);
    Ok(id)
}

fn load_checkpoint(
    tx: &Connection,
    intent_id: i64,
    set_id: i64,
    intent: &str,
    set: &ModuleSet,
) -> Result<CombinationState, Fail> {
    let row: Option<(i64, i64, Vec<u8>, i64)> = tx
        .prepare_cached(
            "SELECT samples, correct_samples, arm_weights, updated_ms FROM policy_checkpoints
             WHERE intent_id = ?1 AND module_set_id = ?2",
        )?
        .query_row([intent_id, set_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()?;
    let Some((samples, correct_samples, bytes, updated_ms)) = row else {
        return Ok(CombinationState::new(set.names().len()));
    };
    let corrupt = |reason: String| PolicyError::CorruptCheckpoint {
        intent: intent.to_owned(),
        modules: set.canonical(),
        reason,
    };
    let decoded = blob::decode(&bytes, set.names().len()).map_err(|e| corrupt(e.to_string()))?;
    Ok(CombinationState {
        samples: u64::try_from(samples).map_err(|e| corrupt(e.to_string()))?,
        correct_samples: u64::try_from(correct_samples).map_err(|e| corrupt(e.to_string()))?,
        hist: decoded.hist,
        arms: decoded.arms,
        budget: decoded.budget,
        updated_ms,
    })
}

/// Upserts one checkpoint row (also used by rebuild).
pub(super) fn save_checkpoint(
    store: &Store,
    tx: &Connection,
    intent_id: i64,
    set_id: i64,
    state: &CombinationState,
) -> Result<(), Fail> {
    tx.prepare_cached(
        "INSERT INTO policy_checkpoints (intent_id, module_set_id, optimal_n, samples,
             correct_samples, confidence, arm_weights, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (intent_id, module_set_id) DO UPDATE SET
             optimal_n = excluded.optimal_n, samples = excluded.samples,
             correct_samples = excluded.correct_samples, confidence = excluded.confidence,
             arm_weights = excluded.arm_weights, updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        intent_id,
        set_id,
        state.optimal_n(&store.config),
        i64::try_from(state.samples).unwrap_or(i64::MAX),
        i64::try_from(state.correct_samples).unwrap_or(i64::MAX),
        state.confidence(&store.config),
        blob::encode(&state.arms, &state.hist, &state.budget),
        state.updated_ms
    ])?;
    Ok(())
}
