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
    let scenario = build(agent, PER_COMBO);
    (1..=seeds())
        .map(|seed| {
            simulate::run(
                &scenario,
                seed,
                &mut MemoryPolicy::new(PolicyConfig::default()),
            )
            .unwrap()
        })
        .collect()
}

/// The targets both agents meet in the steady world (the over-caller's saving target is 90%).
fn assert_steady_targets(summary: &Summary, saving: f64, median: f64) {
    let text = summary.text();
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
    assert!(
        summary.worst_run_misses <= 1,
        "all but one combination on every seed: {text}"
    );
    assert!(summary.min_stays >= 0.995, "stays at n*: {text}");
    assert!(
        summary.max_helpful_first.is_some_and(|t| t <= 30),
        "helpful module first: {text}"
    );
    assert!(
        summary.min_top_right >= 0.98,
        "top module right at the end: {text}"
    );
}

#[test]
fn closed_loop_efficient_agent_meets_the_targets() {
    let summary = Summary::of(&runs(Scenario::steady, Agent::Efficient), 50);
    assert_steady_targets(&summary, 0.95, 15.0);
    assert!(
        summary.explored_down < 0.005,
        "downward exploration is rare: {}",
        summary.text()
    );
}

#[test]
fn closed_loop_over_caller_meets_the_targets() {
    let summary = Summary::of(&runs(Scenario::steady, Agent::OverCaller), 50);
    assert_steady_targets(&summary, 0.9, 30.0);
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
    // An agent that uses every call shows a lower sufficient budget only through a probe, and
    // probes back off to one per 400 observations (the price of rare downward exploration), so
    // a drift down takes up to a few hundred trajectories. A drift up is followed like the
    // efficient agent's, but a fresh level can be left on an unlucky streak of ordinary
    // failures and come back through a probe: allow that on a few seeds.
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
    // At most 2% of seeds may miss the drift, but never less than one: at the 40 seeds of a
    // quick run, "2%" would otherwise mean "none", and one miss in 40 is what a 2% rate
    // gives about half the time. Regression: `cargo xtask verify --quick` failed on seed
    // luck with 1 miss in 40.
    let summary = Summary::of(&over, 50);
    assert!(
        summary.drifts_missed <= (over.len() / 50).max(1),
        "{}",
        summary.text()
    );
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
