//! A closed-loop simulator: an orchestrator that asks the policy for a decision before each
//! request, lets an agent play the request within what it was served, and reports the
//! trajectory back. The same requests are also played under a generous fixed budget and under
//! an oracle (budget `n*`, helpful module first), so the policy is judged by what happens to the
//! requests it advises. Pure and seeded; the policy is anything that implements [`Advisor`]:
//! any policy store (policy-store's `BackendAdvisor`, as `otc simulate --engine store` runs it)
//! or [`MemoryPolicy`] (fast, for many seeds).

pub mod memory;
pub mod offline;
pub mod report;
pub mod summary;
mod svg;
pub mod world;

pub use memory::{MemoryError, MemoryPolicy};
pub use report::{ComboReport, RunReport, Totals};
pub use summary::Summary;
pub use world::{Agent, Combo, Drift, Scenario};

use crate::advice::Decision;
use crate::synthetic::Rng;
use crate::trajectory::Trajectory;
use report::DecisionRecord;
use world::{RequestDraws, play};

/// What the simulator needs of a policy.
pub trait Advisor {
    /// Why the policy could not decide or take a report (a store's own error, say).
    type Error;
    /// A decision for one request of (intent, modules).
    fn decide(&mut self, intent: &str, modules: &[String]) -> Result<Decision, Self::Error>;
    /// The completed request.
    fn report(&mut self, trajectory: &Trajectory) -> Result<(), Self::Error>;
}

/// Timestamps of simulated requests start here, one millisecond apart.
pub const START_MS: i64 = 1_700_000_000_000;

/// Runs `scenario` under `seed` against `advisor`.
pub fn run<A: Advisor + ?Sized>(
    scenario: &Scenario,
    seed: u64,
    advisor: &mut A,
) -> Result<RunReport, A::Error> {
    let combos = &scenario.combos;
    let mut schedule = Rng::new(seed ^ 0x5eed_5c4e_d01e);
    let mut done = vec![0usize; combos.len()];
    let mut records: Vec<Vec<DecisionRecord>> = vec![Vec::new(); combos.len()];
    let mut fixed = vec![Totals::default(); combos.len()];
    let mut oracle = vec![Totals::default(); combos.len()];
    let mut policy = vec![Totals::default(); combos.len()];
    let mut step = 0usize;
    loop {
        let active: Vec<usize> = (0..combos.len())
            .filter(|&c| done[c] < scenario.per_combo && combos[c].starts_at <= step)
            .collect();
        if active.is_empty() {
            if done.iter().all(|&d| d >= scenario.per_combo) {
                break;
            }
            step += 1;
            continue;
        }
        let c = active[schedule.below(active.len() as u64) as usize];
        let combo = &combos[c];
        let index = done[c];
        let truth = combo.optimal_at(index);
        let draws = RequestDraws::new(scenario, seed, c, index);

        let native = &combo.modules;
        let played = play(
            scenario.agent,
            combo,
            truth,
            scenario.fixed_budget,
            native,
            &draws,
        );
        fixed[c].add(played.calls.len(), played.correct);
        let mut best_first = vec![combo.helpful.clone()];
        best_first.extend(native.iter().filter(|m| **m != combo.helpful).cloned());
        let played = play(scenario.agent, combo, truth, truth, &best_first, &draws);
        oracle[c].add(played.calls.len(), played.correct);

        let decision = advisor.decide(&combo.intent, native)?;
        let played = play(
            scenario.agent,
            combo,
            truth,
            decision.budget,
            &decision.order,
            &draws,
        );
        policy[c].add(played.calls.len(), played.correct);
        records[c].push(DecisionRecord {
            policy_budget: decision.policy_budget,
            served: decision.budget,
            explore: decision.explore,
            order_explored: decision.explored.order,
            first: decision.order.first().cloned(),
            truth,
            correct: played.correct,
        });
        let calls = played.calls.len();
        advisor.report(&Trajectory {
            request_id: format!("sim-{seed}-{c}-{index}"),
            intent: combo.intent.clone(),
            modules: native.clone(),
            calls: played.calls,
            run_units: calls as f64,
            correct: played.correct,
            latency_ms: 10.0 + 100.0 * calls as f64,
            timestamp_ms: START_MS + step as i64,
            decision_id: Some(decision.decision_id),
            answered_by: if scenario.report_answer {
                played.answered_by
            } else {
                None
            },
            answered_at: if scenario.report_call {
                played.answered_at
            } else {
                None
            },
        })?;
        done[c] += 1;
        step += 1;
    }
    Ok(RunReport::new(
        scenario, seed, records, fixed, oracle, policy,
    ))
}
