//! The policy judged in closed loop, as the issue that introduced it asks: an orchestrator asks
//! for a decision before every request, follows the budget and the module order, and reports
//! the trajectory back. Seeded runs of `otc_policy::simulate` against known truth, checked
//! against the targets: accuracy within a point of a generous fixed budget, most of the
//! oracle's call saving, fast convergence that stays, drift followed, the helpful module first,
//! and borrowing from sibling module sets. The in-memory policy runs the many seeds (it decides
//! exactly as every policy store does: `policy_store::conformance` checks it); one
//! run goes through the real store, and its table is a snapshot.

use otc_policy::PolicyConfig;
use otc_policy::simulate::{self, Agent, MemoryPolicy, RunReport, Scenario, Summary};
use policy_store::BackendAdvisor;
use policy_store_sqlite::SqlitePolicyStore;

/// Trajectories per combination: long enough that the cold start (a few failed requests per
/// combination while the budget climbs) is a small part of the run, as it is in production.
const PER_COMBO: usize = 2000;

fn seeds() -> u64 {
    // The targets are stated over seeds ("on 90% of seeds"): enough of them that the figure is
    // not a matter of which few were drawn. 40 take a few seconds in a debug build.
    if std::env::var_os("OTC_SLOW_TESTS").is_some() {
        100
    } else {
        40
    }
}

fn runs(build: fn(Agent, usize) -> Scenario, agent: Agent) -> Vec<RunReport> {
    run_all(&build(agent, PER_COMBO))
}

fn run_all(scenario: &Scenario) -> Vec<RunReport> {
    (1..=seeds())
        .map(|seed| {
            simulate::run(
                scenario,
                seed,
                &mut MemoryPolicy::new(PolicyConfig::default()),
            )
            .unwrap()
        })
        .collect()
}

/// Share of (seed, combination) pairs whose helpful module came first within `within`
/// trajectories, and the slowest, over combinations that need a module at all.
fn helpful_first(runs: &[RunReport], within: usize) -> (f64, usize) {
    let times: Vec<usize> = runs
        .iter()
        .flat_map(|run| run.combos.iter())
        .filter(|c| c.optimal > 0)
        .map(|c| c.helpful_first_at.unwrap_or(usize::MAX))
        .collect();
    let soon = times.iter().filter(|&&t| t <= within).count();
    (
        soon as f64 / times.len() as f64,
        times.into_iter().max().unwrap_or(0),
    )
}

/// The targets both agents meet in the steady world (the over-caller's saving target is 90%).
/// The helpful module comes first (on every later decision serving the policy's order) within
/// 30 trajectories for every combination (100 seeds of this build: the slowest takes 22). A
/// lucky answer credited to a useless module used to keep it first until the budget had
/// climbed far enough for the helpful one to answer: failed requests that leave it now pull
/// it down.
fn assert_steady_targets(runs: &[RunReport], saving: f64, median: f64) {
    let summary = Summary::of(runs, 50);
    let text = summary.text();
    let (soon, slowest) = helpful_first(runs, 30);
    assert!(
        slowest <= 30,
        "helpful module first: {soon:.3} within 30, slowest {slowest}"
    );
    assert!(
        summary.accuracy_delta >= -0.01,
        "within a point of the fixed budget: {text}"
    );
    assert!(summary.saving_vs_oracle >= saving, "call saving: {text}");
    assert!(
        summary.median_convergence <= median,
        "median convergence: {text}"
    );
    assert!(
        summary.runs_all_within >= 0.9,
        "every combination within 50 on 90% of seeds: {text}"
    );
    // All but one combination within 50 on every seed. (A rare streak of ordinary failures,
    // about one request in ten fails at any budget, can make a settled budget climb and come
    // back through a probe; one seed in 100 missed two while a single guessed credit could
    // still put a useless module first.)
    let misses: Vec<usize> = runs
        .iter()
        .map(|run| {
            run.combos
                .iter()
                .filter(|c| c.converged_at.is_none_or(|t| t > 50))
                .count()
        })
        .collect();
    assert!(
        misses.iter().all(|&m| m <= 1),
        "all but one combination on every seed: {misses:?}; {text}"
    );
    assert!(summary.min_stays >= 0.995, "stays at n*: {text}");
    assert!(
        summary.min_top_right >= 0.98,
        "top module right at the end: {text}"
    );
}

