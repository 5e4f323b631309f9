//! The budget rule on its own: the collapse it replaces cannot happen, it climbs from a cold
//! start, comes down through revelation and through probes, and keeps its invariants under
//! any input (the knobs' ranges are tested beside them, in `config.rs`).

use super::*;
use crate::decision::Draws;
use proptest::prelude::*;

const DECAY: f64 = 0.995;

/// A deterministic stream of uniform numbers for the tests' own coin flips.
struct Coins(crate::synthetic::Rng);

impl Coins {
    fn new(seed: u64) -> Self {
        Self(crate::synthetic::Rng::new(seed))
    }
    fn flip(&mut self, p: f64) -> bool {
        self.0.unit() < p
    }
}

/// The agent of [`follow`]: it needs `need` calls; the efficient one makes
/// `min(need, budget)` calls, the over-caller all of them; correct when `need <= budget` and
/// the request is solvable, or lucky (then the efficient one stops after half the need).
#[derive(Clone, Copy)]
struct Agent {
    need: u32,
    over_caller: bool,
    solvable: f64,
    lucky: f64,
}

/// The policy's budget and the budget decision `id` serves (exploring as a real decision
/// would, with the decision's own draw).
pub(crate) fn serve(state: &BudgetState, config: &BudgetConfig, id: u64) -> (u32, u32) {
    let exploration = state.exploration(config);
    let k = exploration.policy_budget;
    let u = Draws::for_decision(id).budget();
    let served = if u < exploration.down {
        k - 1
    } else if u < exploration.down + exploration.up {
        k + 1
    } else {
        k
    };
    (k, served)
}

/// Serves `steps` decisions (with exploration, as a real decision would) to `agent`. Returns
/// the policy budget before each decision.
fn follow(
    state: &mut BudgetState,
    config: &BudgetConfig,
    steps: u64,
    agent: Agent,
    seed: u64,
) -> Vec<u32> {
    follow_decaying(state, config, steps, agent, seed, DECAY)
}

/// [`follow`] with the estimator's `decay`.
fn follow_decaying(
    state: &mut BudgetState,
    config: &BudgetConfig,
    steps: u64,
    agent: Agent,
    seed: u64,
    decay: f64,
) -> Vec<u32> {
    let Agent {
        need,
        over_caller,
        solvable,
        lucky,
    } = agent;
    let mut coins = Coins::new(seed);
    let mut budgets = Vec::new();
    for id in 0..steps {
        let (policy, served) = serve(state, config, seed * 1_000_000 + id);
        budgets.push(policy);
        let is_lucky = need > 0 && coins.flip(lucky);
        let correct = is_lucky || (need <= served && coins.flip(solvable));
        let calls = match (over_caller, is_lucky) {
            (true, _) => served,
            (false, true) => need / 2,
            (false, false) => need.min(served),
        };
        state.observe(
            BudgetObservation {
                served: Some(served),
                calls,
                correct,
                answered_at: None,
            },
            config,
            decay,
        );
    }
    budgets
}

/// Regression (closed-loop review): the budget served was a low quantile of correct call
/// counts; lucky short answers pulled it below the need and nothing pulled it back. Here 5 %
/// of requests are correct after a third of the calls they need; the budget stays at the need.
#[test]
fn lucky_short_answers_cannot_pull_the_budget_down() {
    let config = BudgetConfig::default();
    for over_caller in [false, true] {
        let mut state = BudgetState::starting_at(3);
        let budgets = follow(
            &mut state,
            &config,
            2000,
            Agent {
                need: 3,
                over_caller,
                solvable: 0.9,
                lucky: 0.05,
            },
            1,
        );
        let below = budgets.iter().filter(|&&b| b < 3).count();
        assert_eq!(below, 0, "over_caller={over_caller}: {budgets:?}");
    }
}

#[test]
fn the_budget_climbs_from_the_cold_start_to_the_need_and_stays() {
    let config = BudgetConfig::default();
    for (need, over_caller) in [(1, false), (3, true), (5, false), (5, true)] {
        let mut state = BudgetState::default();
        let budgets = follow(
            &mut state,
            &config,
            600,
            Agent {
                need,
                over_caller,
                solvable: 0.9,
                lucky: 0.0,
            },
            2,
        );
        let first = budgets.iter().position(|&b| b == need).unwrap();
        assert!(first <= 4 * need as usize + 4, "{need}: {budgets:?}");
        let after = &budgets[first..];
        let off = after.iter().filter(|&&b| b != need).count();
        assert!(
            off * 200 <= after.len(),
            "need {need}: {off} off of {}",
            after.len()
        );
    }
}

#[test]
fn agents_that_stop_on_their_own_bring_a_generous_budget_down() {
    let config = BudgetConfig::default();
    let mut state = BudgetState::starting_at(8);
    let budgets = follow(
        &mut state,
        &config,
        200,
        Agent {
            need: 2,
            over_caller: false,
            solvable: 0.9,
            lucky: 0.05,
        },
        3,
    );
    let first = budgets.iter().position(|&b| b == 2).unwrap();
    assert!(first <= 30, "{budgets:?}");
    assert!(budgets[first..].iter().all(|&b| b == 2), "{budgets:?}");
}

