//! Ingest: validate everything first, then in one transaction under the writer lock read what
//! the batch needs (ids, the rows its request ids and decisions already have, its checkpoints),
//! decide every item in input order in memory, and write the new rows with one multi-row
//! INSERT per table (`unnest` of one array per column, so a batch of any size is one statement
//! of a fixed number of parameters) and every touched checkpoint with one upsert.
//!
//! The rules are the SQLite backend's (`policy-store-sqlite/src/ingest.rs`), item for item and
//! in the same order: the decision a trajectory names must exist, be for its intent and module
//! set and have served no other request (an earlier item of the batch included); a request id
//! already stored (or accepted earlier in the batch) is compared column by column on the
//! encoded values, equal content a `Duplicate`, other content a conflict; an invalid or
//! conflicting item anywhere writes nothing and every offender is listed; a corrupt checkpoint
//! fails the batch when an item would fold into it. Because the writer lock is held from the
//! first read, another replica cannot insert the same request id in between: its retry waits,
//! then finds this row.

use crate::ids::{self, Ids};
use crate::read::decode_state;
use crate::{Fail, PostgresPolicyStore};
use otc_policy::blob;
use otc_policy::state::{CombinationState, Observation};
use otc_policy::trajectory::{ModuleSet, Trajectory, ValidationError};
use policy_store::{BatchReport, ConflictItem, IngestOutcome, InvalidItem, PolicyError};
use postgres::Transaction;
use std::collections::{HashMap, HashSet};

/// What a logged decision served, as the trajectory's row keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Served {
    budget: u32,
    policy_budget: u32,
    order_explored: bool,
}

/// Bit of `decisions.explored` for a decision that explored the module order.
pub(crate) const EXPLORED_ORDER: i16 = 4;

/// A logged decision: its combination and what it served.
struct LoggedDecision {
    intent_id: i64,
    set_id: i64,
    served: Served,
}

/// The columns a stored trajectory is compared on (a row of the log, or an item accepted
/// earlier in the batch).
#[derive(Debug, Clone)]
struct Stored {
    intent_id: i64,
    set_id: i64,
    /// The canonical module set, to decode the calls when the sets differ.
    modules: String,
    calls: Vec<u8>,
    run_units: f64,
    correct: bool,
    latency_ms: f64,
    timestamp_ms: i64,
    decision_id: Option<i64>,
    answered: Option<i16>,
}

/// The new rows of the batch, one vector per column, ready for `unnest`.
#[derive(Default)]
struct NewRows<'a> {
    id: Vec<i64>,
    request_id: Vec<&'a str>,
    intent_id: Vec<i64>,
    set_id: Vec<i64>,
    calls: Vec<Vec<u8>>,
    run_units: Vec<f64>,
    correct: Vec<bool>,
    latency_ms: Vec<f64>,
    timestamp_ms: Vec<i64>,
    decision_id: Vec<Option<i64>>,
    served: Vec<Option<i64>>,
    policy_budget: Vec<Option<i64>>,
    order_explored: Vec<Option<bool>>,
    answered: Vec<Option<i16>>,
    // reward_events
    n_used: Vec<Option<f64>>,
    r_tool: Vec<Option<f64>>,
    r_correctness: Vec<f64>,
    r_cost: Vec<f64>,
    composite: Vec<f64>,
}

pub(crate) fn ingest_batch(
    store: &PostgresPolicyStore,
    items: &[Trajectory],
) -> Result<BatchReport, Fail> {
    let now = crate::now_ms();
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
    let mut new_ids = Ids::default();
    let report = store.write(|tx| in_transaction(store, tx, &mut new_ids, items, &sets))?;
    store.ids.remember(new_ids);
    Ok(report)
}

