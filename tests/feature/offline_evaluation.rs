//! Off-policy evaluation judged against the truth, as its issue asks: log a run of the
//! simulated world under the default config, evaluate candidate configs on that log, then run
//! each candidate itself in closed loop on the same requests and compare. Over 20 seeds per
//! world (60 in the graded one, whose many refusals leave a third of the checks: at 20 seeds
//! one check more or less moved its coverage by 1.5 points, across 90 %): how often the
//! candidate's true closed-loop accuracy and calls per request lie inside the reported 95 %
//! doubly robust interval (where the effective sample size is at least 200),
//! and the mean absolute error. The intervals include the path term (`evaluate::path`): when
//! the candidate's own run would have moved its budget on a probe or for a gain. The target is
//! asserted in the steady, sibling and graded worlds and for the silent over-caller (uses its
//! whole budget, never says which call answered) in the steady world; its drift is in the
//! snapshot with its figures: where the log never probed after the need fell, no log can show
//! that a candidate probing at other times would have found it.

use otc_policy::PolicyConfig;
use otc_policy::evaluate::RELIABLE_ESS;
use otc_policy::offpolicy::Estimate;
use otc_policy::simulate::offline::{self, OfflineCheck};
use otc_policy::simulate::{Agent, Scenario};

/// Seeds per world; the graded world takes three times as many (see the module docs).
const SEEDS: u64 = 20;
const GRADED_SEEDS: u64 = 3 * SEEDS;
const PER_COMBO: usize = 400;

/// The candidates: exploration knobs (the fold is shared), the budget rule's tolerance and
/// probe interval (folded on their own), and one the log cannot support.
fn candidates() -> Vec<(&'static str, PolicyConfig)> {
    let with = |change: fn(&mut PolicyConfig)| {
        let mut config = PolicyConfig::default();
        change(&mut config);
        config
    };
    vec![
        ("explore_up 0.2", with(|c| c.budget.explore_up = 0.2)),
        (
            "explore_order 0.15",
            with(|c| c.budget.explore_order = 0.15),
        ),
        ("explore_order 0", with(|c| c.budget.explore_order = 0.0)),
        ("tolerance 0.05", with(|c| c.budget.tolerance = 0.05)),
        ("tolerance 0.25", with(|c| c.budget.tolerance = 0.25)),
        ("probe_after 10", with(|c| c.budget.probe_after = 10)),
        ("max_budget 3", with(|c| c.budget.max_budget = 3)),
    ]
}

/// Coverage and error of one metric over the checks with enough effective sample size.
#[derive(Default)]
struct Tally {
    covered: usize,
    counted: usize,
    error: f64,
}

impl Tally {
    fn add(&mut self, estimate: &Estimate, truth: f64) {
        self.counted += 1;
        self.covered += usize::from(estimate.ci_low <= truth && truth <= estimate.ci_high);
        self.error += (estimate.value - truth).abs();
    }

    fn coverage(&self) -> f64 {
        self.covered as f64 / self.counted.max(1) as f64
    }

    fn cell(&self) -> String {
        format!(
            "{}/{} mae {:.4}",
            self.covered,
            self.counted,
            self.error / self.counted.max(1) as f64
        )
    }
}

struct World {
    accuracy: Tally,
    calls: Tally,
    refused: usize,
    rows: Vec<String>,
}

fn judge(scenario: &Scenario, seeds: u64) -> World {
    let candidates = candidates();
    let configs: Vec<PolicyConfig> = candidates.iter().map(|(_, c)| c.clone()).collect();
    let by_seed: Vec<Vec<OfflineCheck>> = (1..=seeds)
        .map(|seed| offline::check(scenario, seed, &PolicyConfig::default(), &configs).unwrap())
        .collect();
    let mut world = World {
        accuracy: Tally::default(),
        calls: Tally::default(),
        refused: 0,
        rows: Vec::new(),
    };
    for (i, (name, _)) in candidates.iter().enumerate() {
        let (mut accuracy, mut calls, mut refused, mut thin) =
            (Tally::default(), Tally::default(), 0, 0);
        for checks in &by_seed {
            let check = &checks[i];
            match &check.estimate {
                Err(_) => refused += 1,
                Ok(report) if report.effective_sample_size < RELIABLE_ESS => thin += 1,
                Ok(report) => {
                    let dr = |m: &otc_policy::evaluate::Metric| m.candidate.doubly_robust;
                    accuracy.add(&dr(&report.outcomes.accuracy), check.truth.accuracy);
                    calls.add(&dr(&report.outcomes.calls), check.truth.calls);
                    world
                        .accuracy
                        .add(&dr(&report.outcomes.accuracy), check.truth.accuracy);
                    world
                        .calls
                        .add(&dr(&report.outcomes.calls), check.truth.calls);
                }
            }
        }
        world.refused += refused;
        world.rows.push(format!(
            "{name:<20} accuracy {:<18} calls {:<18} refused {refused:>2} thin {thin}",
            accuracy.cell(),
            calls.cell()
        ));
    }
    world
}

#[test]
fn reported_intervals_hold_the_closed_loop_truth() {
    let mut table = Vec::new();
    // The target is asserted where a world has this many checks at least (graded refuses more).
    for (name, scenario, seeds, min_checks) in [
        (
            "steady",
            Scenario::steady(Agent::Efficient, PER_COMBO),
            SEEDS,
            Some(100),
        ),
        (
            "siblings",
            Scenario::siblings(Agent::Efficient, PER_COMBO),
            SEEDS,
            Some(100),
        ),
        (
            "steady, over-caller",
            Scenario::steady(Agent::OverCaller, PER_COMBO),
            SEEDS,
            // Two candidates are refused on every seed here (`probe_after` 10 as well), and
            // an occasional third: 99 checks with the cold start of 1.
            Some(98),
        ),
        (
            "drift, over-caller",
            Scenario::drift(Agent::OverCaller, PER_COMBO),
            SEEDS,
            None,
        ),
        (
            "graded",
            Scenario::graded(Agent::Efficient, PER_COMBO),
            GRADED_SEEDS,
            Some(180),
        ),
    ] {
        let world = judge(&scenario, seeds);
        table.push(format!(
            "{name}: accuracy {} ({:.0}%), calls {} ({:.0}%), refused {}",
            world.accuracy.cell(),
            100.0 * world.accuracy.coverage(),
            world.calls.cell(),
            100.0 * world.calls.coverage(),
            world.refused
        ));
        table.extend(world.rows.iter().map(|row| format!("  {row}")));
        if let Some(min_checks) = min_checks {
            assert!(
                world.accuracy.counted >= min_checks,
                "{name}: too few checks: {}",
                table.join("\n")
            );
            assert!(
                world.accuracy.coverage() >= 0.9,
                "{name}: {}",
                table.join("\n")
            );
            assert!(
                world.calls.coverage() >= 0.9,
                "{name}: {}",
                table.join("\n")
            );
            // A candidate capped below what the world needs is refused, never estimated.
            assert!(
                world.refused >= seeds as usize,
                "{name}: {}",
                table.join("\n")
            );
        }
    }
    insta::assert_snapshot!(table.join("\n"));
}