#[test]
fn closed_loop_efficient_agent_meets_the_targets() {
    let runs = runs(Scenario::steady, Agent::Efficient);
    assert_steady_targets(&runs, 0.95, 15.0);
    let summary = Summary::of(&runs, 50);
    assert!(
        summary.explored_down < 0.005,
        "downward exploration is rare: {}",
        summary.text()
    );
}

#[test]
fn closed_loop_over_caller_meets_the_targets() {
    let runs = runs(Scenario::steady, Agent::OverCaller);
    assert_steady_targets(&runs, 0.9, 30.0);
    let summary = Summary::of(&runs, 50);
    assert!(
        summary.explored_down < 0.01,
        "downward exploration is rare: {}",
        summary.text()
    );
}

#[test]
fn closed_loop_drift_is_followed() {
    let efficient = Summary::of(&runs(Scenario::drift, Agent::Efficient), 50);
    assert_eq!(efficient.drifts_missed, 0, "{}", efficient.text());
    assert!(
        efficient.max_drift_follow.is_some_and(|t| t <= 75),
        "{}",
        efficient.text()
    );
    // An agent that uses every call and says nothing more shows a lower sufficient budget
    // only through a probe, and probes back off to one per 400 observations (each probe of a
    // level that does not work costs a request), so a drift down takes hundreds of
    // trajectories and, on a few seeds, more than the 1000 left after it (see the test below
    // for the same agent with `answered_at`). A drift up is followed like the efficient
    // agent's, but a fresh level can be left on an unlucky streak of ordinary failures and
    // come back through a probe: allow that on a few seeds.
    let over = runs(Scenario::drift, Agent::OverCaller);
    let up: Vec<usize> = over
        .iter()
        .map(|run| {
            assert_eq!(run.combos[0].drift_to, Some(3));
            run.combos[0].followed_drift_in.unwrap_or(usize::MAX)
        })
        .collect();
    let late = up.iter().filter(|&&t| t > 75).count();
    assert!(
        late * 20 <= up.len(),
        "drift up within 75 on 95% of seeds: {up:?}"
    );
    assert!(up.iter().all(|&t| t <= 100), "{up:?}");
    let down: Vec<usize> = over
        .iter()
        .map(|run| run.combos[1].followed_drift_in.unwrap_or(usize::MAX))
        .collect();
    // What this build gives: 3 of 100 seeds (2 of the first 40) do not follow within the 1000
    // trajectories left; the test holds it there.
    let missed = down.iter().filter(|&&t| t == usize::MAX).count();
    assert!(
        missed <= (down.len() * 3 / 100).max(2),
        "drift down followed on 97% of seeds: {down:?}"
    );
    // The over-caller's accuracy and saving targets hold through both drifts (-0.96 points
    // and 93.4 % of the oracle's saving on seeds 1-40, 1-100 and 101-300 alike; -1.10 with
    // the cold start of 0, whose first climb failed a few more requests). The margin is thin
    // on purpose: a change that costs this agent 0.05 points must say why.
    let summary = Summary::of(&over, 50);
    assert!(summary.accuracy_delta >= -0.01, "{}", summary.text());
    assert!(summary.saving_vs_oracle >= 0.9, "{}", summary.text());
}

/// The seeds (out of 101-300) on which the efficient agent followed the drift down later than
/// 75 trajectories (97 to 166) while a gain climb, on an unlucky streak at the new budget, and
/// paired evidence took turns; now 51 at most over those 200 seeds.
#[test]
fn closed_loop_an_unlucky_streak_after_a_drift_down_does_not_hold_the_budget() {
    let scenario = Scenario::drift(Agent::Efficient, PER_COMBO);
    for seed in [148, 179, 255, 294] {
        let run = simulate::run(
            &scenario,
            seed,
            &mut MemoryPolicy::new(PolicyConfig::default()),
        )
        .unwrap();
        let down = &run.combos[1];
        assert_eq!(down.drift_to, Some(2));
        let followed = down.followed_drift_in.unwrap_or(usize::MAX);
        assert!(followed <= 75, "seed {seed}: followed in {followed}");
    }
}

