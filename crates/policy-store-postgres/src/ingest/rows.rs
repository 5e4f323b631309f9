//! The rows of one ingest: what the batch needs from the store, read in a few statements
//! (the stored rows of its request ids, the decisions it names and who used them, the
//! checkpoints it folds into), and what it writes, one statement per table (`unnest` of one
//! array per column, so a batch of any size is one INSERT of a fixed number of parameters).

use crate::{Fail, PostgresPolicyStore};
use otc_policy::blob;
use otc_policy::state::CombinationState;
use otc_policy::trajectory::{ModuleSet, Trajectory};
use policy_store::PolicyError;
use postgres::Transaction;
use std::collections::{HashMap, HashSet};

/// A stored checkpoint, not yet decoded: samples, correct samples, the BLOB, updated.
pub(super) type RawCheckpoint = (i64, i64, Vec<u8>, i64);

/// The request id that each logged decision already served.
pub(super) type Users = HashMap<i64, String>;

/// What a logged decision served, as the trajectory's row keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Served {
    pub budget: u32,
    pub policy_budget: u32,
    pub order_explored: bool,
}

/// Bit of `decisions.explored` for a decision that explored the module order.
pub(crate) const EXPLORED_ORDER: i16 = 4;

/// A logged decision: its combination and what it served.
pub(super) struct LoggedDecision {
    pub intent_id: i64,
    pub set_id: i64,
    pub served: Served,
}

/// The columns a stored trajectory is compared on (a row of the log, or an item accepted
/// earlier in the batch).
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub intent_id: i64,
    pub set_id: i64,
    /// The canonical module set, to decode the calls when the sets differ.
    pub modules: String,
    pub calls: Vec<u8>,
    pub run_units: f64,
    pub correct: bool,
    pub latency_ms: f64,
    pub timestamp_ms: i64,
    pub decision_id: Option<i64>,
    pub answered: Option<i16>,
    pub answered_at: Option<i64>,
}

/// A request id the store knows: its row, or only its key (`trajectory_keys`) because
/// retention dropped the row's partition.
#[derive(Debug, Clone)]
pub(super) enum Known {
    Row(Stored),
    Dropped,
}

/// The end of the log: the last trajectory id given and the latest `logged_ms`, counting what
/// retention dropped (`log_base`), so ids never repeat and `logged_ms` never goes back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogHead {
    pub last_id: i64,
    pub last_logged_ms: i64,
}

impl LogHead {
    /// The `logged_ms` of rows logged now: the clock, but never before the last row's, so the
    /// log order (ids) and the partition order (`logged_ms`) agree, which retention relies on
    /// (every row of a dropped partition precedes every kept row).
    pub fn logged_ms_after(&self, now: i64) -> i64 {
        now.max(self.last_logged_ms)
    }
}

/// Reads the [`LogHead`] (two index reads of `trajectory_keys` and the one row of `log_base`).
pub(crate) fn log_head(tx: &mut Transaction<'_>) -> Result<LogHead, Fail> {
    let row = tx.query_one(
        "SELECT GREATEST(k.trajectory_id, b.through_id), GREATEST(k.logged_ms, b.cut_ms)
         FROM log_base b
         LEFT JOIN LATERAL (SELECT trajectory_id, logged_ms FROM trajectory_keys
                            ORDER BY trajectory_id DESC LIMIT 1) k ON true",
        &[],
    )?;
    Ok(LogHead {
        last_id: row.get(0),
        last_logged_ms: row.get(1),
    })
}

/// The new rows of the batch, one vector per column, ready for `unnest`.
#[derive(Default)]
pub(super) struct NewRows<'a> {
    pub id: Vec<i64>,
    pub request_id: Vec<&'a str>,
    pub intent_id: Vec<i64>,
    pub set_id: Vec<i64>,
    pub calls: Vec<Vec<u8>>,
    pub run_units: Vec<f64>,
    pub correct: Vec<bool>,
    pub latency_ms: Vec<f64>,
    pub timestamp_ms: Vec<i64>,
    pub decision_id: Vec<Option<i64>>,
    pub served: Vec<Option<i64>>,
    pub policy_budget: Vec<Option<i64>>,
    pub order_explored: Vec<Option<bool>>,
    pub answered: Vec<Option<i16>>,
    pub answered_at: Vec<Option<i64>>,
    // reward_events
    pub n_used: Vec<Option<f64>>,
    pub r_tool: Vec<Option<f64>>,
    pub r_correctness: Vec<f64>,
    pub r_cost: Vec<f64>,
    pub composite: Vec<f64>,
}

