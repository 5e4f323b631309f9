//! The closed-loop world: combinations with a hidden optimal call count and one helpful module,
//! agents that follow (or over-use) the budget they are given, and the scenarios of
//! `otc simulate`. Pure and seeded.
//!
//! # How a request plays out
//!
//! The agent tries the modules in the order it is served, one call on each module before the
//! helpful one (those calls are wasted), then `n*` calls on the helpful module; so it *needs*
//! `position of the helpful module + n*` calls (0 when `n* = 0`: answer without tools).
//! Per request, with the scenario's rates:
//!
//! * **solvable** (most requests): correct if it gets the calls it needs; in a **graded**
//!   combination ([`Combo::curve`]) requests differ in how many calls on the helpful module
//!   they need, so success rises gradually with the budget instead of in one step;
//! * **lucky**: correct after fewer calls than it needs (a uniformly drawn count below the need),
//!   if the budget lets it get there;
//! * **outlier**: keeps calling other modules 3 to 8 times after it has the answer (the extra
//!   calls need no budget: cut short, it still answers correctly).
//!
//! The **efficient** agent stops when it has the answer (or its budget runs out); the
//! **over-caller** always uses its whole budget, as the models in the OTC paper do. Every
//! request's draws are fixed by (seed, combination, index), so the fixed budget, the oracle and
//! the policy face the same requests.

use crate::synthetic::Rng;

/// How an agent uses the budget it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Stops when it has the answer.
    Efficient,
    /// Uses every call it is given.
    OverCaller,
}

impl Agent {
    /// The agent's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Efficient => "efficient",
            Self::OverCaller => "over-caller",
        }
    }
}

/// A change of a combination's optimal count during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    /// The combination's request index from which the new count holds.
    pub at: usize,
    /// The new optimal count.
    pub to: u32,
}

/// One (intent, module set) of the world.
#[derive(Debug, Clone, PartialEq)]
pub struct Combo {
    /// Intent class.
    pub intent: String,
    /// The module set, in the agent's native order (what a fixed policy tries first).
    pub modules: Vec<String>,
    /// The module whose calls answer.
    pub helpful: String,
    /// The optimal call count `n*` when the helpful module is tried first.
    pub optimal: u32,
    /// A change of `n*` during the run.
    pub drift: Option<Drift>,
    /// Global step before which this combination gets no requests (a module set that appears
    /// later, e.g. beside a sibling that was learnt first).
    pub starts_at: usize,
    /// A graded combination: `curve[j]` is the share of requests answerable within `j` calls
    /// on the helpful module (non-decreasing); the rest cannot be answered. `None`: every
    /// solvable request needs exactly `n*`. `optimal` is then the smallest `j` within the
    /// policy's tolerance of the best share ([`graded_optimal`]).
    pub curve: Option<Vec<f64>>,
}

/// The `n*` of a graded combination: the fewest calls whose share of answerable requests is
/// within `tolerance` of the largest share.
pub fn graded_optimal(curve: &[f64], tolerance: f64) -> u32 {
    let best = curve.iter().copied().fold(0.0, f64::max);
    curve
        .iter()
        .position(|&share| share >= best - tolerance)
        .map_or(0, |j| j as u32)
}

impl Combo {
    /// `n*` at the combination's request `index`.
    pub fn optimal_at(&self, index: usize) -> u32 {
        match self.drift {
            Some(d) if index >= d.at => d.to,
            _ => self.optimal,
        }
    }
}

/// A world and how requests behave in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name in reports.
    pub name: String,
    /// The agent.
    pub agent: Agent,
    /// The combinations.
    pub combos: Vec<Combo>,
    /// Requests per combination.
    pub per_combo: usize,
    /// Probability that a request is lucky.
    pub lucky: f64,
    /// Probability that a request is an outlier.
    pub outliers: f64,
    /// Probability that a request is answered correctly when it gets the calls it needs.
    pub solvable: f64,
    /// Whether trajectories name the module that answered (`answered_by`).
    pub report_answer: bool,
    /// Whether trajectories say which call answered (`answered_at`): an orchestrator that knows
    /// which tool result the answer used (e.g. the one it cites).
    pub report_call: bool,
    /// The generous fixed budget the policy is compared with.
    pub fixed_budget: u32,
}