fn in_transaction(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    new_ids: &mut Ids,
    items: &[Trajectory],
    sets: &[ModuleSet],
) -> Result<BatchReport, Fail> {
    let intent_ids = ids::intents(
        &store.ids,
        tx,
        new_ids,
        items.iter().map(|t| t.intent.as_str()),
    )?;
    let set_ids = ids::sets(&store.ids, tx, new_ids, sets)?;
    let mut known = stored_rows(tx, items)?;
    let (decisions, mut users) = logged_decisions(tx, items)?;
    let mut checkpoints = stored_checkpoints(tx, items, sets, &intent_ids, &set_ids, &known)?;
    let mut next_id: i64 = tx
        .query_one("SELECT COALESCE(MAX(id), 0) FROM trajectory_log", &[])?
        .get(0);

    let mut open: HashMap<(i64, i64), CombinationState> = HashMap::new();
    let mut rows = NewRows::default();
    let mut report = BatchReport {
        accepted: 0,
        duplicates: 0,
        items: Vec::with_capacity(items.len()),
    };
    let mut conflicts = Vec::new();
    let mut invalid = Vec::new();
    for (index, (item, set)) in items.iter().zip(sets).enumerate() {
        // After a conflict the batch will roll back, but the remaining items are still checked
        // so that the error lists every conflicting one.
        let intent_id = intent_ids[&item.intent];
        let set_id = set_ids[&set.fingerprint()];
        let calls = set.encode_calls(&item.calls)?;
        let served = match decision_for(&decisions, &users, item, intent_id, set_id) {
            Ok(served) => served,
            Err(error) => {
                invalid.push(InvalidItem::new(index, error));
                continue;
            }
        };
        let answered = item
            .answered_by
            .as_deref()
            .and_then(|m| set.index_of(m))
            .and_then(|i| u8::try_from(i).ok());
        if let Some(stored) = known.get(&item.request_id) {
            let differs = differing_fields(stored, item, intent_id, set_id, &calls, answered);
            if differs.is_empty() {
                report.duplicates += 1;
                report.items.push(IngestOutcome::Duplicate {
                    request_id: item.request_id.clone(),
                });
            } else {
                conflicts.push(ConflictItem {
                    index,
                    request_id: item.request_id.clone(),
                    fields: differs,
                });
            }
            continue;
        }
        let state = match open.entry((intent_id, set_id)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let state = match checkpoints.remove(&(intent_id, set_id)) {
                    Some((samples, correct, bytes, updated_ms)) => {
                        decode_state(&item.intent, set, samples, correct, &bytes, updated_ms)?
                    }
                    None => CombinationState::new(set.names().len()),
                };
                e.insert(state)
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
                order_explored: served.is_some_and(|s| s.order_explored),
            },
            &store.config,
        )?;
        next_id += 1;
        let decision_id = item.decision_id.and_then(|d| i64::try_from(d).ok());
        if let Some(d) = decision_id {
            users.insert(d, item.request_id.clone());
        }
        known.insert(
            item.request_id.clone(),
            Stored {
                intent_id,
                set_id,
                modules: set.canonical(),
                calls: calls.clone(),
                run_units: item.run_units,
                correct: item.correct,
                latency_ms: item.latency_ms,
                timestamp_ms: item.timestamp_ms,
                decision_id,
                answered: answered.map(i16::from),
            },
        );
        rows.id.push(next_id);
        rows.request_id.push(&item.request_id);
        rows.intent_id.push(intent_id);
        rows.set_id.push(set_id);
        rows.calls.push(calls);
        rows.run_units.push(item.run_units);
        rows.correct.push(item.correct);
        rows.latency_ms.push(item.latency_ms);
        rows.timestamp_ms.push(item.timestamp_ms);
        rows.decision_id.push(decision_id);
        rows.served.push(served.map(|s| i64::from(s.budget)));
        rows.policy_budget
            .push(served.map(|s| i64::from(s.policy_budget)));
        rows.order_explored.push(served.map(|s| s.order_explored));
        rows.answered.push(answered.map(i16::from));
        rows.n_used.push(score.optimal);
        rows.r_tool.push(score.r_tool);
        rows.r_correctness.push(score.r_correctness);
        rows.r_cost.push(score.r_cost);
        rows.composite.push(score.composite);
        report.accepted += 1;
        report.items.push(IngestOutcome::Accepted {
            request_id: item.request_id.clone(),
            score,
        });
    }
    // Returning an error rolls the transaction back: nothing of the batch is written.
    if !invalid.is_empty() {
        return Err(PolicyError::InvalidBatch(invalid).into());
    }
    if !conflicts.is_empty() {
        return Err(PolicyError::ConflictBatch(conflicts).into());
    }
    insert_rows(store, tx, &rows)?;
    save_checkpoints(store, tx, &open)?;
    Ok(report)
}

/// The stored rows of the batch's request ids, by request id.
fn stored_rows(
    tx: &mut Transaction<'_>,
    items: &[Trajectory],
) -> Result<HashMap<String, Stored>, Fail> {
    let request_ids: Vec<&str> = items
        .iter()
        .map(|t| t.request_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let rows = tx.query(
        "SELECT t.request_id, t.intent_id, t.module_set_id, m.modules, t.calls, t.run_units,
                t.correct, t.latency_ms, t.timestamp_ms, t.decision_id, t.answered
         FROM trajectory_log t JOIN module_sets m ON m.id = t.module_set_id
         WHERE t.request_id = ANY($1)",
        &[&request_ids],
    )?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                Stored {
                    intent_id: row.get(1),
                    set_id: row.get(2),
                    modules: row.get(3),
                    calls: row.get(4),
                    run_units: row.get(5),
                    correct: row.get(6),
                    latency_ms: row.get(7),
                    timestamp_ms: row.get(8),
                    decision_id: row.get(9),
                    answered: row.get(10),
                },
            )
        })
        .collect())
}

