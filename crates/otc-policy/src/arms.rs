//! Per-module credit of one (intent, module set): how often a call to a module led to the
//! answer, and the ranking that puts the module most likely to answer first. Pure arithmetic, no
//! I/O.
//!
//! # Credit
//!
//! Crediting every module a trajectory called with the trajectory's reward cannot tell a
//! helpful module from one that is merely always tried first: both get identical statistics. So
//! credit follows the answer:
//!
//! * A correct trajectory credits **the module that answered**: the one the orchestrator names in
//!   `answered_by` (or the module of the call `answered_at` names), or else the module of the
//!   last call (an agent that stops when it has the answer stops right after the call that gave
//!   it). Every other module it called gets a pull without credit. A module called several
//!   times is one pull.
//! * The last call is only a guess when the trajectory used its whole budget (an unlogged
//!   trajectory counts as served the calls it made, so it always has): the agent may have had
//!   the answer already and spent the calls it had left (an agent that uses every call, or one
//!   that keeps calling after it has the answer). Such a trajectory that ends with **one call
//!   on another module after two or more on the same module** (`[a, a, b]`) is credited half
//!   to each of the two: the agent worked `a` and left it for one last call, which either
//!   answered or came after `a` had. (One guessed credit like this, early, put a module that
//!   never answers first.) A single call before the last (`[a, b]`) is what trying a useless
//!   module first looks like, and stays credited to `b` alone.
//! * A correct trajectory whose answer used no tool result (`answered_at` 0) credits nobody and
//!   pulls nobody: its calls were not needed, which says nothing of what they answer when they
//!   are. (Pulled, a module that answered once and was then called on a request answered
//!   without it fell back to the score of one never tried, and a tie with useless modules put
//!   them first by chance.)
//! * An incorrect trajectory credits nobody. Served by a logged decision, it pulls the modules
//!   the agent called and then left for another ([`Arms::record_left`]): the agent followed the
//!   decision's order and moved on from them, so their calls did not answer (the request got
//!   no answer at all). Not the module of its last call: the budget may have run out before
//!   that one answered. (Without these pulls a useless module credited once with a lucky
//!   answer stayed first for as long as requests failed on the call it wasted.) An unlogged
//!   incorrect trajectory pulls nobody: nothing says its calls followed an order rather than,
//!   say, a script that calls modules at random.
//!
//! An arm's `pulls` and `answered` decay like the rest of the checkpoint (see
//! [`crate::estimate`]).
//!
//! # Ranking
//!
//! Modules rank by the posterior mean of "a call to it answers", `(answered + 1) / (pulls + 2)`
//! (Beta(1, 1) prior: a module never tried is at 0.5, so it is tried before one that keeps
//! failing and after one that keeps answering). Ties are not decided by name: a decision breaks
//! them with its own random draw (see [`crate::decision`]); the read-only view lists tied modules
//! in canonical order and says they are tied.

use serde::{Deserialize, Serialize};

/// Which module answered a correct trajectory, as far as the orchestrator said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answerer {
    /// Not said, and the agent stopped before its budget ran out: the module of the last call
    /// is credited.
    LastCall,
    /// Not said, and the trajectory used its whole budget (or its budget is not known): the
    /// module of the last call is credited, or it shares the credit with the module before it
    /// when the trajectory ends `[a, a, b]` (see the module docs).
    LastCallBudgetSpent,
    /// This module (index into the canonical set).
    Module(u8),
    /// The answer used no tool result: nobody is credited or pulled.
    NoTool,
}

/// One module's decayed statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Decayed number of trajectories that called the module: correct ones, and incorrect ones
    /// served by a decision that left it for another module.
    pub pulls: f64,
    /// Of them, those the module answered (decayed; a shared credit counts half).
    pub answered: f64,
}

impl Arm {
    /// Posterior mean (Beta(1, 1)) of "a call to this module answers".
    pub fn score(&self) -> f64 {
        (self.answered + 1.0) / (self.pulls + 2.0)
    }
}

/// The arms of a module set, indexed like the set's canonical order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arms {
    arms: Vec<Arm>,
}

impl Arms {
    /// Fresh arms for a set of `modules` modules.
    pub fn new(modules: usize) -> Self {
        Self {
            arms: vec![Arm::default(); modules],
        }
    }

    /// Rebuilds arms from stored parts; `None` if any number is negative, not finite, or
    /// `answered` exceeds `pulls`.
    pub fn from_parts(arms: Vec<Arm>) -> Option<Self> {
        let ok = arms.iter().all(|a| {
            a.pulls.is_finite()
                && a.answered.is_finite()
                && a.answered >= 0.0
                && a.answered <= a.pulls * (1.0 + 1e-9)
        });
        ok.then_some(Self { arms })
    }

    /// The arms in canonical module order.
    pub fn arms(&self) -> &[Arm] {
        &self.arms
    }

