//! The log read for off-policy evaluation ([`PolicyBackend::replay_log`]): the stored configs
//! and names, then decisions and trajectories merged in the order the policy saw them
//! ([`policy_store::replay`]), through two portals of one read-only snapshot, [`FETCH_ROWS`]
//! rows at a time.
//!
//! A decision goes after the trajectory its `log_position` names (migration 3); one logged
//! before goes just before its own trajectory, and one that never got a trajectory is left
//! out (it would not be a round, and its place is unknown). With several replicas a
//! decision's position is the log as its replica saw it under the writer lock, which is what
//! it was decided from.
//!
//! [`PolicyBackend::replay_log`]: policy_store::PolicyBackend::replay_log

use crate::read::FETCH_ROWS;
use crate::{Fail, PostgresPolicyStore};
use otc_policy::evaluate::LoggedDecision;
use otc_policy::{ModuleSet, PolicyConfig};
use policy_store::PolicyError;
use policy_store::replay::{DecisionRow, LogEvent, TrajectoryRow, inconsistent, merge};
use postgres::{Portal, Row, Transaction};
use std::cell::RefCell;
use std::collections::VecDeque;

/// Bit of `decisions.explored` for a decision that explored one call less (see `decide.rs`).
const EXPLORED_DOWN: i16 = 2;

/// Emits the log's events in order (see [`policy_store::replay::run`]).
pub(crate) fn read_log(
    store: &PostgresPolicyStore,
    until_ms: Option<i64>,
    emit: &mut dyn FnMut(LogEvent) -> bool,
) -> Result<(), Fail> {
    store.read(|tx| {
        let mut configs = Vec::new();
        for row in tx.query(
            "SELECT id, config_json FROM reward_configs ORDER BY id",
            &[],
        )? {
            let id: i64 = row.get(0);
            let config: PolicyConfig = serde_json::from_str(row.get(1))
                .map_err(|e| inconsistent(format!("stored config {id} does not parse: {e}")))?;
            configs.push((id, config));
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
        if !emit(LogEvent::Configs(configs)) || !emit(LogEvent::Names { intents, sets }) {
            return Ok(());
        }
        let decisions = tx.bind(
            "SELECT * FROM (
                 SELECT d.id, d.intent_id, d.module_set_id, d.budget, d.policy_budget,
                        d.explored, d.first_module, d.propensity, d.config_id, d.decided_ms,
                        COALESCE(d.log_position,
                                 (SELECT k.trajectory_id - 1 FROM trajectory_keys k
                                  WHERE k.decision_id = d.id)) AS position
                 FROM decisions d
                 WHERE $1::BIGINT IS NULL OR d.decided_ms < $1) placed
             WHERE position IS NOT NULL
             ORDER BY id",
            &[&until_ms],
        )?;
        let trajectories = tx.bind(
            "SELECT t.id, t.intent_id, t.module_set_id, t.calls, t.run_units, t.correct,
                    t.timestamp_ms, t.decision_id, t.served, t.policy_budget, t.order_explored,
                    t.answered, t.answered_at, r.composite, r.config_id
             FROM trajectory_log t
             JOIN reward_events r ON r.trajectory_id = t.id AND r.logged_ms = t.logged_ms
             ORDER BY t.id",
            &[],
        )?;
        // Both cursors page through the one transaction.
        let tx = RefCell::new(tx);
        let mut decisions = Pages::new(decisions);
        let mut trajectories = Pages::new(trajectories);
        Ok(merge(
            || match decisions.next(&mut tx.borrow_mut())? {
                Some(row) => decision(&row).map(Some),
                None => Ok(None),
            },
            || match trajectories.next(&mut tx.borrow_mut())? {
                Some(row) => trajectory(&row).map(Some),
                None => Ok(None),
            },
            emit,
        )?)
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

/// A stored count as the policy's `u32`.
fn count(value: i64, what: &str) -> Result<u32, PolicyError> {
    u32::try_from(value).map_err(|_| inconsistent(format!("{what} {value} is out of range")))
}

/// A decision row (the query leaves out those without a known place in the log).
fn decision(row: &Row) -> Result<DecisionRow, PolicyError> {
    let id: i64 = row.get(0);
    let explored: i16 = row.get(5);
    Ok(DecisionRow {
        position: row.get(10),
        intent_id: row.get(1),
        set_id: row.get(2),
        config_id: row.get(8),
        decision: LoggedDecision {
            decision_id: u64::try_from(id)
                .map_err(|_| inconsistent(format!("decision id {id}")))?,
            combination: 0,
            budget: count(row.get(3), "a decision's budget")?,
            policy_budget: count(row.get(4), "a decision's policy budget")?,
            explored_down: explored & EXPLORED_DOWN != 0,
            first_module: row
                .get::<_, Option<i16>>(6)
                .and_then(|i| usize::try_from(i).ok()),
            propensity: row.get(7),
            decided_ms: row.get(9),
            config: 0,
        },
    })
}

fn trajectory(row: &Row) -> Result<TrajectoryRow, PolicyError> {
    let optional = |i: usize, what: &str| -> Result<Option<u32>, PolicyError> {
        row.get::<_, Option<i64>>(i)
            .map(|v| count(v, what))
            .transpose()
    };
    Ok(TrajectoryRow {
        position: row.get(0),
        intent_id: row.get(1),
        set_id: row.get(2),
        calls: row.get::<_, &[u8]>(3).to_vec(),
        run_units: row.get(4),
        correct: row.get(5),
        timestamp_ms: row.get(6),
        decision_id: row
            .get::<_, Option<i64>>(7)
            .and_then(|d| u64::try_from(d).ok()),
        served: optional(8, "a served budget")?,
        policy_budget: optional(9, "a policy budget")?,
        order_explored: row.get::<_, Option<bool>>(10).unwrap_or(false),
        answered_by: row
            .get::<_, Option<i16>>(11)
            .map(|i| u8::try_from(i).map_err(|_| inconsistent(format!("module index {i}"))))
            .transpose()?,
        answered_at: optional(12, "answered_at")?,
        composite: row.get(13),
        config_id: row.get(14),
    })
}
