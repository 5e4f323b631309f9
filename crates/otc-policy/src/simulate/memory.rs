//! [`MemoryPolicy`]: the policy without a database, for fast seeded simulations. It folds
//! trajectories through the same [`CombinationState::observe`] and advises through the same
//! [`crate::advice`] functions as the policy stores, numbering decisions the same way (1, 2, …),
//! so a simulation gives the same decisions against either (policy-store's conformance suite
//! checks it for every backend).

use super::Advisor;
use crate::advice::{Context, Decision, decide};
use crate::config::PolicyConfig;
use crate::cost::CostError;
use crate::decision::Sibling;
use crate::evaluate::{LoggedDecision, LoggedTrajectory, MemoryLog};
use crate::reward::RewardError;
use crate::state::{CombinationState, Observation};
use crate::trajectory::{ModuleSet, Trajectory, ValidationError};
use std::collections::{BTreeMap, HashMap};

/// What a logged decision tells the state about the trajectory it served.
#[derive(Debug, Clone, Copy)]
struct Served {
    budget: u32,
    policy_budget: u32,
    order_explored: bool,
}

/// Why [`MemoryPolicy`] refused a decision or a report: the input, or a score that could not
/// be computed (an input that escaped validation).
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The intent, module set or trajectory failed validation.
    #[error("invalid input: {0}")]
    Invalid(ValidationError),
    /// The reward could not be computed.
    #[error(transparent)]
    Reward(#[from] RewardError),
    /// The cost could not be normalised.
    #[error(transparent)]
    Cost(#[from] CostError),
}

// By hand, not `#[from]`: the cause is in the message, so it must not also be the `source()`.
impl From<ValidationError> for MemoryError {
    fn from(err: ValidationError) -> Self {
        Self::Invalid(err)
    }
}

/// An in-memory policy.
#[derive(Debug)]
pub struct MemoryPolicy {
    config: PolicyConfig,
    /// Keyed by (intent, canonical module set), so an intent's sets are adjacent and ordered
    /// by canonical text, as the store reads them.
    states: BTreeMap<(String, String), (ModuleSet, CombinationState)>,
    decisions: HashMap<u64, Served>,
    /// Probes (decisions serving one call less) still waiting for their trajectory, by
    /// combination: decision id and when it was decided.
    pending_probes: HashMap<(String, String), HashMap<u64, i64>>,
    next_decision: u64,
    now_ms: i64,
    /// Every decision and trajectory, when recording (for off-policy evaluation).
    log: Option<MemoryLog>,
}

impl MemoryPolicy {
    /// An empty policy under `config`.
    pub fn new(config: PolicyConfig) -> Self {
        Self {
            config,
            states: BTreeMap::new(),
            decisions: HashMap::new(),
            pending_probes: HashMap::new(),
            next_decision: 1,
            now_ms: 0,
            log: None,
        }
    }

    /// An empty policy under `config` that keeps a log of its decisions and trajectories,
    /// for [`crate::evaluate`].
    pub fn recording(config: PolicyConfig) -> Self {
        Self {
            log: Some(MemoryLog::default()),
            ..Self::new(config)
        }
    }

    /// The log kept, if recording.
    pub fn log(&self) -> Option<&MemoryLog> {
        self.log.as_ref()
    }

    /// The state of (intent, module set), if any trajectory of it was observed.
    pub fn state(&self, intent: &str, modules: &[String]) -> Option<&CombinationState> {
        let set = ModuleSet::new(modules).ok()?;
        self.states
            .get(&(intent.to_owned(), set.canonical()))
            .map(|(_, state)| state)
    }
}

impl Advisor for MemoryPolicy {
    type Error = MemoryError;

    fn decide(&mut self, intent: &str, modules: &[String]) -> Result<Decision, MemoryError> {
        crate::trajectory::check_names(intent, modules)?;
        let set = ModuleSet::new(modules)?;
        let key = (intent.to_owned(), set.canonical());
        let siblings = self
            .states
            .range((intent.to_owned(), String::new())..)
            .take_while(|((i, _), _)| i == intent)
            .filter(|((_, canonical), _)| *canonical != key.1)
            .map(|(_, (s, state))| Sibling {
                modules: s.names(),
                budget: &state.budget,
                arms: &state.arms,
            })
            .collect();
        let ctx = Context {
            modules: set.names(),
            exact: self.states.get(&key).map(|(_, state)| state),
            siblings,
        };
        let id = self.next_decision;
        let since = self.now_ms - crate::advice::PROBE_PENDING_MS;
        let probe_pending = self
            .pending_probes
            .get(&key)
            .is_some_and(|probes| probes.values().any(|&at| at >= since));
        let decision = decide(intent, &ctx, &self.config, id, self.now_ms, probe_pending);
        self.next_decision += 1;
        if decision.explored.budget == Some(crate::budget::Direction::Down) {
            self.pending_probes
                .entry(key)
                .or_default()
                .insert(id, self.now_ms);
        }
        if let Some(log) = &mut self.log {
            let combination = log.combination(intent, set.names());
            log.decision(LoggedDecision {
                decision_id: id,
                combination,
                budget: decision.budget,
                policy_budget: decision.policy_budget,
                explored_down: decision.explored.budget == Some(crate::budget::Direction::Down),
                first_module: decision.order.first().and_then(|m| set.index_of(m)),
                propensity: decision.propensity,
                decided_ms: decision.decided_ms,
                config: 0,
            });
        }
        self.decisions.insert(
            id,
            Served {
                budget: decision.budget,
                policy_budget: decision.policy_budget,
                order_explored: decision.explored.order,
            },
        );
        Ok(decision)
    }

    fn report(&mut self, trajectory: &Trajectory) -> Result<(), MemoryError> {
        let set = trajectory.validated_set(trajectory.timestamp_ms)?;
        let calls = set.encode_calls(&trajectory.calls)?;
        let served = trajectory.decision_id.and_then(|id| {
            for probes in self.pending_probes.values_mut() {
                probes.remove(&id);
            }
            let served = self.decisions.get(&id)?;
            Some((served.budget, served.policy_budget, served.order_explored))
        });
        let answered_by = trajectory
            .answered_by
            .as_ref()
            .and_then(|m| set.index_of(m))
            .and_then(|i| u8::try_from(i).ok());
        let r_cost = self
            .config
            .cost
            .r_cost(&trajectory.intent, trajectory.run_units)?;
        self.now_ms = self.now_ms.max(trajectory.timestamp_ms);
        let modules = set.names().len();
        let combination = self
            .log
            .as_mut()
            .map(|log| log.combination(&trajectory.intent, set.names()));
        let (_, state) = self
            .states
            .entry((trajectory.intent.clone(), set.canonical()))
            .or_insert_with(|| (set, CombinationState::new(modules)));
        let score = state.observe(
            &Observation {
                calls: &calls,
                correct: trajectory.correct,
                r_cost,
                timestamp_ms: trajectory.timestamp_ms,
                served: served.map(|s| s.0),
                policy_budget: served.map(|s| s.1),
                answered_by,
                answered_at: trajectory.answered_at,
                order_explored: served.is_some_and(|s| s.2),
            },
            &self.config,
        )?;
        if let (Some(log), Some(combination)) = (&mut self.log, combination) {
            log.trajectory(&LoggedTrajectory {
                combination,
                calls: &calls,
                correct: trajectory.correct,
                run_units: trajectory.run_units,
                timestamp_ms: trajectory.timestamp_ms,
                decision_id: trajectory.decision_id.filter(|_| served.is_some()),
                served: served.map(|s| s.0),
                policy_budget: served.map(|s| s.1),
                order_explored: served.is_some_and(|s| s.2),
                answered_by,
                answered_at: trajectory.answered_at,
                composite: score.composite,
                config: 0,
            });
        }
        Ok(())
    }
}