/// The stored rows of the batch's request ids, by request id: their keys first (one index,
/// whatever the number of partitions), then, only for the ids found (retries), their rows,
/// each in the partition its key names. One statement joining keys and log would make the
/// planner consider every partition on every ingest.
pub(super) fn stored_rows(
    tx: &mut Transaction<'_>,
    items: &[Trajectory],
) -> Result<HashMap<String, Known>, Fail> {
    let request_ids: Vec<&str> = items
        .iter()
        .map(|t| t.request_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let keys = tx.query(
        "SELECT request_id, trajectory_id, logged_ms FROM trajectory_keys
         WHERE request_id = ANY($1)",
        &[&request_ids],
    )?;
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let mut known: HashMap<String, Known> = keys
        .iter()
        .map(|row| (row.get(0), Known::Dropped))
        .collect();
    let ids: Vec<i64> = keys.iter().map(|row| row.get(1)).collect();
    let times: Vec<i64> = keys.iter().map(|row| row.get(2)).collect();
    let rows = tx.query(
        "SELECT t.request_id, t.intent_id, t.module_set_id, m.modules, t.calls, t.run_units,
                t.correct, t.latency_ms, t.timestamp_ms, t.decision_id, t.answered,
                t.answered_at
         FROM unnest($1::bigint[], $2::bigint[]) AS k (id, logged_ms)
         JOIN trajectory_log t ON t.id = k.id AND t.logged_ms = k.logged_ms
         JOIN module_sets m ON m.id = t.module_set_id",
        &[&ids, &times],
    )?;
    for row in &rows {
        known.insert(
            row.get(0),
            Known::Row(Stored {
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
                answered_at: row.get(11),
            }),
        );
    }
    Ok(known)
}

/// The decisions the batch names, and which request each already served.
pub(super) fn logged_decisions(
    tx: &mut Transaction<'_>,
    items: &[Trajectory],
) -> Result<(HashMap<i64, LoggedDecision>, Users), Fail> {
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
            "SELECT decision_id, request_id FROM trajectory_keys WHERE decision_id = ANY($1)",
            &[&ids],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok((decisions, users))
}

/// The stored checkpoints (samples, correct samples, BLOB, updated) of the combinations that
/// items not yet stored fold into; decoded only when an item folds into one.
pub(super) fn stored_checkpoints(
    tx: &mut Transaction<'_>,
    items: &[Trajectory],
    sets: &[ModuleSet],
    intent_ids: &HashMap<String, i64>,
    set_ids: &HashMap<i64, i64>,
    known: &HashMap<String, Known>,
) -> Result<HashMap<(i64, i64), RawCheckpoint>, Fail> {
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

/// The batch's new log rows, their keys and reward events, one INSERT each, all logged at
/// `logged_ms`.
pub(super) fn insert_rows(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    rows: &NewRows<'_>,
    logged_ms: i64,
) -> Result<(), Fail> {
    if rows.id.is_empty() {
        return Ok(());
    }
    // Keys first: should a request id or decision be taken after all (a writer that skipped
    // the lock), their unique indexes fail the batch before any row is written.
    tx.execute(
        "INSERT INTO trajectory_keys (request_id, trajectory_id, logged_ms, decision_id)
         SELECT k.request_id, k.id, $3::bigint, k.decision_id
         FROM unnest($1::text[], $2::bigint[], $4::bigint[]) AS k (request_id, id, decision_id)",
        &[&rows.request_id, &rows.id, &logged_ms, &rows.decision_id],
    )?;
    tx.execute(
        "INSERT INTO trajectory_log (id, request_id, intent_id, module_set_id, calls, run_units,
             correct, latency_ms, timestamp_ms, decision_id, served, policy_budget,
             order_explored, answered, answered_at, logged_ms)
         SELECT *, $16::bigint FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
             $5::bytea[], $6::float8[], $7::bool[], $8::float8[], $9::bigint[], $10::bigint[],
             $11::bigint[], $12::bigint[], $13::bool[], $14::smallint[], $15::bigint[])",
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
            &rows.answered_at,
            &logged_ms,
        ],
    )?;
    tx.execute(
        "INSERT INTO reward_events (trajectory_id, logged_ms, config_id, n_used, r_tool,
             r_correctness, r_cost, composite)
         SELECT id, $8::bigint, $2, n_used, r_tool, r_correctness, r_cost, composite
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
            &logged_ms,
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