#[test]
fn agents_that_use_every_call_come_down_through_probes() {
    let config = BudgetConfig::default();
    let mut state = BudgetState::starting_at(4);
    let budgets = follow(
        &mut state,
        &config,
        600,
        Agent {
            need: 2,
            over_caller: true,
            solvable: 0.9,
            lucky: 0.0,
        },
        4,
    );
    let first = budgets.iter().position(|&b| b == 2).unwrap();
    assert!(first <= 150, "{budgets:?}");
    assert!(budgets[first..].iter().filter(|&&b| b != 2).count() <= 3);
}

#[test]
fn a_budget_that_stopped_working_climbs_again() {
    let config = BudgetConfig::default();
    let mut state = BudgetState::default();
    follow(
        &mut state,
        &config,
        500,
        Agent {
            need: 1,
            over_caller: false,
            solvable: 0.9,
            lucky: 0.0,
        },
        5,
    );
    assert_eq!(state.current, Some(1));
    let budgets = follow(
        &mut state,
        &config,
        300,
        Agent {
            need: 3,
            over_caller: false,
            solvable: 0.9,
            lucky: 0.0,
        },
        6,
    );
    let first = budgets.iter().position(|&b| b == 3).unwrap();
    assert!(first <= 40, "{budgets:?}");
}

#[test]
fn confidence_falls_when_the_budget_starts_failing() {
    let config = BudgetConfig::default();
    let mut state = BudgetState::default();
    follow(
        &mut state,
        &config,
        400,
        Agent {
            need: 2,
            over_caller: false,
            solvable: 0.95,
            lucky: 0.0,
        },
        7,
    );
    let before = state.confidence(&config);
    assert!(before > 0.85, "{before}");
    for _ in 0..10 {
        state.observe(
            BudgetObservation {
                served: Some(2),
                calls: 2,
                correct: false,
                answered_at: None,
            },
            &config,
            DECAY,
        );
    }
    assert!(
        state.confidence(&config) < before - 0.03,
        "{}",
        state.confidence(&config)
    );
}

proptest! {
    /// Whatever arrives (served budgets, call counts, outcomes, in any order), the state keeps
    /// its invariants, round-trips through its parts, and replays to the same state.
    #[test]
    fn any_input_keeps_the_invariants(
        steps in proptest::collection::vec(
            (proptest::option::of(0u32..24), 0u32..40, any::<bool>()), 0..300),
        regime_at in proptest::option::of(0usize..300),
    ) {
        let config = BudgetConfig::default();
        let mut a = BudgetState::default();
        let mut b = BudgetState::default();
        for (i, &(served, calls, correct)) in steps.iter().enumerate() {
            let obs = BudgetObservation { served, calls, correct, answered_at: None };
            for state in [&mut a, &mut b] {
                if regime_at == Some(i) {
                    state.new_regime(None, None);
                }
                state.observe(obs, &config, DECAY);
            }
            prop_assert!(a.policy_budget(&config) <= config.max_budget);
            let e = a.exploration(&config);
            prop_assert!((0.0..=0.5).contains(&e.down) && (0.0..=0.5).contains(&e.up));
            prop_assert!(e.down == 0.0 || e.policy_budget > 0);
            prop_assert!(e.up == 0.0 || e.policy_budget < config.max_budget);
            let c = a.confidence(&config);
            prop_assert!((0.0..1.0).contains(&c), "{}", c);
        }
        prop_assert_eq!(&a, &b);
        let levels = a.levels().to_vec();
        prop_assert!(levels.windows(2).all(|w| w[0].0 < w[1].0));
        let rebuilt = BudgetState::from_parts(
            a.current,
            (a.recent_served, a.recent_succeeded),
            a.early,
            (a.probing, a.quick_probe, a.failed_probes, a.since_probe),
            a.led_by,
            levels,
        );
        prop_assert_eq!(rebuilt.as_ref(), Some(&a));
    }
}

/// Review finding: unlogged trajectories fixed the budget at the first one's call count.
#[test]
fn unlogged_trajectories_move_the_budget_both_ways() {
    let config = BudgetConfig::default();
    let unlogged = |state: &mut BudgetState, calls, correct| {
        state.observe(
            BudgetObservation {
                served: None,
                calls,
                correct,
                answered_at: None,
            },
            &config,
            DECAY,
        );
    };
    // A 12-call outlier first, then requests that answer in 2 calls.
    let mut state = BudgetState::default();
    unlogged(&mut state, 12, true);
    for _ in 0..60 {
        unlogged(&mut state, 2, true);
    }
    assert_eq!(state.current, Some(2));
    // A lucky answer without tools first, then requests that need 2 calls.
    let mut state = BudgetState::default();
    unlogged(&mut state, 0, true);
    for _ in 0..60 {
        unlogged(&mut state, 2, true);
    }
    assert_eq!(state.current, Some(2));
}

/// A combination no budget helps (every request fails, however many calls it gets): an agent
/// that uses every call climbs looking for a budget that works, then, the largest budget
/// having failed as well (as rarely as no tools, within the tolerance), goes straight to no
/// tools (a new user's trial found it at 16 calls and 0 % success for good). It climbs again
/// to re-check every 400 requests.
#[test]
fn a_combination_no_budget_helps_comes_back_down() {
    let mut rarely = Vec::new();
    for seed in 1..=8 {
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
        // say that it answers about as rarely as no tools (1.1 to 5.9 calls per request).
        let (calls, _) = hopeless(true, 0.03, seed);
        assert!(calls <= 4.0, "seed {seed}, 3 % answered: {calls}");
        rarely.push(calls);
    }
    let mean = rarely.iter().sum::<f64>() / rarely.len() as f64;
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
