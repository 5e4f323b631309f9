//! What every backend's [`PolicyBackend::replay_log`] shares. A backend reads its log as
//! [`LogEvent`]s in the order the policy saw it (its two cursors merged by [`merge`]); [`run`]
//! reads them on a thread of their own and feeds them to the replay on the caller's, so the
//! database scan and the replay overlap (two cores: the scan costs about a third of the
//! replay), resolving the backend's ids to the replay's combinations and configs on the way.
//!
//! [`PolicyBackend::replay_log`]: crate::PolicyBackend::replay_log

use crate::PolicyError;
use otc_policy::evaluate::{EvaluateError, IdMap, LoggedDecision, LoggedTrajectory, Replay};
use otc_policy::{ModuleSet, PolicyConfig};
use std::sync::mpsc;

/// Events sent to the replaying thread at a time.
const BATCH: usize = 4096;
/// Batches in flight between the threads (bounds the memory the scan can run ahead by).
const IN_FLIGHT: usize = 4;

/// A trajectory as a backend reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrajectoryRow {
    /// Its place in the log (the log's id).
    pub position: i64,
    /// Its intent's id in the backend.
    pub intent_id: i64,
    /// Its module set's id in the backend.
    pub set_id: i64,
    /// Its calls, as module indices (checked against the set by the reader).
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
    /// The id of the config it was scored under.
    pub config_id: i64,
}

/// A decision as a backend reads it; `decision.combination` and `decision.config` are filled
/// in by [`run`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRow {
    /// The position of the last trajectory logged before it was taken.
    pub position: i64,
    /// Its intent's id in the backend.
    pub intent_id: i64,
    /// Its module set's id in the backend.
    pub set_id: i64,
    /// The id of the config it was decided under.
    pub config_id: i64,
    /// The rest, as the replay reads it.
    pub decision: LoggedDecision,
}

/// One item of a backend's log, in the order [`run`] needs them: the configs and names
/// first, then decisions and trajectories merged.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    /// Every stored config, by id.
    Configs(Vec<(i64, PolicyConfig)>),
    /// Every stored intent and module set, by id.
    Names {
        /// Intents.
        intents: Vec<(i64, String)>,
        /// Module sets.
        sets: Vec<(i64, ModuleSet)>,
    },
    /// A decision.
    Decision(DecisionRow),
    /// A trajectory.
    Trajectory(TrajectoryRow),
}

/// Merges a backend's two cursors, each in log order: each decision after the trajectories
/// at or before its position, before the next. `emit` returns false when the reader should
/// stop (the replay failed).
pub fn merge(
    mut next_decision: impl FnMut() -> Result<Option<DecisionRow>, PolicyError>,
    mut next_trajectory: impl FnMut() -> Result<Option<TrajectoryRow>, PolicyError>,
    emit: &mut dyn FnMut(LogEvent) -> bool,
) -> Result<(), PolicyError> {
    let mut decision = next_decision()?;
    let mut trajectory = next_trajectory()?;
    loop {
        let event = match (decision, &trajectory) {
            (Some(d), t) if t.as_ref().is_none_or(|t| d.position < t.position) => {
                decision = next_decision()?;
                LogEvent::Decision(d)
            }
            (_, Some(_)) => {
                let row = trajectory.take();
                trajectory = next_trajectory()?;
                LogEvent::Trajectory(row.unwrap_or_default())
            }
            (_, None) => return Ok(()),
        };
        if !emit(event) {
            return Ok(());
        }
    }
}