/// The over-caller again, with an orchestrator that says which call answered
/// (`answered_at`): lower budgets are revealed without probes, so it meets the drift target
/// (75 trajectories, both ways, every seed) and the accuracy and saving targets with it.
#[test]
fn closed_loop_answered_at_lets_an_over_caller_follow_a_drift() {
    let mut scenario = Scenario::drift(Agent::OverCaller, PER_COMBO);
    scenario.report_call = true;
    let runs = run_all(&scenario);
    let summary = Summary::of(&runs, 50);
    let text = summary.text();
    assert_eq!(summary.drifts_missed, 0, "{text}");
    assert!(summary.max_drift_follow.is_some_and(|t| t <= 75), "{text}");
    assert!(summary.accuracy_delta >= -0.01, "{text}");
    assert!(summary.saving_vs_oracle >= 0.9, "{text}");
    assert!(summary.runs_all_within >= 0.9, "{text}");
}

/// Success that rises gradually with the budget (requests need different numbers of calls):
/// the budget must not settle a level short of `n*` on a few lucky probes, nor stay where
/// success is only partial. The policy stays within 5 points of the oracle's accuracy (the
/// first closed-loop policy lost 15 to 19 here), keeps most of its call saving, and serves
/// `n*` on most of the later decisions for every combination but the hardest (`planning`,
/// where `n*` gains 0.15 over the level below against a tolerance of 0.1).
#[test]
fn closed_loop_gradual_success_keeps_the_budget_within_the_tolerance() {
    for agent in [Agent::Efficient, Agent::OverCaller] {
        let runs = runs(Scenario::graded, agent);
        let (mut fixed, mut oracle, mut policy) = (0.0, 0.0, 0.0);
        for run in &runs {
            let (f, o, p) = run.totals();
            fixed += f.accuracy();
            oracle += o.accuracy();
            policy += p.accuracy();
        }
        let n = runs.len() as f64;
        let (fixed, oracle, policy) = (fixed / n, oracle / n, policy / n);
        assert!(
            policy >= oracle - 0.05,
            "{agent:?}: accuracy {policy:.3} against the oracle's {oracle:.3} (fixed {fixed:.3})"
        );
        for c in 0..runs[0].combos.len() {
            let intent = &runs[0].combos[c].intent;
            let mut shares: Vec<f64> = runs
                .iter()
                .map(|run| {
                    let series = &run.combos[c].series;
                    let tail = &series[series.len() / 2..];
                    tail.iter().filter(|(b, n, _)| b == n).count() as f64 / tail.len() as f64
                })
                .collect();
            shares.sort_by(f64::total_cmp);
            let median = shares[shares.len() / 2];
            let want = if intent == "planning" { 0.75 } else { 0.95 };
            assert!(
                median >= want,
                "{agent:?} {intent}: median share of later decisions at n* {median:.2}"
            );
        }
    }
}

#[test]
fn closed_loop_a_new_module_set_starts_from_its_siblings() {
    for agent in [Agent::Efficient, Agent::OverCaller] {
        let runs = runs(Scenario::siblings, agent);
        // The second set of each intent appears after the first was learnt and shares
        // modules with it: it starts at the right budget (converged at its first trajectory)
        // on nearly every seed, and within 50 on all.
        let late: Vec<usize> = runs
            .iter()
            .flat_map(|run| [1, 3].map(|c| run.combos[c].converged_at.unwrap_or(usize::MAX)))
            .collect();
        let at_once = late.iter().filter(|&&t| t <= 5).count();
        assert!(at_once * 100 >= late.len() * 95, "{agent:?}: {late:?}");
        assert!(late.iter().all(|&t| t <= 50), "{agent:?}: {late:?}");
    }
}

/// One run through the real SQLite store: the table a user sees from `otc simulate`.
#[test]
fn closed_loop_through_the_real_store() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqlitePolicyStore::open(&dir.path().join("policy.db"), PolicyConfig::default()).unwrap();
    let scenario = Scenario::steady(Agent::Efficient, PER_COMBO);
    let report = simulate::run(&scenario, 1, &mut BackendAdvisor(&store)).unwrap();
    assert_eq!(
        report,
        simulate::run(
            &scenario,
            1,
            &mut MemoryPolicy::new(PolicyConfig::default())
        )
        .unwrap()
    );
    insta::assert_snapshot!(report.table());
}
