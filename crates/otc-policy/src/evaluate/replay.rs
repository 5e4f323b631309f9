//! [`Replay`]: folds the log under the logging configs and the candidate, and turns each logged
//! decision whose trajectory arrived into a round (see the module docs of [`super`]).

use super::model::Model;
use super::path::{Before, PathTerm, draw_variance};
use super::report::{Round, UnsupportedMass, report};
use super::{EvaluateError, EvaluationReport, IdMap, LoggedDecision, LoggedTrajectory, Scope};
use crate::advice::{Context, Grounds, LOAN_ARMS_UNTIL, PROBE_PENDING_MS};
use crate::config::PolicyConfig;
use crate::decision::{Action, Sibling};
use crate::state::{CombinationState, Observation};
use crate::trajectory::{ModuleSet, ValidationError, check_intent, check_names};
use std::collections::HashMap;

/// One (intent, module set) of the log.
#[derive(Debug)]
struct Combination {
    intent: String,
    set: ModuleSet,
    canonical: String,
}

/// A decision in scope waiting for its trajectory.
#[derive(Debug, Clone, Copy)]
struct Open {
    logged_propensity: f64,
    target_probability: f64,
    unsupported: UnsupportedMass,
    model_logged: [f64; 3],
    model_target: [f64; 3],
    /// What the candidate's own draw of an action spreads each outcome ([`draw_variance`]).
    draw_variance: [f64; 3],
}

/// The replay of one log for one candidate. Feed every combination, decision and trajectory
/// in the order the logging policy saw them (a decision after every trajectory logged before
/// it was taken and before every one logged after), then [`Replay::finish`].
#[derive(Debug)]
pub struct Replay {
    candidate: PolicyConfig,
    logging: Vec<PolicyConfig>,
    scope: Scope,
    scope_set: Option<String>,
    combinations: Vec<Combination>,
    index: HashMap<(String, String), usize>,
    /// Each intent's combinations, ordered by canonical module set (as a store reads siblings).
    by_intent: HashMap<String, Vec<usize>>,
    logged_states: Vec<Option<CombinationState>>,
    /// Unused when [`Self::shared_fold`].
    candidate_states: Vec<Option<CombinationState>>,
    /// The candidate folds the log exactly as every logging config does (they differ in
    /// exploration alone, which no fold reads): one fold serves both, at half the cost.
    shared_fold: bool,
    /// Probes (decisions that explored one call less) without their trajectory yet, per
    /// combination: id and when decided.
    probes: Vec<Vec<(u64, i64)>>,
    open: IdMap<u64, Open>,
    model: Model,
    path: PathTerm,
    rounds: Vec<Round>,
    /// Scratch for a decision's candidate actions (budget, probability, prediction).
    drawn: Vec<(u32, f64, [f64; 3])>,
    /// Which logging configs decisions in scope were taken under (by index), and the last's:
    /// what a refusal compares the candidate with (a store may hold configs no decision in
    /// scope used, such as the one it was last opened with).
    decided_under: Vec<bool>,
    last_config: usize,
    decisions: u64,
    mismatches: u64,
    /// An event was replayed: no more logging configs.
    started: bool,
}

impl Replay {
    /// A replay of `candidate` evaluating the decisions in `scope`. Register the logging
    /// configs ([`Self::logging_config`]) before the first event.
    pub fn new(candidate: PolicyConfig, scope: Scope) -> Result<Self, EvaluateError> {
        if let Some(problem) = candidate.problem() {
            return Err(EvaluateError::InvalidConfig(problem));
        }
        let invalid = |e: ValidationError| EvaluateError::InvalidScope(e.to_string());
        if let Some(intent) = &scope.intent {
            check_intent(intent).map_err(invalid)?;
        }
        let scope_set = match &scope.modules {
            Some(modules) => {
                // The names' limits are a trajectory's (any intent stands in when none is set).
                check_names(scope.intent.as_deref().unwrap_or("any"), modules).map_err(invalid)?;
                Some(ModuleSet::new(modules).map_err(invalid)?.canonical())
            }
            None => None,
        };
        Ok(Self {
            shared_fold: true,
            candidate,
            logging: Vec::new(),
            scope,
            scope_set,
            combinations: Vec::new(),
            index: HashMap::new(),
            by_intent: HashMap::new(),
            logged_states: Vec::new(),
            candidate_states: Vec::new(),
            probes: Vec::new(),
            open: IdMap::default(),
            model: Model::default(),
            path: PathTerm::default(),
            rounds: Vec::new(),
            drawn: Vec::new(),
            decided_under: Vec::new(),
            last_config: 0,
            decisions: 0,
            mismatches: 0,
            started: false,
        })
    }