/// Runs `read` (a backend's reader: emits its log's events in order) on a thread of its own
/// and feeds what it reads to `replay` on this one.
pub fn run(
    replay: &mut Replay,
    read: impl FnOnce(&mut dyn FnMut(LogEvent) -> bool) -> Result<(), PolicyError> + Send,
) -> Result<(), PolicyError> {
    let (send, receive) = mpsc::sync_channel::<Vec<LogEvent>>(IN_FLIGHT);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let result = read(&mut |event| {
                batch.push(event);
                if batch.len() < BATCH {
                    return true;
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                send.send(full).is_ok()
            });
            if result.is_ok() && !batch.is_empty() {
                // A closed channel means the replay stopped on an error of its own.
                let _ = send.send(batch);
            }
            result
        });
        let mut feed = Feed::default();
        let replayed = receive
            .iter()
            .flatten()
            .try_for_each(|event| feed.event(replay, event));
        // Hang up first, so a reader still sending stops, then hear why it ended.
        drop(receive);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        replayed.and(read)
    })
}

/// The backend's ids resolved to the replay's indices.
#[derive(Default)]
struct Feed {
    configs: IdMap<i64, usize>,
    intents: IdMap<i64, String>,
    sets: IdMap<i64, ModuleSet>,
    combinations: IdMap<(i64, i64), (usize, usize)>,
}

/// The error of a log that cannot be replayed as stored.
pub fn inconsistent(what: String) -> PolicyError {
    PolicyError::Evaluation(EvaluateError::Inconsistent(what))
}

impl Feed {
    fn event(&mut self, replay: &mut Replay, event: LogEvent) -> Result<(), PolicyError> {
        match event {
            LogEvent::Configs(configs) => {
                for (id, config) in configs {
                    self.configs.insert(id, replay.logging_config(config)?);
                }
            }
            LogEvent::Names { intents, sets } => {
                self.intents.extend(intents);
                self.sets.extend(sets);
            }
            LogEvent::Decision(row) => {
                let (combination, _) = self.combination(replay, row.intent_id, row.set_id)?;
                replay.decision(&LoggedDecision {
                    combination,
                    config: self.config(row.config_id)?,
                    ..row.decision
                })?;
            }
            LogEvent::Trajectory(row) => {
                let (combination, size) = self.combination(replay, row.intent_id, row.set_id)?;
                if row
                    .calls
                    .iter()
                    .chain(row.answered_by.iter())
                    .any(|&i| usize::from(i) >= size)
                {
                    return Err(inconsistent(format!(
                        "trajectory {} names a module outside its module set",
                        row.position
                    )));
                }
                // Ingest stores only positions within the calls; anything else was written by
                // hand, and folding it would give a state no ingest could.
                if row
                    .answered_at
                    .is_some_and(|at| at as usize > row.calls.len())
                {
                    return Err(inconsistent(format!(
                        "trajectory {} says a call beyond its calls answered",
                        row.position
                    )));
                }
                replay.trajectory(&LoggedTrajectory {
                    combination,
                    calls: &row.calls,
                    correct: row.correct,
                    run_units: row.run_units,
                    timestamp_ms: row.timestamp_ms,
                    decision_id: row.decision_id,
                    served: row.served,
                    policy_budget: row.policy_budget,
                    order_explored: row.order_explored,
                    answered_by: row.answered_by,
                    answered_at: row.answered_at,
                    composite: row.composite,
                    config: self.config(row.config_id)?,
                })?;
            }
        }
        Ok(())
    }

    fn config(&self, id: i64) -> Result<usize, PolicyError> {
        self.configs
            .get(&id)
            .copied()
            .ok_or_else(|| inconsistent(format!("config {id} is not stored")))
    }

    /// The replay's index of (intent, set) and the set's size, registering it the first time.
    fn combination(
        &mut self,
        replay: &mut Replay,
        intent_id: i64,
        set_id: i64,
    ) -> Result<(usize, usize), PolicyError> {
        if let Some(&known) = self.combinations.get(&(intent_id, set_id)) {
            return Ok(known);
        }
        let (Some(intent), Some(set)) = (self.intents.get(&intent_id), self.sets.get(&set_id))
        else {
            return Err(inconsistent(format!(
                "intent {intent_id} or module set {set_id} is not stored"
            )));
        };
        let known = (replay.combination(intent, set.names())?, set.names().len());
        self.combinations.insert((intent_id, set_id), known);
        Ok(known)
    }
}
