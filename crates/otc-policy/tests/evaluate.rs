//! The replay behind off-policy evaluation ([`otc_policy::evaluate`]): the logging config on
//! its own log, a snapshot of a whole report on a small fixed log, and every refusal.

use otc_policy::PolicyConfig;
use otc_policy::evaluate::{
    EvaluateError, LoggedDecision, LoggedTrajectory, MAX_UNSUPPORTED, MemoryLog, Replay, Scope,
};
use otc_policy::offpolicy::OffPolicyError;
use otc_policy::simulate::{Agent, Scenario, offline};

fn log(per_combo: usize, seed: u64) -> MemoryLog {
    offline::logged_run(
        &Scenario::steady(Agent::Efficient, per_combo),
        seed,
        &PolicyConfig::default(),
    )
    .unwrap()
}

/// A log of agents that use their whole budget and never say which call answered.
fn over_caller_log() -> MemoryLog {
    offline::logged_run(
        &Scenario::steady(Agent::OverCaller, 200),
        3,
        &PolicyConfig::default(),
    )
    .unwrap()
}

/// Where a refused candidate's probability went; panics on any other error.
fn unsupported_mass(refusal: &EvaluateError) -> otc_policy::evaluate::UnsupportedMass {
    match refusal {
        EvaluateError::Unsupported { mass, .. } => *mass,
        other => panic!("{other:?}"),
    }
}

fn with(change: fn(&mut PolicyConfig)) -> PolicyConfig {
    let mut config = PolicyConfig::default();
    change(&mut config);
    config
}

#[test]
fn the_logging_config_on_its_own_log_is_its_logged_value() {
    let log = log(100, 4);
    let logging = PolicyConfig::default();
    let report = log.evaluate(&logging, &logging, &Scope::default()).unwrap();
    assert_eq!(report.replay_mismatches, 0);
    assert_eq!(report.rounds, log.decisions() as u64);
    assert_eq!(report.max_weight, 1.0);
    assert_eq!(report.unsupported_mass, 0.0);
    for metric in [
        report.outcomes.reward,
        report.outcomes.accuracy,
        report.outcomes.calls,
    ] {
        assert!((metric.candidate.ips.value - metric.logged.value).abs() < 1e-12);
        assert!((metric.candidate.snips.value - metric.logged.value).abs() < 1e-12);
        // The path term only widens: the logged interval lies within the candidate's.
        let snips = metric.candidate.snips;
        assert!(snips.ci_low <= metric.logged.ci_low + 1e-12, "{metric:?}");
        assert!(snips.ci_high >= metric.logged.ci_high - 1e-12, "{metric:?}");
    }
    // Nothing to warn of; only the path term may say that the budget moved on a probe (a
    // second run of the same config would have probed at other times).
    assert!(
        report
            .notes
            .iter()
            .all(|n| n.starts_with("the candidate's budget moved")),
        "{:?}",
        report.notes
    );
}

/// A new user's trial: a candidate that changed only how requests are scored got the logged
/// numbers back with no word of why.
#[test]
fn a_candidate_that_only_scores_differently_is_told_so() {
    let log = log(100, 4);
    let logging = PolicyConfig::default();
    let mut candidate = logging.clone();
    candidate.reward = otc_policy::reward::RewardConfig::new(1.0, 0.5, 1.0).unwrap();
    let report = log
        .evaluate(&candidate, &logging, &Scope::default())
        .unwrap();
    let same = log.evaluate(&logging, &logging, &Scope::default()).unwrap();
    assert_eq!(report.outcomes, same.outcomes);
    let note = "the candidate's reward and cost sections do not change these estimates";
    assert!(
        report.notes.iter().any(|n| n.starts_with(note)),
        "{:?}",
        report.notes
    );
    assert!(
        !same.notes.iter().any(|n| n.starts_with(note)),
        "{:?}",
        same.notes
    );
}