fn combo(intent: &str, modules: &[&str], helpful: &str, optimal: u32) -> Combo {
    Combo {
        intent: intent.to_owned(),
        modules: modules.iter().map(|m| (*m).to_owned()).collect(),
        helpful: helpful.to_owned(),
        optimal,
        drift: None,
        starts_at: 0,
        curve: None,
    }
}

fn graded(intent: &str, modules: &[&str], helpful: &str, curve: &[f64]) -> Combo {
    Combo {
        optimal: graded_optimal(curve, 0.1),
        curve: Some(curve.to_vec()),
        ..combo(intent, modules, helpful, 0)
    }
}

impl Scenario {
    fn base(name: &str, agent: Agent, combos: Vec<Combo>, per_combo: usize) -> Self {
        Self {
            name: name.to_owned(),
            agent,
            combos,
            per_combo,
            lucky: 0.05,
            outliers: 0.05,
            solvable: 0.9,
            report_answer: false,
            report_call: false,
            fixed_budget: 6,
        }
    }

    /// Eight combinations with `n*` in {0, 1, 2, 3, 5} (mean 2), 5 % lucky and 5 % outlier
    /// requests. In three of them a useless module comes first in the agent's native (and the
    /// alphabetical) order, so only credit that follows the answer puts the helpful one first.
    pub fn steady(agent: Agent, per_combo: usize) -> Self {
        let combos = vec![
            combo("chat", &["calendar", "search"], "search", 0),
            combo("weather", &["forecast", "maps"], "forecast", 1),
            combo("research", &["archive", "news", "web"], "web", 2),
            combo("math", &["calculator", "solver"], "calculator", 3),
            combo("legal", &["cases", "statutes", "web"], "cases", 5),
            combo("travel", &["booking", "flights", "maps"], "flights", 1),
            combo("code", &["docs", "repo", "run"], "repo", 2),
            combo("shop", &["catalog", "reviews"], "reviews", 2),
        ];
        Self::base("steady", agent, combos, per_combo)
    }

    /// Four combinations; half-way through, one `n*` drifts up (1 → 3) and one down (5 → 2).
    pub fn drift(agent: Agent, per_combo: usize) -> Self {
        let half = per_combo / 2;
        let mut combos = vec![
            combo("weather", &["forecast", "maps"], "forecast", 1),
            combo("legal", &["cases", "statutes", "web"], "cases", 5),
            combo("research", &["archive", "news", "web"], "web", 2),
            combo("math", &["calculator", "solver"], "calculator", 3),
        ];
        combos[0].drift = Some(Drift { at: half, to: 3 });
        combos[1].drift = Some(Drift { at: half, to: 2 });
        Self::base("drift", agent, combos, per_combo)
    }

    /// Cold start beside siblings: each intent's first module set is learnt alone for a while,
    /// then a second set sharing modules with it appears and borrows from it.
    pub fn siblings(agent: Agent, per_combo: usize) -> Self {
        let later = per_combo;
        let mut combos = vec![
            combo("research", &["archive", "news", "web"], "web", 2),
            combo("research", &["news", "scholar", "web"], "web", 2),
            combo("legal", &["cases", "statutes"], "cases", 5),
            combo("legal", &["cases", "statutes", "web"], "cases", 5),
        ];
        combos[1].starts_at = later;
        combos[3].starts_at = later;
        Self::base("siblings", agent, combos, per_combo)
    }
}

impl Scenario {
    /// Four graded combinations: requests need different numbers of calls, so success rises
    /// with the budget step by step (e.g. 30/55/70/90/93 % at 1..5 calls) and `n*` is the
    /// fewest calls within the tolerance (0.1) of the best. A budget one level short of `n*`
    /// still answers most requests, which is what makes a few lucky probes look like enough.
    pub fn graded(agent: Agent, per_combo: usize) -> Self {
        let combos = vec![
            graded(
                "support",
                &["kb", "tickets", "web"],
                "kb",
                &[0.0, 0.30, 0.55, 0.70, 0.90, 0.93],
            ),
            graded(
                "analysis",
                &["charts", "sql"],
                "sql",
                &[0.0, 0.5, 0.88, 0.93, 0.95],
            ),
            graded(
                "planning",
                &["calendar", "maps", "weather"],
                "maps",
                &[0.0, 0.2, 0.4, 0.6, 0.75, 0.9, 0.92],
            ),
            graded("lookup", &["dict", "web"], "web", &[0.3, 0.85, 0.9, 0.92]),
        ];
        Self::base("graded", agent, combos, per_combo)
    }
}

