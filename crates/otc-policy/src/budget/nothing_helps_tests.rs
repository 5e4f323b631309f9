//! The budget rule where no budget helps (every request fails, however many calls it gets)
//! and after such a spell ends (an outage): the budget comes back down to no tools, re-checks
//! now and then, and finds the need again once requests can be answered.

use super::tests::{Agent, DECAY, follow, follow_decaying};
use super::*;

/// A combination no budget helps (every request fails, however many calls it gets): an agent
/// that uses every call climbs looking for a budget that works, then, the largest budget
/// having failed as well (as rarely as no tools, within the tolerance), goes straight to no
/// tools (a new user's trial found it at 16 calls and 0 % success for good). It climbs again
/// to re-check every 400 requests.
#[test]
fn a_combination_no_budget_helps_comes_back_down() {
    let mut rarely = Vec::new();
    for seed in 1..=40 {
        let (calls, at_zero) = hopeless(true, 0.0, seed);
        // Before: 16 calls on every request from the first hundred on. Now 0.7 on average:
        // no tools 95 % of the time, and a climb to the largest budget to re-check about
        // every 400 requests.
        assert!(
            calls <= 1.5 && at_zero >= 0.85,
            "seed {seed}: {calls} {at_zero}"
        );
        // A new user's trial: where 3 % of requests are still answered, probes from the
        // largest budget brought it down one level at a time before its own evidence could
        // say that it answers about as rarely as no tools (1.1 to 5.9 calls per request before
        // the first probe below the largest budget waited). Which requests are the lucky ones
        // decides the path: over these 40 seeds 34 spend under 1.5 calls, the worst 6.5
        // (seed 30; 1.35 on average, 1.25 with a cold start of 0).
        let (calls, _) = hopeless(true, 0.03, seed);
        assert!(calls <= 7.0, "seed {seed}, 3 % answered: {calls}");
        rarely.push(calls);
    }
    let mean = rarely.iter().sum::<f64>() / rarely.len() as f64;
    let under = rarely.iter().filter(|&&calls| calls < 1.5).count();
    assert!(under >= 30, "3 % answered: {rarely:?}");
    assert!(mean <= 1.5, "3 % answered: {rarely:?}");
}

/// Calls per request and the share of decisions with no tools, over requests 1,000 to 3,000
/// of a combination no budget helps (its agent needs 3 calls, then gives up, or uses every
/// call it is given), where a share `lucky` of requests is answered whatever the budget.
fn hopeless(over_caller: bool, lucky: f64, seed: u64) -> (f64, f64) {
    let config = BudgetConfig::default();
    let mut state = BudgetState::default();
    let agent = Agent {
        need: 3,
        over_caller,
        solvable: 0.0,
        lucky,
    };
    let budgets = follow(&mut state, &config, 3000, agent, seed);
    let late = &budgets[1000..];
    let spent = |b: u32| if over_caller { b } else { b.min(agent.need) };
    let calls = late.iter().map(|&b| f64::from(spent(b))).sum::<f64>() / late.len() as f64;
    let at_zero = late.iter().filter(|&&b| b == 0).count() as f64 / late.len() as f64;
    (calls, at_zero)
}

/// After a spell in which no budget helped (an outage: every request failed), the budget finds
/// the need again once requests can be answered, whether its agent uses every call or stops on
/// its own. Where nothing is ever forgotten (decay 1) it is slow, since the outage's failures
/// weigh as much as new successes, but it does: the failures of the largest budget (or of one
/// whose agents gave up) no longer keep it from climbing for good.
#[test]
fn after_an_outage_the_budget_finds_the_need_again() {
    let config = BudgetConfig::default();
    let answerable = Agent {
        need: 3,
        over_caller: true,
        solvable: 0.9,
        lucky: 0.0,
    };
    let outage = Agent {
        solvable: 0.0,
        ..answerable
    };
    for (seed, over_caller) in (1..=4).flat_map(|seed| [(seed, true), (seed, false)]) {
        let answerable = Agent {
            over_caller,
            ..answerable
        };
        let outage = Agent {
            over_caller,
            ..outage
        };
        for (decay, within) in [(DECAY, 1000), (1.0, 2400)] {
            let mut state = BudgetState::default();
            follow_decaying(&mut state, &config, 1500, outage, seed, decay);
            let after = follow_decaying(&mut state, &config, 3000, answerable, seed + 10, decay);
            let back = after.iter().position(|&b| b == 3);
            let last = &after[2500..];
            let at_need = last.iter().filter(|&&b| b == 3).count();
            assert!(
                back.is_some_and(|t| t <= within) && at_need * 10 >= last.len() * 9,
                "decay {decay}, seed {seed}, over-caller {over_caller}: back at {back:?}, {at_need} of the last {} at 3: \
                 {after:?}",
                last.len()
            );
        }
    }
}

/// The same for an agent that stops on its own: it gives up after the calls it would need
/// and fails. Such failures are not the budget's fault, so they never made the budget climb,
/// but they say that no budget at or above the calls made helps either; without that the
/// budget sat one above those calls for good (calls spent on every request, none answered).
#[test]
fn a_combination_no_budget_helps_comes_down_for_an_agent_that_gives_up() {
    for seed in 1..=8 {
        let (calls, at_zero) = hopeless(false, 0.0, seed);
        // Before: 3 calls on every request (budget 4), never none. Now about 0.5 calls on
        // average (a re-check of the level it gives up at every 100 requests) and no tools on
        // 84 % of requests.
        assert!(
            calls <= 0.75 && at_zero >= 0.75,
            "seed {seed}: {calls} {at_zero}"
        );
        // With 3 % of requests answered all the same: 0.6 to 0.9 calls.
        let (calls, at_zero) = hopeless(false, 0.03, seed);
        assert!(
            calls <= 1.0 && at_zero >= 0.6,
            "seed {seed}, 3 % answered: {calls}"
        );
    }
}

/// Review finding: after an outage, an agent that stops on its own found its need again only
/// once the outage's failures had faded (a median of about 340 requests): the level it gave up
/// at is now served again after 100 requests without a probe or a move.
#[test]
fn after_an_outage_an_agent_that_gives_up_finds_its_need_within_the_recheck() {
    let config = BudgetConfig::default();
    let answerable = Agent {
        need: 3,
        over_caller: false,
        solvable: 0.9,
        lucky: 0.05,
    };
    let outage = Agent {
        solvable: 0.0,
        lucky: 0.0,
        ..answerable
    };
    let mut backs = Vec::new();
    for seed in 1..=40 {
        for outage_length in [150, 300] {
            let mut state = BudgetState::default();
            follow(&mut state, &config, 500, answerable, seed);
            follow(&mut state, &config, outage_length, outage, seed + 100);
            let after = follow(&mut state, &config, 400, answerable, seed + 200);
            let back = after.iter().position(|&b| b >= 3).unwrap_or(after.len());
            backs.push(back);
        }
    }
    // Measured: a median of 63, 90 % within 100, the worst 222 (a probe under way holds the
    // re-check back). Before: a median of about 340 and a worst of about 580.
    backs.sort_unstable();
    let at = |share: f64| backs[((backs.len() - 1) as f64 * share) as usize];
    assert!(
        at(0.5) <= 100 && at(0.9) <= 150 && at(1.0) <= 250,
        "{backs:?}"
    );
}