/// The decisions the batch names, and which request each already served.
#[allow(clippy::type_complexity)]
fn logged_decisions(
    tx: &mut Transaction<'_>,
    items: &[Trajectory],
) -> Result<(HashMap<i64, LoggedDecision>, HashMap<i64, String>), Fail> {
    let ids: Vec<i64> = items
        .iter()
        .filter_map(|t| t.decision_id.and_then(|d| i64::try_from(d).ok()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok((HashMap::new(), HashMap::new()));
    }
    let mut decisions = HashMap::new();
    for row in tx.query(
        "SELECT id, intent_id, module_set_id, budget, policy_budget, explored
         FROM decisions WHERE id = ANY($1)",
        &[&ids],
    )? {
        let id: i64 = row.get(0);
        let budget = |i: usize| {
            u32::try_from(row.get::<_, i64>(i)).map_err(|e| {
                PolicyError::Storage(format!("decision {id} has an impossible budget: {e}").into())
            })
        };
        decisions.insert(
            id,
            LoggedDecision {
                intent_id: row.get(1),
                set_id: row.get(2),
                served: Served {
                    budget: budget(3)?,
                    policy_budget: budget(4)?,
                    order_explored: row.get::<_, i16>(5) & EXPLORED_ORDER != 0,
                },
            },
        );
    }
    let users = tx
        .query(
            "SELECT decision_id, request_id FROM trajectory_log WHERE decision_id = ANY($1)",
            &[&ids],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok((decisions, users))
}

/// The stored checkpoints (samples, correct samples, BLOB, updated) of the combinations that
/// items not yet stored fold into; decoded only when an item folds into one.
#[allow(clippy::type_complexity)]
fn stored_checkpoints(
    tx: &mut Transaction<'_>,
    items: &[Trajectory],
    sets: &[ModuleSet],
    intent_ids: &HashMap<String, i64>,
    set_ids: &HashMap<i64, i64>,
    known: &HashMap<String, Stored>,
) -> Result<HashMap<(i64, i64), (i64, i64, Vec<u8>, i64)>, Fail> {
    let combinations: HashSet<(i64, i64)> = items
        .iter()
        .zip(sets)
        .filter(|(item, _)| !known.contains_key(&item.request_id))
        .map(|(item, set)| (intent_ids[&item.intent], set_ids[&set.fingerprint()]))
        .collect();
    if combinations.is_empty() {
        return Ok(HashMap::new());
    }
    let (intents, sets): (Vec<i64>, Vec<i64>) = combinations.into_iter().unzip();
    Ok(tx
        .query(
            "SELECT c.intent_id, c.module_set_id, c.samples, c.correct_samples, c.arm_weights,
                    c.updated_ms
             FROM policy_checkpoints c
             JOIN unnest($1::bigint[], $2::bigint[]) AS wanted (intent_id, module_set_id)
               ON wanted.intent_id = c.intent_id AND wanted.module_set_id = c.module_set_id",
            &[&intents, &sets],
        )?
        .iter()
        .map(|row| {
            (
                (row.get(0), row.get(1)),
                (row.get(2), row.get(3), row.get(4), row.get(5)),
            )
        })
        .collect())
}

/// Checks the decision a trajectory names; an error when it cannot be this request's.
fn decision_for(
    decisions: &HashMap<i64, LoggedDecision>,
    users: &HashMap<i64, String>,
    item: &Trajectory,
    intent_id: i64,
    set_id: i64,
) -> Result<Option<Served>, ValidationError> {
    let Some(id) = item.decision_id else {
        return Ok(None);
    };
    let Ok(key) = i64::try_from(id) else {
        return Err(ValidationError::UnknownDecision { id });
    };
    let Some(decision) = decisions.get(&key) else {
        return Err(ValidationError::UnknownDecision { id });
    };
    if (decision.intent_id, decision.set_id) != (intent_id, set_id) {
        return Err(ValidationError::DecisionMismatch { id });
    }
    if users.get(&key).is_some_and(|u| *u != item.request_id) {
        return Err(ValidationError::DecisionUsed { id });
    }
    Ok(Some(decision.served))
}

/// The fields in which `item` differs from the stored trajectory with its request id, compared
/// on the stored encoding: the same module set in another order is the same set (same id), and
/// numbers compare as the `f64`s stored (DOUBLE PRECISION keeps them exactly).
fn differing_fields(
    stored: &Stored,
    item: &Trajectory,
    intent_id: i64,
    set_id: i64,
    calls: &[u8],
    answered: Option<u8>,
) -> Vec<&'static str> {
    // Calls are indices into their module set: within one set the bytes compare; across sets
    // the stored calls are decoded to names first.
    let same_calls = if stored.set_id == set_id {
        stored.calls == calls
    } else {
        ModuleSet::from_canonical(&stored.modules).decode_calls(&stored.calls)
            == Some(item.calls.clone())
    };
    [
        ("intent", stored.intent_id == intent_id),
        ("modules", stored.set_id == set_id),
        ("calls", same_calls),
        ("run_units", stored.run_units == item.run_units),
        ("correct", stored.correct == item.correct),
        ("latency_ms", stored.latency_ms == item.latency_ms),
        ("timestamp_ms", stored.timestamp_ms == item.timestamp_ms),
        (
            "decision_id",
            stored.decision_id == item.decision_id.and_then(|d| i64::try_from(d).ok()),
        ),
        (
            "answered_by",
            stored.set_id != set_id || stored.answered == answered.map(i16::from),
        ),
    ]
    .into_iter()
    .filter_map(|(field, same)| (!same).then_some(field))
    .collect()
}

/// The batch's new log rows and reward events, one INSERT each.
fn insert_rows(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    rows: &NewRows<'_>,
) -> Result<(), Fail> {
    if rows.id.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO trajectory_log (id, request_id, intent_id, module_set_id, calls, run_units,
             correct, latency_ms, timestamp_ms, decision_id, served, policy_budget,
             order_explored, answered)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
             $5::bytea[], $6::float8[], $7::bool[], $8::float8[], $9::bigint[], $10::bigint[],
             $11::bigint[], $12::bigint[], $13::bool[], $14::smallint[])",
        &[
            &rows.id,
            &rows.request_id,
            &rows.intent_id,
            &rows.set_id,
            &rows.calls,
            &rows.run_units,
            &rows.correct,
            &rows.latency_ms,
            &rows.timestamp_ms,
            &rows.decision_id,
            &rows.served,
            &rows.policy_budget,
            &rows.order_explored,
            &rows.answered,
        ],
    )?;
    tx.execute(
        "INSERT INTO reward_events (trajectory_id, config_id, n_used, r_tool, r_correctness,
             r_cost, composite)
         SELECT id, $2, n_used, r_tool, r_correctness, r_cost, composite
         FROM unnest($1::bigint[], $3::float8[], $4::float8[], $5::float8[], $6::float8[],
             $7::float8[]) AS e (id, n_used, r_tool, r_correctness, r_cost, composite)",
        &[
            &rows.id,
            &store.config_id,
            &rows.n_used,
            &rows.r_tool,
            &rows.r_correctness,
            &rows.r_cost,
            &rows.composite,
        ],
    )?;
    Ok(())
}