    /// Registers a config the log was decided or scored under; events name it by the index
    /// returned. Every config must be registered before the first event.
    pub fn logging_config(&mut self, config: PolicyConfig) -> Result<usize, EvaluateError> {
        if self.started {
            return Err(EvaluateError::Inconsistent(
                "a logging config was registered after the log started".to_owned(),
            ));
        }
        self.shared_fold &= same_fold(&config, &self.candidate);
        self.logging.push(config);
        Ok(self.logging.len() - 1)
    }

    /// The index of (intent, module set) in this replay, registering it the first time.
    pub fn combination(
        &mut self,
        intent: &str,
        modules: &[String],
    ) -> Result<usize, EvaluateError> {
        let set = ModuleSet::new(modules)
            .map_err(|e| EvaluateError::Inconsistent(format!("module set {modules:?}: {e}")))?;
        let canonical = set.canonical();
        let key = (intent.to_owned(), canonical.clone());
        if let Some(&index) = self.index.get(&key) {
            return Ok(index);
        }
        let index = self.combinations.len();
        let siblings = self.by_intent.entry(intent.to_owned()).or_default();
        let combinations = &self.combinations;
        let at = siblings
            .partition_point(|&other| combinations[other].canonical.as_str() < canonical.as_str());
        siblings.insert(at, index);
        self.combinations.push(Combination {
            intent: intent.to_owned(),
            set,
            canonical,
        });
        self.index.insert(key, index);
        self.logged_states.push(None);
        self.candidate_states.push(None);
        self.probes.push(Vec::new());
        Ok(index)
    }

    fn check(&mut self, combination: usize, config: usize) -> Result<(), EvaluateError> {
        self.started = true;
        if combination >= self.combinations.len() {
            return Err(EvaluateError::Inconsistent(format!(
                "combination {combination} was never registered"
            )));
        }
        if config >= self.logging.len() {
            return Err(EvaluateError::Inconsistent(format!(
                "logging config {config} was not given"
            )));
        }
        Ok(())
    }

    fn in_scope(&self, decision: &LoggedDecision) -> bool {
        self.happened_in_scope(decision.combination, decision.decided_ms)
    }

    /// Whether an event of `combination` at `at_ms` is in scope.
    fn happened_in_scope(&self, combination: usize, at_ms: i64) -> bool {
        let combination = &self.combinations[combination];
        let scope = &self.scope;
        scope
            .intent
            .as_ref()
            .is_none_or(|i| *i == combination.intent)
            && self
                .scope_set
                .as_ref()
                .is_none_or(|s| *s == combination.canonical)
            && scope.since_ms.is_none_or(|t| at_ms >= t)
            && scope.until_ms.is_none_or(|t| at_ms < t)
    }

    /// Replays one logged decision.
    pub fn decision(&mut self, decision: &LoggedDecision) -> Result<(), EvaluateError> {
        self.check(decision.combination, decision.config)?;
        let c = decision.combination;
        let since = decision.decided_ms - PROBE_PENDING_MS;
        self.probes[c].retain(|&(_, at)| at >= since);
        let probe_pending = !self.probes[c].is_empty();
        if decision.explored_down {
            self.probes[c].push((decision.decision_id, decision.decided_ms));
        }
        if !self.in_scope(decision) {
            return Ok(());
        }
        self.decisions += 1;
        if self.decided_under.len() <= decision.config {
            self.decided_under.resize(decision.config + 1, false);
        }
        self.decided_under[decision.config] = true;
        self.last_config = decision.config;
        let logging = &self.logging[decision.config];
        let logged_grounds = Grounds::of(&self.context(&self.logged_states, c), logging);
        let (logged, candidate) = if self.shared_fold {
            logged_grounds.actions_pair(logging, &self.candidate, probe_pending)
        } else {
            (
                logged_grounds.actions(logging, probe_pending),
                Grounds::of(&self.context(&self.candidate_states, c), &self.candidate)
                    .actions(&self.candidate, probe_pending),
            )
        };
        let first = if decision.budget == 0 {
            None
        } else {
            decision.first_module
        };
        let taken = |a: &Action| a.budget == decision.budget && a.first == first;
        let replayed = logged
            .iter()
            .find(|a| taken(a))
            .map_or(0.0, |a| a.probability);
        if (replayed - decision.propensity).abs() > 1e-9 {
            self.mismatches += 1;
        }
        let supported = |a: &Action| {
            taken(a)
                || logged
                    .iter()
                    .any(|l| l.budget == a.budget && l.first == a.first)
        };
        let state = self.logged_states[c].as_ref().map(|s| &s.budget);
        let mut model_target = [0.0; 3];
        let mut drawn = std::mem::take(&mut self.drawn);
        drawn.clear();
        let mut unsupported = UnsupportedMass::default();
        let logged_budgets = logged.iter().map(|a| a.budget);
        let lowest = logged_budgets.clone().min().unwrap_or(0);
        let highest = logged_budgets.max().unwrap_or(0);
        for action in &candidate {
            let predicted = self.model.predict(c, action.budget, state);
            for (total, value) in model_target.iter_mut().zip(predicted) {
                *total += action.probability * value;
            }
            drawn.push((action.budget, action.probability, predicted));
            if !supported(action) {
                let kind = if action.budget < lowest {
                    &mut unsupported.below
                } else if action.budget > highest {
                    &mut unsupported.above
                } else {
                    &mut unsupported.order
                };
                *kind += action.probability;
            }
        }
        let draw_variance = draw_variance(&mut drawn);
        self.drawn = drawn;
        self.open.insert(
            decision.decision_id,
            Open {
                logged_propensity: decision.propensity,
                target_probability: candidate
                    .iter()
                    .find(|a| taken(a))
                    .map_or(0.0, |a| a.probability),
                unsupported,
                model_logged: self.model.predict(c, decision.budget, state),
                model_target,
                draw_variance,
            },
        );
        Ok(())
    }

