//! The log read for off-policy evaluation ([`PolicyBackend::replay_log`]): the stored configs
//! and names, then decisions and trajectories merged in the order the policy saw them
//! ([`policy_store::replay`]), all in one read transaction on a reader connection (one
//! snapshot, however long the scan; writers are not held up).
//!
//! A decision goes after the trajectory its `log_position` names (schema version 5); one
//! logged before that version goes just before its own trajectory, and one that never got a
//! trajectory is left out (it would not be a round, and its place is unknown).
//!
//! [`PolicyBackend::replay_log`]: policy_store::PolicyBackend::replay_log

use crate::{Fail, Store};
use otc_policy::evaluate::LoggedDecision;
use otc_policy::{ModuleSet, PolicyConfig};
use policy_store::replay::{DecisionRow, LogEvent, TrajectoryRow, merge};

/// Bit of `decisions.explored` for a decision that explored one call less (see `decide.rs`).
const EXPLORED_DOWN: i64 = 2;

/// Emits the log's events in order (see [`policy_store::replay::run`]).
pub(super) fn read_log(
    store: &Store,
    until_ms: Option<i64>,
    emit: &mut dyn FnMut(LogEvent) -> bool,
) -> Result<(), Fail> {
    let conn = store.reader();
    let tx = conn.unchecked_transaction()?;
    let configs = tx
        .prepare("SELECT id, config_json FROM reward_configs ORDER BY id")?
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?
        .map(|row| {
            let (id, json) = row?;
            let config: PolicyConfig = serde_json::from_str(&json).map_err(|e| {
                policy_store::replay::inconsistent(format!(
                    "stored config {id} does not parse: {e}"
                ))
            })?;
            Ok((id, config))
        })
        .collect::<Result<Vec<_>, Fail>>()?;
    let intents = tx
        .prepare("SELECT id, name FROM intent_classes")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let sets = tx
        .prepare("SELECT id, modules FROM module_sets")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                ModuleSet::from_canonical(&row.get::<_, String>(1)?),
            ))
        })?
        .collect::<Result<_, _>>()?;
    if !emit(LogEvent::Configs(configs)) || !emit(LogEvent::Names { intents, sets }) {
        return Ok(());
    }
    let mut decisions = tx.prepare(
        "SELECT d.id, d.intent_id, d.module_set_id, d.budget, d.policy_budget, d.explored,
                d.first_module, d.propensity, d.config_id, d.decided_ms,
                COALESCE(d.log_position,
                         (SELECT t.id - 1 FROM trajectory_log t WHERE t.decision_id = d.id))
         FROM decisions d
         WHERE ?1 IS NULL OR d.decided_ms < ?1
         ORDER BY d.id",
    )?;
    let mut decisions = decisions.query([until_ms])?;
    let mut trajectories = tx.prepare(
        "SELECT t.id, t.intent_id, t.module_set_id, t.calls, t.run_units, t.correct,
                t.timestamp_ms, t.decision_id, t.served, t.policy_budget, t.order_explored,
                t.answered, t.answered_at, r.composite, r.config_id
         FROM trajectory_log t JOIN reward_events r ON r.trajectory_id = t.id
         ORDER BY t.id",
    )?;
    let mut trajectories = trajectories.query([])?;
    Ok(merge(
        || Ok(next_decision(&mut decisions)?),
        || Ok(next_trajectory(&mut trajectories)?),
        emit,
    )?)
}

/// The next decision with a known place in the log.
fn next_decision(rows: &mut rusqlite::Rows<'_>) -> Result<Option<DecisionRow>, Fail> {
    while let Some(row) = rows.next()? {
        let Some(position) = row.get::<_, Option<i64>>(10)? else {
            continue;
        };
        let explored: i64 = row.get(5)?;
        return Ok(Some(DecisionRow {
            position,
            intent_id: row.get(1)?,
            set_id: row.get(2)?,
            config_id: row.get(8)?,
            decision: LoggedDecision {
                decision_id: row.get(0)?,
                combination: 0,
                budget: row.get(3)?,
                policy_budget: row.get(4)?,
                explored_down: explored & EXPLORED_DOWN != 0,
                first_module: row.get(6)?,
                propensity: row.get(7)?,
                decided_ms: row.get(9)?,
                config: 0,
            },
        }));
    }
    Ok(None)
}

fn next_trajectory(rows: &mut rusqlite::Rows<'_>) -> Result<Option<TrajectoryRow>, Fail> {
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    Ok(Some(TrajectoryRow {
        position: row.get(0)?,
        intent_id: row.get(1)?,
        set_id: row.get(2)?,
        calls: row.get(3)?,
        run_units: row.get(4)?,
        correct: row.get(5)?,
        timestamp_ms: row.get(6)?,
        decision_id: row.get(7)?,
        served: row.get(8)?,
        policy_budget: row.get(9)?,
        order_explored: row.get::<_, Option<bool>>(10)?.unwrap_or(false),
        answered_by: row.get(11)?,
        answered_at: row.get(12)?,
        composite: row.get(13)?,
        config_id: row.get(14)?,
    }))
}