/// Upserts the checkpoints of `states` in one statement (also used by rebuild).
pub(crate) fn save_checkpoints(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    states: &HashMap<(i64, i64), CombinationState>,
) -> Result<(), Fail> {
    if states.is_empty() {
        return Ok(());
    }
    let config = &store.config;
    let mut intent_id = Vec::with_capacity(states.len());
    let mut set_id = Vec::with_capacity(states.len());
    let mut optimal_n = Vec::with_capacity(states.len());
    let mut samples = Vec::with_capacity(states.len());
    let mut correct_samples = Vec::with_capacity(states.len());
    let mut confidence = Vec::with_capacity(states.len());
    let mut arm_weights = Vec::with_capacity(states.len());
    let mut updated_ms = Vec::with_capacity(states.len());
    for ((intent, set), state) in states {
        intent_id.push(*intent);
        set_id.push(*set);
        optimal_n.push(state.optimal_n(config).map(i64::from));
        samples.push(i64::try_from(state.samples).unwrap_or(i64::MAX));
        correct_samples.push(i64::try_from(state.correct_samples).unwrap_or(i64::MAX));
        confidence.push(state.confidence(config));
        arm_weights.push(blob::encode(&state.arms, &state.hist, &state.budget));
        updated_ms.push(state.updated_ms);
    }
    tx.execute(
        "INSERT INTO policy_checkpoints (intent_id, module_set_id, optimal_n, samples,
             correct_samples, confidence, arm_weights, updated_ms)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
             $5::bigint[], $6::float8[], $7::bytea[], $8::bigint[])
         ON CONFLICT (intent_id, module_set_id) DO UPDATE SET
             optimal_n = excluded.optimal_n, samples = excluded.samples,
             correct_samples = excluded.correct_samples, confidence = excluded.confidence,
             arm_weights = excluded.arm_weights, updated_ms = excluded.updated_ms",
        &[
            &intent_id,
            &set_id,
            &optimal_n,
            &samples,
            &correct_samples,
            &confidence,
            &arm_weights,
            &updated_ms,
        ],
    )?;
    Ok(())
}