#[test]
fn a_report_on_a_small_fixed_log() {
    let log = log(40, 1);
    let report = log
        .evaluate(
            &with(|c| c.budget.explore_up = 0.2),
            &PolicyConfig::default(),
            &Scope::default(),
        )
        .unwrap();
    insta::assert_json_snapshot!(report);
}

/// The calls of agents that use their whole budget are what the budget served, so the model
/// predicts them exactly and the doubly robust residuals are 0; the candidate's own run would
/// still serve other budgets where it explores. Its intervals hold that draw (before, a log of
/// one settled state gave an interval of width 0), and a candidate that never explores adds
/// none: on the same fold, the difference is the draws alone.
#[test]
fn a_candidates_own_draws_widen_what_the_model_predicts_exactly() {
    let log = over_caller_log();
    let logging = PolicyConfig::default();
    let evaluate = |candidate: &PolicyConfig| {
        log.evaluate(candidate, &logging, &Scope::default())
            .unwrap()
            .outcomes
            .calls
    };
    let exploring = evaluate(&with(|c| c.budget.explore_up = 0.3));
    let still = evaluate(&with(|c| {
        c.budget.explore_up = 0.0;
        c.budget.explore_up_undecided = 0.0;
        c.budget.explore_down = 0.0;
        c.budget.explore_order = 0.0;
    }));
    let draws = (exploring.path_sd.powi(2) - still.path_sd.powi(2)).sqrt();
    // Up-exploration serves one call more on about 30 % of requests: a spread of about
    // √(0.3 · 0.7) calls per request, over the log's rounds.
    let rounds = log.decisions() as f64;
    let expected = (0.3f64 * 0.7 / rounds).sqrt();
    assert!(
        draws > 0.5 * expected && draws < 1.5 * expected,
        "{draws} against {expected}: {exploring:?} {still:?}"
    );
    let dr = exploring.candidate.doubly_robust;
    assert!(dr.ci_high - dr.ci_low >= 2.0 * 1.96 * exploring.path_sd - 1e-12);
}

#[test]
fn refusals_say_why() {
    let log = log(60, 2);
    let logging = PolicyConfig::default();
    let evaluate = |candidate: &PolicyConfig, scope: &Scope| {
        log.evaluate(candidate, &logging, scope).unwrap_err()
    };
    // A candidate capped below what the log served: its probability goes below, and the
    // refusal names the knobs that put it there.
    let capped = evaluate(&with(|c| c.budget.max_budget = 1), &Scope::default());
    let EvaluateError::Unsupported { mass, .. } = capped else {
        panic!("{capped:?}")
    };
    assert!(
        mass.below > MAX_UNSUPPORTED && mass.above == 0.0,
        "{mass:?}"
    );
    let message = capped.to_string();
    assert!(
        message.starts_with("the log does not support the candidate")
            && message.contains("below any the log could serve")
            && message.contains("max_budget")
            && !message.contains("explore_order"),
        "{message}"
    );
    assert!(matches!(
        evaluate(&with(|c| c.budget.tolerance = 0.7), &Scope::default()),
        EvaluateError::InvalidConfig(_)
    ));
    let scope = |intent: &str, modules: Option<Vec<String>>| Scope {
        intent: Some(intent.to_owned()),
        modules,
        ..Scope::default()
    };
    assert_eq!(
        evaluate(&logging, &scope("nobody-asks-this", None)),
        EvaluateError::Refused(OffPolicyError::Empty)
    );
    assert!(matches!(
        evaluate(&logging, &scope("x", Some(vec!["a".into(), "a".into()]))),
        EvaluateError::InvalidScope(_)
    ));
    assert!(matches!(
        evaluate(&logging, &scope(&"x".repeat(500), None)),
        EvaluateError::InvalidScope(_)
    ));
}