/// The random draws of one request, fixed by (seed, combination, index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestDraws {
    lucky: bool,
    lucky_at: f64,
    outlier: bool,
    extra: u32,
    solvable: bool,
    /// Where the request falls on a graded combination's curve.
    grade: f64,
}

impl RequestDraws {
    /// The draws of request `index` of combination `combo` under `seed`.
    pub fn new(scenario: &Scenario, seed: u64, combo: usize, index: usize) -> Self {
        // A hash chain over (seed, combination, index), so neighbouring requests share nothing.
        let key = Rng::new(Rng::new(seed).next_u64() ^ combo as u64).next_u64();
        let mut rng = Rng::new(Rng::new(key ^ index as u64).next_u64());
        Self {
            lucky: rng.unit() < scenario.lucky,
            lucky_at: rng.unit(),
            outlier: rng.unit() < scenario.outliers,
            extra: 3 + rng.below(6) as u32,
            solvable: rng.unit() < scenario.solvable,
            grade: rng.unit(),
        }
    }
}

/// What one request did.
#[derive(Debug, Clone, PartialEq)]
pub struct Played {
    /// The module of each call.
    pub calls: Vec<String>,
    /// Whether it answered correctly.
    pub correct: bool,
    /// The module that answered (when correct thanks to a tool).
    pub answered_by: Option<String>,
    /// Which call answered, 1-based (0: the answer used no tool result); `None` when wrong.
    pub answered_at: Option<u32>,
}

/// Plays one request of `combo` with `optimal` = n*, given `budget` and the module `order`
/// (empty: no tools).
pub fn play(
    agent: Agent,
    combo: &Combo,
    optimal: u32,
    budget: u32,
    order: &[String],
    draws: &RequestDraws,
) -> Played {
    let position = order
        .iter()
        .position(|m| *m == combo.helpful)
        .unwrap_or(order.len());
    // Calls this request needs on the helpful module, and whether it can be answered at all.
    let (own, solvable) = match &combo.curve {
        Some(curve) => match curve.iter().position(|&share| draws.grade < share) {
            Some(j) => (j as u32, true),
            None => (curve.len().saturating_sub(1) as u32, false),
        },
        None => (optimal, draws.solvable),
    };
    let need = if own == 0 { 0 } else { position as u32 + own };
    let usable = if order.is_empty() { 0 } else { budget };
    let lucky_at = (draws.lucky_at * f64::from(need)) as u32;
    let lucky = draws.lucky && need > 0 && lucky_at <= usable;
    let reached = need <= usable && (need == 0 || position < order.len());
    let correct = lucky || (solvable && reached);
    let planned = if lucky {
        lucky_at
    } else {
        need + if draws.outlier { draws.extra } else { 0 }
    };
    let made = match agent {
        Agent::Efficient => planned.min(usable),
        Agent::OverCaller => usable,
    };
    let wanders = draws.outlier && !lucky;
    let calls: Vec<String> = (0..made)
        .map(|i| call_at(combo, order, position, need, wanders, i as usize))
        .collect();
    // The answer comes from the call that completed what it needed: the lucky one, or the
    // last of the `need` calls (on the helpful module); none at all when it needed no tool.
    let answered_at = correct.then_some(if lucky { lucky_at } else { need });
    let answered_by = answered_at
        .filter(|&at| at >= 1)
        .and_then(|at| calls.get(at as usize - 1).cloned());
    Played {
        calls,
        correct,
        answered_by,
        answered_at,
    }
}