    /// Forgets: multiplies every statistic by `factor`; an arm whose pulls fall below
    /// [`crate::estimate::PRUNE_WEIGHT`] is reset to untried.
    pub fn decay(&mut self, factor: f64) {
        if factor == 1.0 {
            return;
        }
        for arm in &mut self.arms {
            arm.pulls *= factor;
            arm.answered *= factor;
            if arm.pulls < crate::estimate::PRUNE_WEIGHT {
                *arm = Arm::default();
            }
        }
    }

    /// Records a correct trajectory: `called` are module indices in call order (repeats
    /// allowed), `answerer` the module that answered, as far as the orchestrator said. (An
    /// incorrect one credits nobody: see [`Self::record_left`].)
    pub fn record_answered(&mut self, called: &[u8], answerer: Answerer) {
        // Who answered, and who shares the credit with it when that is unclear.
        let (answerer, sharer) = match answerer {
            Answerer::LastCall => (called.last().copied(), None),
            Answerer::LastCallBudgetSpent => (called.last().copied(), sharer_of_last_call(called)),
            Answerer::Module(index) => (Some(index), None),
            // The calls were not needed: that says nothing of what they answer when they are.
            Answerer::NoTool => return,
        };
        let credit = if sharer.is_some() { 0.5 } else { 1.0 };
        self.pull_each(called.iter().chain(answerer.iter()).copied(), |index| {
            if Some(index) == answerer || Some(index) == sharer {
                credit
            } else {
                0.0
            }
        });
    }

    /// Records an incorrect trajectory served by a logged decision: each module `called` left
    /// for another gets a pull without credit; the module of the last call does not.
    pub fn record_left(&mut self, called: &[u8]) {
        if let Some(&last) = called.last() {
            self.pull_each(called.iter().copied().filter(|&m| m != last), |_| 0.0);
        }
    }

    /// One pull for each distinct module of `modules` (a module called several times is one
    /// pull), answered by `credit(module)`.
    fn pull_each(&mut self, modules: impl Iterator<Item = u8>, credit: impl Fn(u8) -> f64) {
        let mut seen = [false; 256];
        for index in modules {
            let i = usize::from(index);
            if seen[i] {
                continue;
            }
            seen[i] = true;
            if let Some(arm) = self.arms.get_mut(i) {
                arm.pulls += 1.0;
                arm.answered += credit(index);
            }
        }
    }

    /// Decayed pulls over every module: how much evidence the arms hold.
    pub fn total_pulls(&self) -> f64 {
        self.arms.iter().map(|a| a.pulls).sum()
    }

    /// These arms with `prior` added (same modules, same order): a loan from sibling module
    /// sets counts as evidence until the set's own outweighs it.
    pub fn with_prior(&self, prior: &Arms) -> Arms {
        Arms {
            arms: self
                .arms
                .iter()
                .zip(prior.arms.iter().chain(std::iter::repeat(&Arm::default())))
                .map(|(own, lent)| Arm {
                    pulls: own.pulls + lent.pulls,
                    answered: own.answered + lent.answered,
                })
                .collect(),
        }
    }

    /// The module that leads a path of the budget (see [`crate::state`]): the strict top,
    /// if it has answered at all and scores at least [`crate::state::USELESS_BELOW`]. One that
    /// never answered may be first merely by having been tried less (untried scores 0.5).
    pub fn leader(&self) -> Option<usize> {
        self.strict_top().filter(|&t| {
            let arm = self.arms[t];
            arm.answered >= 0.5 && arm.score() >= crate::state::USELESS_BELOW
        })
    }

    /// The module ranked first when one is strictly ahead of all others.
    pub fn strict_top(&self) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        let mut tied = false;
        for (i, arm) in self.arms.iter().enumerate() {
            let score = arm.score();
            match best {
                Some((_, b)) if score == b => tied = true,
                Some((_, b)) if score < b => {}
                _ => {
                    best = Some((i, score));
                    tied = false;
                }
            }
        }
        best.filter(|_| !tied).map(|(i, _)| i)
    }

    /// Arm indices best first; ties (equal scores) are ordered by `tie_key(index)`, ascending.
    pub fn ranking_by(&self, tie_key: impl Fn(usize) -> u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.arms.len()).collect();
        order.sort_by(|&a, &b| {
            self.arms[b]
                .score()
                .total_cmp(&self.arms[a].score())
                .then_with(|| tie_key(a).cmp(&tie_key(b)))
        });
        order
    }
}