#[test]
fn a_log_that_names_what_it_never_registered_is_inconsistent() {
    let mut replay = Replay::new(PolicyConfig::default(), Scope::default()).unwrap();
    replay.logging_config(PolicyConfig::default()).unwrap();
    let web = replay.combination("i", &["web".to_owned()]).unwrap();
    let decision = LoggedDecision {
        decision_id: 1,
        combination: web,
        // The cold start: one call, on the only module.
        budget: 1,
        policy_budget: 1,
        explored_down: false,
        first_module: Some(0),
        propensity: 1.0,
        decided_ms: 0,
        config: 0,
    };
    assert!(matches!(
        replay.decision(&LoggedDecision {
            combination: 7,
            ..decision
        }),
        Err(EvaluateError::Inconsistent(_))
    ));
    assert!(matches!(
        replay.decision(&LoggedDecision {
            config: 3,
            ..decision
        }),
        Err(EvaluateError::Inconsistent(_))
    ));
    // Configs come before the log.
    assert!(matches!(
        replay.logging_config(PolicyConfig::default()),
        Err(EvaluateError::Inconsistent(_))
    ));
    replay.decision(&decision).unwrap();
    replay
        .trajectory(&LoggedTrajectory {
            combination: web,
            calls: &[],
            correct: true,
            run_units: 0.0,
            timestamp_ms: 0,
            decision_id: Some(1),
            served: Some(1),
            policy_budget: Some(1),
            order_explored: false,
            answered_by: None,
            answered_at: None,
            composite: 1.0,
            config: 0,
        })
        .unwrap();
    let report = replay.finish().unwrap();
    assert_eq!((report.decisions, report.rounds), (1, 1));
    assert_eq!(report.outcomes.accuracy.logged.value, 1.0);
}

/// A new user's trial: a candidate probing sooner (`probe_after` 10) on a log of agents that
/// use their whole budget was refused with "log decisions that explore those actions first",
/// which named nothing to change. The refusal says where its probability went and which knobs
/// put it there.
#[test]
fn a_refused_candidate_is_told_where_its_probability_went() {
    let log = over_caller_log();
    let logging = PolicyConfig::default();
    let refusal = log
        .evaluate(
            &with(|c| c.budget.probe_after = 10),
            &logging,
            &Scope::default(),
        )
        .unwrap_err();
    let EvaluateError::Unsupported {
        mass,
        rounds,
        changed,
        ..
    } = &refusal
    else {
        panic!("{refusal:?}")
    };
    assert!(*rounds > 0 && mass.below > MAX_UNSUPPORTED, "{mass:?}");
    assert_eq!(changed, &["probe_after 25 -> 10"]);
    let message = refusal.to_string();
    assert!(
        message.contains("probes the level below")
            && message.contains("differ from the logging config's: probe_after 25 -> 10")
            && !message.contains("on budgets above")
            && !message.contains("on a module first"),
        "{message}"
    );

    // A candidate that climbs sooner: its probability goes above.
    let eager = with(|c| c.budget.climb_below = 0.9);
    let refusal = log
        .evaluate(&eager, &logging, &Scope::default())
        .unwrap_err();
    let mass = unsupported_mass(&refusal);
    assert!(mass.above > MAX_UNSUPPORTED, "{mass:?}");
    assert!(
        refusal.to_string().contains("climb_below 0.35 -> 0.9"),
        "{refusal}"
    );

    // A log that never explored the module order, and a candidate that does.
    let fixed_order = with(|c| c.budget.explore_order = 0.0);
    let log =
        offline::logged_run(&Scenario::steady(Agent::Efficient, 200), 3, &fixed_order).unwrap();
    let exploring = with(|c| c.budget.explore_order = 0.1);
    let refusal = log
        .evaluate(&exploring, &fixed_order, &Scope::default())
        .unwrap_err();
    let mass = unsupported_mass(&refusal);
    assert!(
        mass.order > MAX_UNSUPPORTED && mass.below == 0.0 && mass.above == 0.0,
        "{mass:?}"
    );
    assert!(
        refusal.to_string().contains("explore_order 0.0 -> 0.1"),
        "{refusal}"
    );
}