/// The module of call `i`: the modules before the helpful one once each, then the helpful one
/// for its `n*` calls; after that an outlier wanders over the other modules and an over-caller
/// keeps calling the helpful one.
fn call_at(
    combo: &Combo,
    order: &[String],
    position: usize,
    need: u32,
    wanders: bool,
    i: usize,
) -> String {
    if i < position.min(order.len()) {
        return order[i].clone();
    }
    if i < need as usize || position >= order.len() || !wanders {
        return order.get(position).unwrap_or(&order[0]).clone();
    }
    let others: Vec<&String> = order.iter().filter(|m| **m != combo.helpful).collect();
    if others.is_empty() {
        combo.helpful.clone()
    } else {
        others[(i - need as usize) % others.len()].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    const PLAIN: RequestDraws = RequestDraws {
        lucky: false,
        lucky_at: 0.0,
        outlier: false,
        extra: 4,
        solvable: true,
        grade: 0.5,
    };

    #[test]
    fn the_need_counts_the_modules_tried_before_the_helpful_one() {
        let c = combo("r", &["archive", "news", "web"], "web", 2);
        let helpful_first = names(&["web", "news", "archive"]);
        let helpful_last = names(&["archive", "news", "web"]);
        let p = play(Agent::Efficient, &c, 2, 6, &helpful_first, &PLAIN);
        assert_eq!((p.calls.len(), p.correct), (2, true));
        let p = play(Agent::Efficient, &c, 2, 3, &helpful_last, &PLAIN);
        assert_eq!((p.calls.len(), p.correct), (3, false), "{p:?}");
        let p = play(Agent::Efficient, &c, 2, 4, &helpful_last, &PLAIN);
        assert_eq!(p.calls, names(&["archive", "news", "web", "web"]));
        assert_eq!(p.answered_by.as_deref(), Some("web"));
        let p = play(Agent::OverCaller, &c, 2, 6, &helpful_first, &PLAIN);
        assert_eq!((p.calls.len(), p.correct), (6, true));
        // The over-caller's answer still came from the second call.
        assert_eq!(p.answered_at, Some(2));
        assert_eq!(p.answered_by.as_deref(), Some("web"));
    }

    #[test]
    fn outliers_waste_calls_but_need_no_budget_and_luck_needs_fewer_calls() {
        let c = combo("r", &["archive", "web"], "web", 2);
        let order = names(&["web", "archive"]);
        let outlier = RequestDraws {
            outlier: true,
            ..PLAIN
        };
        let p = play(Agent::Efficient, &c, 2, 10, &order, &outlier);
        assert_eq!((p.calls.len(), p.correct), (6, true));
        let p = play(Agent::Efficient, &c, 2, 2, &order, &outlier);
        assert_eq!((p.calls.len(), p.correct), (2, true));
        let lucky = RequestDraws {
            lucky: true,
            lucky_at: 0.6,
            solvable: false,
            ..PLAIN
        };
        let p = play(Agent::Efficient, &c, 2, 1, &order, &lucky);
        assert_eq!((p.calls.len(), p.correct), (1, true));
        // Budget 0: no tools; only a request that needs none (or luck at 0 calls) is correct.
        let p = play(Agent::Efficient, &c, 2, 0, &[], &PLAIN);
        assert_eq!((p.calls.len(), p.correct), (0, false));
        let zero = combo("c", &["a", "b"], "b", 0);
        let p = play(Agent::OverCaller, &zero, 0, 0, &[], &PLAIN);
        assert_eq!((p.calls.len(), p.correct), (0, true));
    }

    #[test]
    fn graded_requests_need_different_counts_and_n_star_is_within_the_tolerance() {
        assert_eq!(graded_optimal(&[0.0, 0.30, 0.55, 0.70, 0.90, 0.93], 0.1), 4);
        assert_eq!(graded_optimal(&[0.3, 0.85, 0.9, 0.92], 0.1), 1);
        let c = graded("g", &["a", "b"], "b", &[0.0, 0.5, 0.9]);
        assert_eq!(c.optimal, 2);
        let order = names(&["b", "a"]);
        let at = |grade: f64, budget: u32| {
            let draws = RequestDraws { grade, ..PLAIN };
            let p = play(Agent::Efficient, &c, c.optimal, budget, &order, &draws);
            (p.calls.len(), p.correct)
        };
        assert_eq!(at(0.2, 6), (1, true), "an easy request needs one call");
        assert_eq!(at(0.7, 6), (2, true));
        assert_eq!(at(0.7, 1), (1, false), "a harder one fails one call short");
        assert!(!at(0.95, 6).1, "beyond the curve nothing answers");
        let share = |budget: u32| {
            (0..1000)
                .filter(|&k| at((f64::from(k) + 0.5) / 1000.0, budget).1)
                .count()
        };
        assert_eq!((share(0), share(1), share(2), share(6)), (0, 500, 900, 900));
    }
}
