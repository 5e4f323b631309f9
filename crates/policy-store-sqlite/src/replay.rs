//! The log replayed for off-policy evaluation ([`PolicyBackend::replay_log`]): the stored
//! configs, then decisions and trajectories merged in the order the policy saw them, all read
//! in one read transaction (one snapshot, however long the scan; writers are not held up).
//!
//! A decision goes after the trajectory its `log_position` names (schema version 5); one
//! logged before that version goes just before its own trajectory, and one that never got a
//! trajectory is left out (it would not be a round, and its place is unknown).
//!
//! [`PolicyBackend::replay_log`]: policy_store::PolicyBackend::replay_log

use crate::{Fail, SqlitePolicyStore};
use otc_policy::evaluate::{EvaluateError, LoggedDecision, Replay};
use otc_policy::{ModuleSet, PolicyConfig};
use policy_store::PolicyError;
use policy_store::replay::{LogCursor, TrajectoryRow, merge_log};
use std::collections::HashMap;

/// Bit of `decisions.explored` for a decision that explored one call less (see `decide.rs`).
const EXPLORED_DOWN: i64 = 2;

/// Names of intents and module sets, and the replay's index of each (intent, set) seen.
struct Names {
    intents: HashMap<i64, String>,
    sets: HashMap<i64, ModuleSet>,
    combinations: HashMap<(i64, i64), usize>,
    /// Stored config id to the replay's index.
    configs: HashMap<i64, usize>,
}

impl Names {
    fn config(&self, id: i64) -> Result<usize, Fail> {
        self.configs
            .get(&id)
            .copied()
            .ok_or_else(|| inconsistent(format!("config {id} is not stored")))
    }

    fn combination(
        &mut self,
        replay: &mut Replay,
        intent_id: i64,
        set_id: i64,
    ) -> Result<(usize, usize), Fail> {
        let size = self.sets.get(&set_id).map_or(0, |s| s.names().len());
        if let Some(&index) = self.combinations.get(&(intent_id, set_id)) {
            return Ok((index, size));
        }
        let (Some(intent), Some(set)) = (self.intents.get(&intent_id), self.sets.get(&set_id))
        else {
            return Err(inconsistent(format!(
                "intent {intent_id} or module set {set_id} is not stored"
            )));
        };
        let index = replay.combination(intent, set.names())?;
        self.combinations.insert((intent_id, set_id), index);
        Ok((index, size))
    }
}

fn inconsistent(what: String) -> Fail {
    Fail(PolicyError::Evaluation(EvaluateError::Inconsistent(what)))
}

pub(super) fn replay_log(
    store: &SqlitePolicyStore,
    replay: &mut Replay,
    until_ms: Option<i64>,
) -> Result<(), Fail> {
    let conn = store.reader();
    let tx = conn.unchecked_transaction()?;
    let mut configs = HashMap::new();
    let stored: Vec<(i64, String)> = tx
        .prepare("SELECT id, config_json FROM reward_configs ORDER BY id")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, json) in stored {
        let config: PolicyConfig = serde_json::from_str(&json)
            .map_err(|e| inconsistent(format!("stored config {id} does not parse: {e}")))?;
        configs.insert(id, replay.logging_config(config)?);
    }
    let names = Names {
        intents: tx
            .prepare("SELECT id, name FROM intent_classes")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?,
        sets: tx
            .prepare("SELECT id, modules FROM module_sets")?
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    ModuleSet::from_canonical(&row.get::<_, String>(1)?),
                ))
            })?
            .collect::<Result<_, _>>()?,
        combinations: HashMap::new(),
        configs,
    };
    let mut decisions = tx.prepare(
        "SELECT d.id, d.intent_id, d.module_set_id, d.budget, d.policy_budget, d.explored,
                d.first_module, d.propensity, d.config_id, d.decided_ms,
                COALESCE(d.log_position,
                         (SELECT t.id - 1 FROM trajectory_log t WHERE t.decision_id = d.id))
         FROM decisions d
         WHERE ?1 IS NULL OR d.decided_ms < ?1
         ORDER BY d.id",
    )?;
    let decisions = decisions.query([until_ms])?;
    let mut trajectories = tx.prepare(
        "SELECT t.id, t.intent_id, t.module_set_id, t.calls, t.run_units, t.correct,
                t.timestamp_ms, t.decision_id, t.served, t.policy_budget, t.order_explored,
                t.answered, t.answered_at, r.composite, r.config_id, t.request_id
         FROM trajectory_log t JOIN reward_events r ON r.trajectory_id = t.id
         ORDER BY t.id",
    )?;
    let trajectories = trajectories.query([])?;

    let mut cursor = Cursor {
        decisions,
        trajectories,
        names,
    };
    Ok(merge_log(&mut cursor, replay)?)
}

