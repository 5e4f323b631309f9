//! Ingest: validate everything first, then in one transaction under the writer lock read what
//! the batch needs (ids, the rows its request ids and decisions already have, its checkpoints),
//! decide every item in input order in memory, and write the new rows with one multi-row
//! INSERT per table and every touched checkpoint with one upsert (`rows.rs`).
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
//!
//! Request ids are found through `trajectory_keys` (one index read, then the row in the
//! partition its key names). A key whose row a retention cut dropped answers `Duplicate`
//! without a comparison (the content is gone) until retention forgets the key. New rows are
//! logged at the store's clock, but never before the last row (`LogHead`), so the partition
//! order and the log order agree.

mod rows;

pub(crate) use rows::{EXPLORED_ORDER, log_head, save_checkpoints};

use crate::ids::{self, Ids};
use crate::read::decode_state;
use crate::{Fail, PostgresPolicyStore};
use otc_policy::state::{CombinationState, Observation};
use otc_policy::trajectory::{ModuleSet, Trajectory, ValidationError};
use policy_store::{BatchReport, ConflictItem, IngestOutcome, InvalidItem, PolicyError};
use postgres::Transaction;
use postgres_kit::partitions;
use rows::{Known, LoggedDecision, NewRows, Served, Stored, Users};

/// The partitioned tables an ingest writes, whose month must have a partition.
pub(crate) const LOGGED_BY_INGEST: [&str; 2] = ["trajectory_log", "reward_events"];
use std::collections::HashMap;

pub(crate) fn ingest_batch(
    store: &PostgresPolicyStore,
    items: &[Trajectory],
) -> Result<BatchReport, Fail> {
    let now = store.now();
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
    let report = store.write_logged(&LOGGED_BY_INGEST, now, |tx| {
        in_transaction(store, tx, &mut new_ids, items, &sets, now)
    })?;
    store.ids.remember(new_ids);
    Ok(report)
}

fn in_transaction(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    new_ids: &mut Ids,
    items: &[Trajectory],
    sets: &[ModuleSet],
    now: i64,
) -> Result<BatchReport, Fail> {
    let intent_ids = ids::intents(
        &store.ids,
        tx,
        new_ids,
        items.iter().map(|t| t.intent.as_str()),
    )?;
    let set_ids = ids::sets(&store.ids, tx, new_ids, sets)?;
    let mut known = rows::stored_rows(tx, items)?;
    let (decisions, mut users) = rows::logged_decisions(tx, items)?;
    let mut checkpoints = rows::stored_checkpoints(tx, items, sets, &intent_ids, &set_ids, &known)?;
    let head = rows::log_head(tx)?;
    let mut next_id = head.last_id;
    let logged_ms = head.logged_ms_after(now);
    if partitions::month_start_ms(logged_ms) != partitions::month_start_ms(now) {
        // The clock is behind the last row's month: that month's partition holds rows already,
        // but ensure it here (in this transaction, uncached) rather than assume it.
        for parent in LOGGED_BY_INGEST {
            tx.execute(
                "SELECT ensure_month_partition($1, $2)",
                &[&parent, &logged_ms],
            )?;
        }
    }

    let mut open: HashMap<(i64, i64), CombinationState> = HashMap::new();
    let mut new_rows = NewRows::default();
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
        if let Some(known) = known.get(&item.request_id) {
            // A request id whose row retention dropped is a duplicate that cannot be compared.
            let differs = match known {
                Known::Row(stored) => {
                    differing_fields(stored, item, intent_id, set_id, &calls, answered)
                }
                Known::Dropped => Vec::new(),
            };
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
                answered_at: item.answered_at,
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
            Known::Row(Stored {
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
                answered_at: item.answered_at.map(i64::from),
            }),
        );
        new_rows.id.push(next_id);
        new_rows.request_id.push(&item.request_id);
        new_rows.intent_id.push(intent_id);
        new_rows.set_id.push(set_id);
        new_rows.calls.push(calls);
        new_rows.run_units.push(item.run_units);
        new_rows.correct.push(item.correct);
        new_rows.latency_ms.push(item.latency_ms);
        new_rows.timestamp_ms.push(item.timestamp_ms);
        new_rows.decision_id.push(decision_id);
        new_rows.served.push(served.map(|s| i64::from(s.budget)));
        new_rows
            .policy_budget
            .push(served.map(|s| i64::from(s.policy_budget)));
        new_rows
            .order_explored
            .push(served.map(|s| s.order_explored));
        new_rows.answered.push(answered.map(i16::from));
        new_rows.answered_at.push(item.answered_at.map(i64::from));
        new_rows.n_used.push(score.optimal);
        new_rows.r_tool.push(score.r_tool);
        new_rows.r_correctness.push(score.r_correctness);
        new_rows.r_cost.push(score.r_cost);
        new_rows.composite.push(score.composite);
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
    rows::insert_rows(store, tx, &new_rows, logged_ms)?;
    save_checkpoints(store, tx, &open)?;
    Ok(report)
}

/// Checks the decision a trajectory names; an error when it cannot be this request's.
fn decision_for(
    decisions: &HashMap<i64, LoggedDecision>,
    users: &Users,
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
        // A position in the calls, not an index into the set: it compares across sets too.
        (
            "answered_at",
            stored.answered_at == item.answered_at.map(i64::from),
        ),
    ]
    .into_iter()
    .filter_map(|(field, same)| (!same).then_some(field))
    .collect()
}
