//! What every backend's [`PolicyBackend::replay_log`] shares: the merge of the decision log and
//! the trajectory log into the order the policy saw them, over any database's cursors
//! ([`LogCursor`]), and the trajectory row a cursor reads ahead ([`TrajectoryRow`]).
//!
//! [`PolicyBackend::replay_log`]: crate::PolicyBackend::replay_log

use crate::PolicyError;
use otc_policy::evaluate::{LoggedDecision, LoggedTrajectory, Replay};

/// A trajectory as a cursor reads it ahead of the merge, its calls in a buffer reused row
/// after row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrajectoryRow {
    /// Its place in the log (the log's id).
    pub position: i64,
    /// Its combination in the replay.
    pub combination: usize,
    /// Its calls, as module indices.
    pub calls: Vec<u8>,
    /// Whether the answer was correct.
    pub correct: bool,
    /// Metered run-units.
    pub run_units: f64,
    /// When it completed, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The decision it answers.
    pub decision_id: Option<u64>,
    /// The budget its decision served.
    pub served: Option<u32>,
    /// The policy's budget its decision was taken at.
    pub policy_budget: Option<u32>,
    /// Whether its decision explored the module order.
    pub order_explored: bool,
    /// The module that answered, as an index.
    pub answered_by: Option<u8>,
    /// Which call answered.
    pub answered_at: Option<u32>,
    /// Its logged composite reward.
    pub composite: f64,
    /// The config it was scored under, as the replay's index.
    pub config: usize,
}

impl TrajectoryRow {
    /// The row as the replay reads it.
    pub fn logged(&self) -> LoggedTrajectory<'_> {
        LoggedTrajectory {
            combination: self.combination,
            calls: &self.calls,
            correct: self.correct,
            run_units: self.run_units,
            timestamp_ms: self.timestamp_ms,
            decision_id: self.decision_id,
            served: self.served,
            policy_budget: self.policy_budget,
            order_explored: self.order_explored,
            answered_by: self.answered_by,
            answered_at: self.answered_at,
            composite: self.composite,
            config: self.config,
        }
    }
}

/// A backend's two cursors over its log, each in log order.
pub trait LogCursor {
    /// The next decision with a known place in the log, and that place: the position of the
    /// last trajectory logged before it was taken. Registers its combination with `replay`.
    fn next_decision(
        &mut self,
        replay: &mut Replay,
    ) -> Result<Option<(i64, LoggedDecision)>, PolicyError>;

    /// Reads the next trajectory into `row` (registering its combination with `replay`);
    /// false at the end of the log.
    fn next_trajectory(
        &mut self,
        replay: &mut Replay,
        row: &mut TrajectoryRow,
    ) -> Result<bool, PolicyError>;
}

/// Feeds `replay` from `cursor`: each decision after the trajectories at or before its
/// position, before the next.
pub fn merge_log(cursor: &mut impl LogCursor, replay: &mut Replay) -> Result<(), PolicyError> {
    let mut decision = cursor.next_decision(replay)?;
    let mut row = TrajectoryRow::default();
    let mut has_row = cursor.next_trajectory(replay, &mut row)?;
    loop {
        match decision {
            Some((position, d)) if !has_row || position < row.position => {
                replay.decision(&d)?;
                decision = cursor.next_decision(replay)?;
            }
            _ if has_row => {
                replay.trajectory(&row.logged())?;
                has_row = cursor.next_trajectory(replay, &mut row)?;
            }
            _ => return Ok(()),
        }
    }
}
