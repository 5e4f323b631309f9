//! The replay behind off-policy evaluation ([`otc_policy::evaluate`]): the logging config on
//! its own log, a snapshot of a whole report on a small fixed log, and every refusal.

use otc_policy::PolicyConfig;
use otc_policy::evaluate::{
    EvaluateError, LoggedDecision, LoggedTrajectory, MemoryLog, Replay, Scope,
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

#[test]
fn refusals_say_why() {
    let log = log(60, 2);
    let logging = PolicyConfig::default();
    let evaluate = |candidate: &PolicyConfig, scope: &Scope| {
        log.evaluate(candidate, &logging, scope).unwrap_err()
    };
    assert!(matches!(
        evaluate(&with(|c| c.budget.max_budget = 1), &Scope::default()),
        EvaluateError::Refused(OffPolicyError::Unsupported { .. })
    ));
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
        budget: 0,
        policy_budget: 0,
        explored_down: false,
        first_module: None,
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
            served: Some(0),
            policy_budget: Some(0),
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
