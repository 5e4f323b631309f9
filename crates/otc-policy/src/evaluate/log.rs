//! [`MemoryLog`]: a decision and trajectory log held in memory (the simulator's, see
//! [`crate::simulate::MemoryPolicy::recording`]), replayable for any candidate.

use super::{EvaluateError, EvaluationReport, LoggedDecision, LoggedTrajectory, Replay, Scope};
use crate::config::PolicyConfig;

/// A trajectory as [`MemoryLog`] keeps it (its calls owned).
#[derive(Debug, Clone, PartialEq)]
struct Kept {
    combination: usize,
    calls: Vec<u8>,
    correct: bool,
    run_units: f64,
    timestamp_ms: i64,
    decision_id: Option<u64>,
    served: Option<u32>,
    policy_budget: Option<u32>,
    order_explored: bool,
    answered_by: Option<u8>,
    answered_at: Option<u32>,
    composite: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Decision(LoggedDecision),
    Trajectory(Kept),
}

/// A log of one logging config's decisions and trajectories, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryLog {
    combinations: Vec<(String, Vec<String>)>,
    events: Vec<Event>,
}

impl MemoryLog {
    /// The index of (intent, canonical module set), registering it the first time.
    pub fn combination(&mut self, intent: &str, canonical: &[String]) -> usize {
        match self
            .combinations
            .iter()
            .position(|(i, m)| i == intent && m == canonical)
        {
            Some(index) => index,
            None => {
                self.combinations
                    .push((intent.to_owned(), canonical.to_vec()));
                self.combinations.len() - 1
            }
        }
    }

    /// Appends a decision (its `config` is ignored: a memory log has one logging config).
    pub fn decision(&mut self, decision: LoggedDecision) {
        self.events.push(Event::Decision(decision));
    }

    /// Appends a trajectory (its `config` is ignored, as for decisions).
    pub fn trajectory(&mut self, trajectory: &LoggedTrajectory<'_>) {
        self.events.push(Event::Trajectory(Kept {
            combination: trajectory.combination,
            calls: trajectory.calls.to_vec(),
            correct: trajectory.correct,
            run_units: trajectory.run_units,
            timestamp_ms: trajectory.timestamp_ms,
            decision_id: trajectory.decision_id,
            served: trajectory.served,
            policy_budget: trajectory.policy_budget,
            order_explored: trajectory.order_explored,
            answered_by: trajectory.answered_by,
            answered_at: trajectory.answered_at,
            composite: trajectory.composite,
        }));
    }

    /// Decisions logged.
    pub fn decisions(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Decision(_)))
            .count()
    }

    /// What `candidate` would have done on this log, which `logging` decided and scored.
    pub fn evaluate(
        &self,
        candidate: &PolicyConfig,
        logging: &PolicyConfig,
        scope: &Scope,
    ) -> Result<EvaluationReport, EvaluateError> {
        let mut replay = Replay::new(candidate.clone(), scope.clone())?;
        replay.logging_config(logging.clone())?;
        for (intent, modules) in &self.combinations {
            replay.combination(intent, modules)?;
        }
        for event in &self.events {
            match event {
                Event::Decision(d) => replay.decision(&LoggedDecision { config: 0, ..*d })?,
                Event::Trajectory(t) => replay.trajectory(&LoggedTrajectory {
                    combination: t.combination,
                    calls: &t.calls,
                    correct: t.correct,
                    run_units: t.run_units,
                    timestamp_ms: t.timestamp_ms,
                    decision_id: t.decision_id,
                    served: t.served,
                    policy_budget: t.policy_budget,
                    order_explored: t.order_explored,
                    answered_by: t.answered_by,
                    answered_at: t.answered_at,
                    composite: t.composite,
                    config: 0,
                })?,
            }
        }
        replay.finish()
    }
}
