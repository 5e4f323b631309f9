//! One decision: the budget and module order served to one request, with the probability the
//! policy had of serving it. Pure: every random draw is derived from the decision id, so a
//! decision can be recomputed from the log and a rebuild never depends on a generator's state.
//!
//! # What a decision serves
//!
//! One uniform draw picks one of four kinds (the probabilities come from
//! [`crate::budget::BudgetState::exploration`] and [`BudgetConfig::explore_order`]):
//!
//! * **down**: one call less than the policy's budget, modules in the policy's order;
//! * **up**: one call more, the policy's order;
//! * **order**: another module first (uniformly among the rest) *and* one call more, so that a
//!   module that turns out useless costs a call, not the request; only with two or more modules;
//! * otherwise the policy's budget and order.
//!
//! The policy's order is the arms' ranking ([`crate::arms`]) with ties broken by the decision's
//! own random keys, never by name. A budget of 0 serves no order: answer without tools.
//! The propensity is the exact probability of the served (budget, first module) pair, summed
//! over every way the decision could have produced it, which is what an off-policy evaluation
//! of another configuration needs.
//!
//! # Borrowing from sibling module sets
//!
//! A combination without evidence of its own borrows from the intent's other module sets in
//! proportion to what they share with it (Jaccard overlap of the sets): the budget is the
//! overlap-weighted mean of their budgets rounded up, each module's arm is the overlap-weighted
//! sum of its arms in them, and sets sharing no module lend nothing. The exact combination's
//! first trajectory starts its own state from the borrowed budget (see
//! `crate::state::CombinationState::observe`), so the loan holds until its own evidence moves
//! it.

use crate::arms::{Arm, Arms};
use crate::budget::{BudgetConfig, BudgetState, Direction, Exploration};
use crate::synthetic::Rng;
use serde::{Deserialize, Serialize};

/// What a decision explored, if anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explored {
    /// The served budget is one level off the policy's.
    pub budget: Option<Direction>,
    /// Another module than the best-ranked one was put first.
    pub order: bool,
}

impl Explored {
    /// Whether anything was explored.
    pub fn any(&self) -> bool {
        self.budget.is_some() || self.order
    }
}

/// The pure outcome of a decision, before it is logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The budget served.
    pub budget: u32,
    /// The policy's budget (served when the budget is not explored).
    pub policy_budget: u32,
    /// Module indices (canonical order) in the order served; empty for a budget of 0.
    pub order: Vec<usize>,
    /// What was explored.
    pub explored: Explored,
    /// P(budget) × P(first module).
    pub propensity: f64,
}

/// Uniform draws of one decision, derived from its id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draws {
    seed: u64,
}

impl Draws {
    /// The draws of decision `id`.
    pub fn for_decision(id: u64) -> Self {
        Self {
            seed: Rng::new(id ^ 0x6f74_632d_6465_6369).next_u64(),
        }
    }

    fn stream(&self, k: u64) -> u64 {
        Rng::new(
            self.seed
                .wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        )
        .next_u64()
    }