    /// Replays one logged trajectory.
    pub fn trajectory(&mut self, trajectory: &LoggedTrajectory<'_>) -> Result<(), EvaluateError> {
        self.check(trajectory.combination, trajectory.config)?;
        let c = trajectory.combination;
        let calls = trajectory.calls.len() as f64;
        if let Some(id) = trajectory.decision_id {
            self.probes[c].retain(|&(probe, _)| probe != id);
            if let Some(open) = self.open.remove(&id) {
                self.path.round(c, open.draw_variance);
                self.rounds.push(Round {
                    logged_propensity: open.logged_propensity,
                    target_probability: open.target_probability,
                    unsupported: open.unsupported,
                    outcome: [
                        trajectory.composite,
                        f64::from(u8::from(trajectory.correct)),
                        calls,
                    ],
                    model_logged: open.model_logged,
                    model_target: open.model_target,
                });
            }
        }
        let modules = self.combinations[c].set.names().len();
        let intent = &self.combinations[c].intent;
        let count = if self.shared_fold { 1 } else { 2 };
        // The state the candidate decides from, before and after (see `path`).
        let before = Before::of(self.deciding(c), &self.candidate.budget);
        let folds = [
            (&mut self.logged_states, &self.logging[trajectory.config]),
            (&mut self.candidate_states, &self.candidate),
        ];
        for (states, config) in folds.into_iter().take(count) {
            let r_cost = config
                .cost
                .r_cost(intent, trajectory.run_units)
                .map_err(|e| EvaluateError::Fold(e.to_string()))?;
            states[c]
                .get_or_insert_with(|| CombinationState::new(modules))
                .observe(&observation(trajectory, r_cost), config)
                .map_err(|e| EvaluateError::Fold(e.to_string()))?;
        }
        let served = trajectory
            .served
            .unwrap_or(u32::try_from(trajectory.calls.len()).unwrap_or(u32::MAX));
        let counts = self.happened_in_scope(c, trajectory.timestamp_ms);
        let states = if self.shared_fold {
            &self.logged_states
        } else {
            &self.candidate_states
        };
        if let Some(state) = states[c].as_ref() {
            let inputs = (&self.model, &self.candidate.budget, counts);
            self.path.folded(c, before, &state.budget, inputs);
        }
        self.model
            .learn(c, served, trajectory.correct, trajectory.composite, calls);
        Ok(())
    }