/// The module that shares the last call's credit: `a` of a trajectory that ends
/// `[.., a, a, b]` (`b` another module: two or more calls on `a`, then one on `b`).
fn sharer_of_last_call(called: &[u8]) -> Option<u8> {
    match called {
        [.., a, before, last] if a == before && before != last => Some(*before),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (closed-loop review): a useless module always tried before the helpful one got
    /// the same reward and won the tie by name, forever.
    #[test]
    fn a_module_always_tried_first_but_never_answering_loses_its_place() {
        let mut arms = Arms::new(2);
        for _ in 0..20 {
            // Module 0 is tried first, module 1 answers.
            arms.record_answered(&[0, 1, 1], Answerer::LastCall);
        }
        assert_eq!(arms.ranking_by(|i| i as u64), vec![1, 0]);
        assert!(arms.arms()[0].score() < 0.1);
        assert!(arms.arms()[1].score() > 0.9);
    }

    #[test]
    fn answered_by_overrides_the_last_call_and_failures_credit_nobody() {
        let mut arms = Arms::new(3);
        arms.record_answered(&[0, 1], Answerer::Module(0));
        assert_eq!(
            arms.arms()[0],
            Arm {
                pulls: 1.0,
                answered: 1.0
            }
        );
        assert_eq!(
            arms.arms()[1],
            Arm {
                pulls: 1.0,
                answered: 0.0
            }
        );
        arms.record_left(&[2, 2, 2]);
        assert_eq!(arms.arms()[2], Arm::default());
        // Answered without tools: nobody is pulled.
        arms.record_answered(&[], Answerer::LastCall);
        assert_eq!(arms.arms()[2], Arm::default());
        // Nor when the calls were made but the answer used none of them.
        arms.record_answered(&[0, 2, 2], Answerer::NoTool);
        assert_eq!(arms.arms()[2], Arm::default());
        assert_eq!(arms.arms()[0].pulls, 1.0);
    }

    /// Regression (closed-loop review): an over-caller that had its answer from module 1 spent
    /// its last call on module 0, and the whole credit for it put module 0 first.
    #[test]
    fn a_last_call_after_the_budget_ran_out_shares_the_credit_only_when_it_left_a_worked_module() {
        let credited = |called: &[u8], answerer| {
            let mut arms = Arms::new(3);
            arms.record_answered(called, answerer);
            arms.arms()
                .iter()
                .map(|a| (a.answered, a.pulls))
                .collect::<Vec<_>>()
        };
        let spent = Answerer::LastCallBudgetSpent;
        // Two calls on 1, then one on 0: either may have answered.
        assert_eq!(
            credited(&[1, 1, 0], spent),
            [(0.5, 1.0), (0.5, 1.0), (0.0, 0.0)]
        );
        assert_eq!(
            credited(&[2, 1, 1, 0], spent),
            [(0.5, 1.0), (0.5, 1.0), (0.0, 1.0)]
        );
        // The agent stopped on its own: the last call answered.
        assert_eq!(
            credited(&[1, 1, 0], Answerer::LastCall),
            [(1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
        );
        // One call on a module tried first, then the one that answered: not shared.
        assert_eq!(
            credited(&[0, 1], spent),
            [(0.0, 1.0), (1.0, 1.0), (0.0, 0.0)]
        );
        // Ends on a run of the last module, or never left one: the last call's module.
        assert_eq!(
            credited(&[1, 1, 0, 0], spent),
            [(1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
        );
        assert_eq!(
            credited(&[1, 1, 1], spent),
            [(0.0, 0.0), (1.0, 1.0), (0.0, 0.0)]
        );
        // What the orchestrator said always wins.
        assert_eq!(
            credited(&[1, 1, 0], Answerer::Module(1)),
            [(0.0, 1.0), (1.0, 1.0), (0.0, 0.0)]
        );
    }

    /// Regression (closed-loop review): a useless module credited with one lucky answer stayed
    /// first while every request failed on the call it wasted, until the budget had climbed
    /// far enough for the helpful module behind it to answer.
    #[test]
    fn a_failed_request_served_by_a_decision_pulls_the_modules_it_left_but_not_its_last() {
        let mut arms = Arms::new(3);
        arms.record_answered(&[0], Answerer::LastCall);
        assert_eq!(arms.ranking_by(|i| i as u64)[0], 0);
        for _ in 0..2 {
            // Module 0 first, module 1 not given the calls it needs.
            arms.record_left(&[0, 1, 1]);
        }
        let pulls: Vec<f64> = arms.arms().iter().map(|a| a.pulls).collect();
        assert_eq!(pulls, [3.0, 0.0, 0.0]);
        assert!(arms.arms()[0].score() < Arm::default().score());
        assert_eq!(arms.ranking_by(|i| i as u64), vec![1, 2, 0]);
        // Left and come back to: the last call's module is not pulled.
        arms.record_left(&[2, 1, 2]);
        assert_eq!(arms.arms()[1].pulls, 1.0);
        assert_eq!(arms.arms()[2].pulls, 0.0);
    }

    #[test]
    fn untried_modules_rank_between_answering_and_failing_ones() {
        let mut arms = Arms::new(3);
        for _ in 0..5 {
            arms.record_answered(&[0, 2], Answerer::Module(2));
        }
        assert_eq!(arms.ranking_by(|i| i as u64), vec![2, 1, 0]);
    }

    #[test]
    fn ties_follow_the_key_not_the_name() {
        let arms = Arms::new(3);
        assert_eq!(arms.ranking_by(|i| [5, 1, 3][i]), vec![1, 2, 0]);
    }

    #[test]
    fn decay_forgets_until_untried() {
        let mut arms = Arms::new(1);
        arms.record_answered(&[0], Answerer::LastCall);
        for _ in 0..2000 {
            arms.decay(0.995);
        }
        assert_eq!(arms.arms()[0], Arm::default());
    }
}