    fn unit(&self, k: u64) -> f64 {
        (self.stream(k) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The draw that picks the kind of decision (see the module docs).
    pub fn budget(&self) -> f64 {
        self.unit(1)
    }

    /// The draw that picks which module to put first when exploring.
    pub fn pick(&self, choices: usize) -> usize {
        (self.stream(3) % choices.max(1) as u64) as usize
    }

    /// The random tie-break key of module `index`.
    pub fn tie_key(&self, index: usize) -> u64 {
        self.stream(100 + index as u64)
    }
}

/// The policy's budget and the probabilities of the four kinds of decision (module docs).
struct Kinds {
    k: u32,
    n: usize,
    p_down: f64,
    p_up: f64,
    p_order: f64,
    p_stay: f64,
}

impl Kinds {
    fn of(budget: &BudgetState, arms: &Arms, config: &BudgetConfig) -> Self {
        Self::at(budget.exploration(config), arms, config)
    }

    fn at(exploration: Exploration, arms: &Arms, config: &BudgetConfig) -> Self {
        let k = exploration.policy_budget;
        let n = arms.arms().len();
        let p_order = if n >= 2 && k < config.max_budget {
            config.explore_order
        } else {
            0.0
        };
        let (p_down, p_up) = (exploration.down, exploration.up);
        Self {
            k,
            n,
            p_down,
            p_up,
            p_order,
            p_stay: 1.0 - p_down - p_up - p_order,
        }
    }
}

/// One action a decision can take, as off-policy evaluation sees it: the served budget and
/// the module served first (`None` for a budget of 0), with its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Action {
    /// The budget served.
    pub budget: u32,
    /// The module served first, as its canonical index; `None` when the budget is 0.
    pub first: Option<usize>,
    /// The probability of serving exactly this (budget, first module).
    pub probability: f64,
}

/// Every (budget, first module) [`choose`] can serve with these inputs, with the probability
/// it has of serving it (its propensity), actions of probability 0 left out. The
/// probabilities sum to 1.
pub fn distribution(budget: &BudgetState, arms: &Arms, config: &BudgetConfig) -> Vec<Action> {
    distribution_at(budget.exploration(config), arms, config)
}

/// [`distribution`] with the budget's exploration already worked out.
pub fn distribution_at(
    exploration: Exploration,
    arms: &Arms,
    config: &BudgetConfig,
) -> Vec<Action> {
    let Kinds {
        k,
        n,
        p_down,
        p_up,
        p_order,
        p_stay,
    } = Kinds::at(exploration, arms, config);
    let top = arms
        .arms()
        .iter()
        .map(|a| a.score())
        .fold(f64::NEG_INFINITY, f64::max);
    let in_top: Vec<bool> = arms.arms().iter().map(|a| a.score() == top).collect();
    let tied = in_top.iter().filter(|&&t| t).count().max(1) as f64;
    let mut actions = Vec::with_capacity(2 * n + 1);
    let mut push = |budget: u32, first: Option<usize>, probability: f64| {
        if probability > 0.0 {
            actions.push(Action {
                budget,
                first,
                probability,
            });
        }
    };
    // Budgets k - 1 and k: the policy's order, its first uniform over the tied top.
    for (budget, p) in [(k.checked_sub(1), p_down), (Some(k), p_stay)] {
        match budget {
            Some(0) => push(0, None, p),
            Some(b) => {
                for (i, _) in in_top.iter().enumerate().filter(|(_, t)| **t) {
                    push(b, Some(i), p / tied);
                }
            }
            None => {}
        }
    }
    // Budget k + 1: up (the policy's first) or order (a uniform other module first).
    let others = (n.max(2) - 1) as f64;
    for (i, &top) in in_top.iter().enumerate() {
        let p = if top {
            p_up / tied + p_order * (tied - 1.0) / (tied * others)
        } else {
            p_order / others
        };
        push(k + 1, Some(i), p);
    }
    actions
}

/// Chooses budget and module order for a combination with budget state `budget` and arms
/// `arms`, under `config`, with the decision's draws.
pub fn choose(budget: &BudgetState, arms: &Arms, config: &BudgetConfig, draws: &Draws) -> Choice {
    let Kinds {
        k,
        n,
        p_down,
        p_up,
        p_order,
        p_stay,
    } = Kinds::of(budget, arms, config);
    let u = draws.budget();
    let (served, kind) = if u < p_down {
        (k - 1, Some(Direction::Down))
    } else if u < p_down + p_up {
        (k + 1, Some(Direction::Up))
    } else if u < p_down + p_up + p_order {
        (k + 1, None)
    } else {
        (k, None)
    };
    let order_explored = served == k + 1 && kind.is_none();
    let mut order = arms.ranking_by(|i| draws.tie_key(i));
    if order_explored {
        let module = order.remove(1 + draws.pick(n - 1));
        order.insert(0, module);
    }
    let propensity = if served == 0 {
        // No order is served: only the budget's probability counts.
        if k == 0 { p_stay } else { p_down }
    } else {
        // P(first = x) when the policy's order is served: uniform over the modules tied at the
        // top. When the order is explored: the policy's first (uniform over the tied) is
        // replaced by one of the n - 1 others.
        let top = arms
            .arms()
            .iter()
            .map(|a| a.score())
            .fold(f64::NEG_INFINITY, f64::max);
        let tied = arms.arms().iter().filter(|a| a.score() == top).count() as f64;
        let in_top = if arms.arms()[order[0]].score() == top {
            1.0
        } else {
            0.0
        };
        let policy_first = in_top / tied;
        if served + 1 == k {
            p_down * policy_first
        } else if served == k {
            p_stay * policy_first
        } else {
            let others = (n.max(2) - 1) as f64;
            p_up * policy_first + p_order * (tied - in_top) / (tied * others)
        }
    };
    Choice {
        budget: served,
        policy_budget: k,
        order: if served == 0 { Vec::new() } else { order },
        explored: Explored {
            budget: kind,
            order: order_explored,
        },
        propensity,
    }
}

/// The read-only ranking: best first, ties in canonical order; with whether each is tied with
/// another module.
pub fn view_order(arms: &Arms) -> Vec<(usize, bool)> {
    let order = arms.ranking_by(|i| i as u64);
    order
        .iter()
        .map(|&i| {
            let score = arms.arms()[i].score();
            let tied = order
                .iter()
                .any(|&j| j != i && arms.arms()[j].score() == score);
            (i, tied)
        })
        .collect()
}

/// One sibling module set's contribution to a loan.
#[derive(Debug, Clone)]
pub struct Sibling<'a> {
    /// Its modules, canonical order.
    pub modules: &'a [String],
    /// Its budget state.
    pub budget: &'a BudgetState,
    /// Its arms, indexed like `modules`.
    pub arms: &'a Arms,
}