    /// The report, or why no number can be given.
    pub fn finish(self) -> Result<EvaluationReport, EvaluateError> {
        let name = |c: usize| {
            let combination = &self.combinations[c];
            format!("{} [{}]", combination.intent, combination.canonical)
        };
        let path = self
            .path
            .finish(self.rounds.len(), self.candidate.budget.probe_after, name);
        let mut report = report(&self.rounds, self.decisions, self.mismatches, path).map_err(
            |err| match err {
                EvaluateError::Unsupported {
                    rounds,
                    max_mass,
                    mass,
                    ..
                } => EvaluateError::Unsupported {
                    rounds,
                    max_mass,
                    mass,
                    changed: changed_knobs(&self.candidate, &self.deciding_configs()),
                },
                other => other,
            },
        )?;
        let rescored = self.logging.iter().any(|logging| {
            logging.reward != self.candidate.reward || logging.cost != self.candidate.cost
        });
        if rescored {
            report.notes.push(
                "the candidate's reward and cost sections do not change these estimates: they \
                 only score requests (the budget and the module ranking do not read the \
                 score), and every round keeps the composite reward it was logged with, so \
                 that the candidate is judged by the yardstick the traffic was scored with"
                    .to_owned(),
            );
        }
        Ok(report)
    }

    /// The logging configs decisions in scope were taken under, the last one's last.
    fn deciding_configs(&self) -> Vec<&PolicyConfig> {
        let mut configs: Vec<&PolicyConfig> = (0..self.logging.len())
            .filter(|&i| i != self.last_config && self.decided_under.get(i) == Some(&true))
            .map(|i| &self.logging[i])
            .collect();
        configs.extend(self.logging.get(self.last_config));
        configs
    }

    /// The budget state the candidate decides from in `combination`.
    fn deciding(&self, combination: usize) -> Option<&crate::budget::BudgetState> {
        let states = if self.shared_fold {
            &self.logged_states
        } else {
            &self.candidate_states
        };
        states[combination].as_ref().map(|s| &s.budget)
    }

    fn context<'a>(&'a self, states: &'a [Option<CombinationState>], c: usize) -> Context<'a> {
        let combination = &self.combinations[c];
        let exact = states[c].as_ref();
        // Siblings only matter to a combination without a budget of its own or with young
        // arms (see `Grounds::of`); most decisions need none, and skip collecting them.
        let settled = exact
            .is_some_and(|s| s.budget.current.is_some() && s.arms.total_pulls() >= LOAN_ARMS_UNTIL);
        let siblings = if settled {
            Vec::new()
        } else {
            self.by_intent[&combination.intent]
                .iter()
                .filter(|&&s| s != c)
                .filter_map(|&s| {
                    states[s].as_ref().map(|state| Sibling {
                        modules: self.combinations[s].set.names(),
                        budget: &state.budget,
                        arms: &state.arms,
                    })
                })
                .collect()
        };
        Context {
            modules: combination.set.names(),
            exact,
            siblings,
        }
    }
}

/// Whether two configs fold a log into the same states: equal but for the exploration
/// knobs, which only decisions read ([`crate::budget::BudgetState::exploration`] and
/// [`crate::decision::choose`]).
/// The candidate's budget knobs that differ from any of `logging`'s, as
/// `name logged -> candidate` (the last config's value), by name.
fn changed_knobs(candidate: &PolicyConfig, logging: &[&PolicyConfig]) -> Vec<String> {
    let knobs = |config: &PolicyConfig| match serde_json::to_value(config.budget) {
        Ok(serde_json::Value::Object(knobs)) => knobs,
        _ => serde_json::Map::new(),
    };
    let mine = knobs(candidate);
    let theirs: Vec<_> = logging.iter().map(|config| knobs(config)).collect();
    let mut changed: Vec<String> = mine
        .iter()
        .filter(|(name, value)| theirs.iter().any(|t| t.get(*name) != Some(value)))
        .map(|(name, value)| {
            let logged = theirs
                .last()
                .and_then(|t| t.get(name))
                .map_or("-".to_owned(), ToString::to_string);
            format!("{name} {logged} -> {value}")
        })
        .collect();
    changed.sort();
    changed
}

fn same_fold(a: &PolicyConfig, b: &PolicyConfig) -> bool {
    let mut b = b.clone();
    b.budget.explore_up = a.budget.explore_up;
    b.budget.explore_up_undecided = a.budget.explore_up_undecided;
    b.budget.explore_down = a.budget.explore_down;
    b.budget.explore_order = a.budget.explore_order;
    *a == b
}

fn observation<'a>(trajectory: &LoggedTrajectory<'a>, r_cost: f64) -> Observation<'a> {
    Observation {
        calls: trajectory.calls,
        correct: trajectory.correct,
        r_cost,
        timestamp_ms: trajectory.timestamp_ms,
        served: trajectory.served,
        policy_budget: trajectory.policy_budget,
        answered_by: trajectory.answered_by,
        answered_at: trajectory.answered_at,
        order_explored: trajectory.order_explored,
    }
}