/// The two cursors over this database's log.
struct Cursor<'s> {
    decisions: rusqlite::Rows<'s>,
    trajectories: rusqlite::Rows<'s>,
    names: Names,
}

impl LogCursor for Cursor<'_> {
    fn next_decision(
        &mut self,
        replay: &mut Replay,
    ) -> Result<Option<(i64, LoggedDecision)>, PolicyError> {
        Ok(next_decision(&mut self.decisions, &mut self.names, replay)?)
    }

    fn next_trajectory(
        &mut self,
        replay: &mut Replay,
        row: &mut TrajectoryRow,
    ) -> Result<bool, PolicyError> {
        Ok(next_trajectory(
            &mut self.trajectories,
            &mut self.names,
            replay,
            row,
        )?)
    }
}

/// The next decision with a known place in the log, and that place.
fn next_decision(
    rows: &mut rusqlite::Rows<'_>,
    names: &mut Names,
    replay: &mut Replay,
) -> Result<Option<(i64, LoggedDecision)>, Fail> {
    while let Some(row) = rows.next()? {
        let Some(position) = row.get::<_, Option<i64>>(10)? else {
            continue;
        };
        let (combination, _) = names.combination(replay, row.get(1)?, row.get(2)?)?;
        let id: i64 = row.get(0)?;
        let explored: i64 = row.get(5)?;
        return Ok(Some((
            position,
            LoggedDecision {
                decision_id: u64::try_from(id)
                    .map_err(|_| inconsistent(format!("decision id {id}")))?,
                combination,
                budget: row.get(3)?,
                policy_budget: row.get(4)?,
                explored_down: explored & EXPLORED_DOWN != 0,
                first_module: row
                    .get::<_, Option<i64>>(6)?
                    .and_then(|i| usize::try_from(i).ok()),
                propensity: row.get(7)?,
                decided_ms: row.get(9)?,
                config: names.config(row.get(8)?)?,
            },
        )));
    }
    Ok(None)
}

/// Reads the next trajectory into `ahead`; false at the end of the log.
fn next_trajectory(
    rows: &mut rusqlite::Rows<'_>,
    names: &mut Names,
    replay: &mut Replay,
    ahead: &mut TrajectoryRow,
) -> Result<bool, Fail> {
    let Some(row) = rows.next()? else {
        return Ok(false);
    };
    let corrupt = |reason: &str| -> Result<Fail, rusqlite::Error> {
        Ok(Fail(PolicyError::CorruptTrajectory {
            request_id: row.get(15)?,
            reason: reason.to_owned(),
        }))
    };
    let (combination, size) = names.combination(replay, row.get(1)?, row.get(2)?)?;
    let calls = row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
    let answered_by: Option<u8> = row.get(11)?;
    if calls
        .iter()
        .chain(answered_by.iter())
        .any(|&i| usize::from(i) >= size)
    {
        return Err(corrupt("a module index is outside its module set")?);
    }
    let answered_at = match row.get::<_, Option<i64>>(12)? {
        None => None,
        Some(at) => match u32::try_from(at) {
            Ok(at) if at as usize <= calls.len() => Some(at),
            _ => return Err(corrupt("answered_at is beyond its calls")?),
        },
    };
    ahead.calls.clear();
    ahead.calls.extend_from_slice(calls);
    ahead.position = row.get(0)?;
    ahead.combination = combination;
    ahead.run_units = row.get(4)?;
    ahead.correct = row.get(5)?;
    ahead.timestamp_ms = row.get(6)?;
    ahead.decision_id = row
        .get::<_, Option<i64>>(7)?
        .and_then(|d| u64::try_from(d).ok());
    ahead.served = row.get(8)?;
    ahead.policy_budget = row.get(9)?;
    ahead.order_explored = row.get::<_, Option<bool>>(10)?.unwrap_or(false);
    ahead.answered_by = answered_by;
    ahead.answered_at = answered_at;
    ahead.composite = row.get(13)?;
    ahead.config = names.config(row.get(14)?)?;
    Ok(true)
}
