//! The log replayed for off-policy evaluation ([`PolicyBackend::replay_log`]): the stored
//! configs, then decisions and trajectories merged in the order the policy saw them
//! ([`policy_store::replay::merge_log`]), through two portals of one read-only snapshot,
//! [`FETCH_ROWS`] rows at a time.
//!
//! A decision goes after the trajectory its `log_position` names (migration 3); one logged
//! before goes just before its own trajectory, and one that never got a trajectory is left
//! out (it would not be a round, and its place is unknown). With several replicas a
//! decision's position is the log as its replica's snapshot saw it, which is what it was
//! decided from.
//!
//! [`PolicyBackend::replay_log`]: policy_store::PolicyBackend::replay_log

use crate::read::FETCH_ROWS;
use crate::{Fail, PostgresPolicyStore};
use otc_policy::evaluate::{EvaluateError, LoggedDecision, Replay};
use otc_policy::{ModuleSet, PolicyConfig};
use policy_store::PolicyError;
use policy_store::replay::{LogCursor, TrajectoryRow, merge_log};
use postgres::{Portal, Row, Transaction};
use std::collections::{HashMap, VecDeque};

/// Bit of `decisions.explored` for a decision that explored one call less (see `decide.rs`).
const EXPLORED_DOWN: i16 = 2;

fn inconsistent(what: String) -> PolicyError {
    PolicyError::Evaluation(EvaluateError::Inconsistent(what))
}

pub(crate) fn replay_log(
    store: &PostgresPolicyStore,
    replay: &mut Replay,
    until_ms: Option<i64>,
) -> Result<(), Fail> {
    store.read(|tx| {
        let mut configs = HashMap::new();
        for row in tx.query(
            "SELECT id, config_json FROM reward_configs ORDER BY id",
            &[],
        )? {
            let id: i64 = row.get(0);
            let config: PolicyConfig = serde_json::from_str(row.get(1))
                .map_err(|e| inconsistent(format!("stored config {id} does not parse: {e}")))?;
            configs.insert(id, replay.logging_config(config)?);
        }
        let intents = tx
            .query("SELECT id, name FROM intent_classes", &[])?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let sets = tx
            .query("SELECT id, modules FROM module_sets", &[])?
            .iter()
            .map(|row| (row.get(0), ModuleSet::from_canonical(row.get(1))))
            .collect();
        let decisions = tx.bind(
            "SELECT d.id, d.intent_id, d.module_set_id, d.budget, d.policy_budget, d.explored,
                    d.first_module, d.propensity, d.config_id, d.decided_ms,
                    COALESCE(d.log_position,
                             (SELECT t.id - 1 FROM trajectory_log t WHERE t.decision_id = d.id))
             FROM decisions d
             WHERE $1::BIGINT IS NULL OR d.decided_ms < $1
             ORDER BY d.id",
            &[&until_ms],
        )?;
        let trajectories = tx.bind(
            "SELECT t.id, t.intent_id, t.module_set_id, t.calls, t.run_units, t.correct,
                    t.timestamp_ms, t.decision_id, t.served, t.policy_budget, t.order_explored,
                    t.answered, t.answered_at, r.composite, r.config_id, t.request_id
             FROM trajectory_log t JOIN reward_events r ON r.trajectory_id = t.id
             ORDER BY t.id",
            &[],
        )?;
        let mut cursor = Cursor {
            tx,
            decisions: Pages::new(decisions),
            trajectories: Pages::new(trajectories),
            intents,
            sets,
            combinations: HashMap::new(),
            configs,
        };
        Ok(merge_log(&mut cursor, replay)?)
    })
}

/// One portal's rows, a page at a time.
struct Pages {
    portal: Portal,
    page: VecDeque<Row>,
    done: bool,
}

impl Pages {
    fn new(portal: Portal) -> Self {
        Self {
            portal,
            page: VecDeque::new(),
            done: false,
        }
    }

    fn next(&mut self, tx: &mut Transaction<'_>) -> Result<Option<Row>, PolicyError> {
        if self.page.is_empty() && !self.done {
            let rows = tx
                .query_portal(&self.portal, FETCH_ROWS)
                .map_err(|e| PolicyError::from(Fail::from(e)))?;
            self.done = rows.len() < FETCH_ROWS as usize;
            self.page.extend(rows);
        }
        Ok(self.page.pop_front())
    }
}