/// What siblings lend to a module set.
#[derive(Debug, Clone, PartialEq)]
pub struct Loan {
    /// The borrowed budget.
    pub budget: u32,
    /// Confidence: the lenders' confidences weighted by overlap, times the mean overlap.
    pub confidence: f64,
    /// The borrowed arms, indexed like the asked set.
    pub arms: Arms,
    /// How many sibling sets lent.
    pub lenders: usize,
    /// The largest overlap among them, in `(0, 1]`.
    pub best_overlap: f64,
}

/// The loan to the set `asked` (canonical order) from `siblings`; `None` when no sibling
/// shares a module with it or none has a budget.
pub fn borrow(asked: &[String], siblings: &[Sibling<'_>], config: &BudgetConfig) -> Option<Loan> {
    let mut weight_sum = 0.0;
    let mut budget_sum = 0.0;
    let mut confidence_sum = 0.0;
    let mut best_overlap: f64 = 0.0;
    let mut lenders = 0;
    let mut pooled = vec![Arm::default(); asked.len()];
    for sibling in siblings {
        let shared = sibling
            .modules
            .iter()
            .filter(|m| asked.binary_search(m).is_ok())
            .count();
        if shared == 0 || sibling.budget.current.is_none() {
            continue;
        }
        let union = asked.len() + sibling.modules.len() - shared;
        let overlap = shared as f64 / union as f64;
        lenders += 1;
        weight_sum += overlap;
        budget_sum += overlap * f64::from(sibling.budget.policy_budget(config));
        confidence_sum += overlap * sibling.budget.confidence(config);
        best_overlap = best_overlap.max(overlap);
        for (name, arm) in sibling.modules.iter().zip(sibling.arms.arms()) {
            if let Ok(i) = asked.binary_search(name) {
                pooled[i].pulls += overlap * arm.pulls;
                pooled[i].answered += overlap * arm.answered;
            }
        }
    }
    if lenders == 0 {
        return None;
    }
    let mean_overlap = weight_sum / lenders as f64;
    // Rounded up: between two lenders' budgets the larger is the cautious one.
    let budget = ((budget_sum / weight_sum) - 1e-9).ceil().max(0.0) as u32;
    Some(Loan {
        budget: budget.min(config.max_budget),
        confidence: confidence_sum / weight_sum * mean_overlap,
        arms: Arms::from_parts(pooled).unwrap_or_else(|| Arms::new(asked.len())),
        lenders,
        best_overlap,
    })
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