/// The two portals over this database's log, and the names they refer to.
struct Cursor<'a, 't> {
    tx: &'a mut Transaction<'t>,
    decisions: Pages,
    trajectories: Pages,
    intents: HashMap<i64, String>,
    sets: HashMap<i64, ModuleSet>,
    combinations: HashMap<(i64, i64), usize>,
    configs: HashMap<i64, usize>,
}

impl Cursor<'_, '_> {
    fn combination(
        &mut self,
        replay: &mut Replay,
        intent_id: i64,
        set_id: i64,
    ) -> Result<(usize, usize), PolicyError> {
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

    fn config(&self, id: i64) -> Result<usize, PolicyError> {
        self.configs
            .get(&id)
            .copied()
            .ok_or_else(|| inconsistent(format!("config {id} is not stored")))
    }
}

/// A stored budget as the policy's `u32`.
fn budget(row: &Row, column: usize, what: &str) -> Result<u32, PolicyError> {
    u32::try_from(row.get::<_, i64>(column))
        .map_err(|_| inconsistent(format!("{what} is out of range")))
}

impl LogCursor for Cursor<'_, '_> {
    fn next_decision(
        &mut self,
        replay: &mut Replay,
    ) -> Result<Option<(i64, LoggedDecision)>, PolicyError> {
        while let Some(row) = self.decisions.next(self.tx)? {
            let Some(position) = row.get::<_, Option<i64>>(10) else {
                continue;
            };
            let (combination, _) = self.combination(replay, row.get(1), row.get(2))?;
            let id: i64 = row.get(0);
            let explored: i16 = row.get(5);
            return Ok(Some((
                position,
                LoggedDecision {
                    decision_id: u64::try_from(id)
                        .map_err(|_| inconsistent(format!("decision id {id}")))?,
                    combination,
                    budget: budget(&row, 3, "a decision's budget")?,
                    policy_budget: budget(&row, 4, "a decision's policy budget")?,
                    explored_down: explored & EXPLORED_DOWN != 0,
                    first_module: row
                        .get::<_, Option<i16>>(6)
                        .and_then(|i| usize::try_from(i).ok()),
                    propensity: row.get(7),
                    decided_ms: row.get(9),
                    config: self.config(row.get(8))?,
                },
            )));
        }
        Ok(None)
    }

    fn next_trajectory(
        &mut self,
        replay: &mut Replay,
        ahead: &mut TrajectoryRow,
    ) -> Result<bool, PolicyError> {
        let Some(row) = self.trajectories.next(self.tx)? else {
            return Ok(false);
        };
        let corrupt = |reason: &str| PolicyError::CorruptTrajectory {
            request_id: row.get(15),
            reason: reason.to_owned(),
        };
        let (combination, size) = self.combination(replay, row.get(1), row.get(2))?;
        let calls: &[u8] = row.get(3);
        let answered_by = match row.get::<_, Option<i16>>(11) {
            None => None,
            Some(i) => Some(
                u8::try_from(i).map_err(|_| corrupt("a module index is outside its module set"))?,
            ),
        };
        if calls
            .iter()
            .chain(answered_by.iter())
            .any(|&i| usize::from(i) >= size)
        {
            return Err(corrupt("a module index is outside its module set"));
        }
        let answered_at = match row.get::<_, Option<i64>>(12) {
            None => None,
            Some(at) => match u32::try_from(at) {
                Ok(at) if at as usize <= calls.len() => Some(at),
                _ => return Err(corrupt("answered_at is beyond its calls")),
            },
        };
        let optional_budget = |i: usize| -> Result<Option<u32>, PolicyError> {
            row.get::<_, Option<i64>>(i)
                .map(u32::try_from)
                .transpose()
                .map_err(|_| corrupt("its served budget is out of range"))
        };
        ahead.calls.clear();
        ahead.calls.extend_from_slice(calls);
        ahead.position = row.get(0);
        ahead.combination = combination;
        ahead.run_units = row.get(4);
        ahead.correct = row.get(5);
        ahead.timestamp_ms = row.get(6);
        ahead.decision_id = row
            .get::<_, Option<i64>>(7)
            .and_then(|d| u64::try_from(d).ok());
        ahead.served = optional_budget(8)?;
        ahead.policy_budget = optional_budget(9)?;
        ahead.order_explored = row.get::<_, Option<bool>>(10).unwrap_or(false);
        ahead.answered_by = answered_by;
        ahead.answered_at = answered_at;
        ahead.composite = row.get(13);
        ahead.config = self.config(row.get(14))?;
        Ok(true)
    }
}
