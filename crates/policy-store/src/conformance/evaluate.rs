//! Off-policy evaluation through the backend: its replay of the stored log is the in-memory
//! policy's, the logging config evaluated on its own log reproduces the logged values, scope
//! filters select decisions, and every refusal is a typed error that writes nothing.

use super::{Open, visible};
use crate::{BackendAdvisor, PolicyError};
use otc_policy::PolicyConfig;
use otc_policy::evaluate::{EvaluateError, Scope};
use otc_policy::offpolicy::OffPolicyError;
use otc_policy::simulate::{self, Agent, MemoryPolicy, Scenario};

fn candidate(change: impl Fn(&mut PolicyConfig)) -> PolicyConfig {
    let mut config = PolicyConfig::default();
    change(&mut config);
    config
}

/// The simulator against the backend and against the in-memory policy: evaluating the
/// logging config and two candidates on the stored log gives exactly what the in-memory
/// log gives; the logging config on its own log has weight 1 everywhere, reproduces every
/// logged propensity and estimates the logged values.
pub fn evaluation_replays_the_stored_log_as_the_memory_policy_does(open: Open<'_>) {
    let store = open();
    let scenario = Scenario::siblings(Agent::Efficient, 60);
    simulate::run(&scenario, 3, &mut BackendAdvisor(store.as_ref())).unwrap();
    let mut memory = MemoryPolicy::recording(PolicyConfig::default());
    simulate::run(&scenario, 3, &mut memory).unwrap();
    let log = memory.log().unwrap();

    let logging = PolicyConfig::default();
    let own = store.evaluate(&logging, &Scope::default()).unwrap();
    assert_eq!(own.decisions, log.decisions() as u64);
    assert_eq!(
        (own.rounds, own.unanswered, own.replay_mismatches),
        (own.decisions, 0, 0)
    );
    assert!((own.effective_sample_size - own.rounds as f64).abs() < 1e-6);
    for metric in [
        own.outcomes.reward,
        own.outcomes.accuracy,
        own.outcomes.calls,
    ] {
        assert!((metric.candidate.snips.value - metric.logged.value).abs() < 1e-9);
        assert!((metric.candidate.ips.value - metric.logged.value).abs() < 1e-9);
    }
    for config in [
        logging.clone(),
        candidate(|c| c.budget.explore_up = 0.2),
        candidate(|c| c.budget.tolerance = 0.2),
    ] {
        let from_store = store.evaluate(&config, &Scope::default());
        let from_memory = log.evaluate(&config, &logging, &Scope::default());
        assert_eq!(from_store.ok(), from_memory.ok(), "{:?}", config.budget);
    }
}

/// Scope filters select the decisions evaluated on; an empty scope, an unsupported or an
/// invalid candidate is refused with a typed error, and nothing is written by any of them.
pub fn evaluation_scopes_and_refusals_are_typed_and_write_nothing(open: Open<'_>) {
    let store = open();
    let scenario = Scenario::siblings(Agent::Efficient, 40);
    simulate::run(&scenario, 5, &mut BackendAdvisor(store.as_ref())).unwrap();
    let before = visible(store.as_ref());
    let all = store
        .evaluate(&PolicyConfig::default(), &Scope::default())
        .unwrap();
    let intent = scenario.combos[0].intent.clone();
    let of_intent = scenario
        .combos
        .iter()
        .filter(|c| c.intent == intent)
        .count() as u64
        * scenario.per_combo as u64;
    let scoped = store
        .evaluate(
            &PolicyConfig::default(),
            &Scope {
                intent: Some(intent.clone()),
                ..Scope::default()
            },
        )
        .unwrap();
    assert_eq!(scoped.decisions, of_intent);
    assert!(scoped.decisions < all.decisions);
    let modules = scenario.combos[0].modules.iter().rev().cloned().collect();
    let one_set = store
        .evaluate(
            &PolicyConfig::default(),
            &Scope {
                intent: Some(intent),
                modules: Some(modules),
                ..Scope::default()
            },
        )
        .unwrap();
    assert_eq!(one_set.decisions, scenario.per_combo as u64);

    let refused = |config: &PolicyConfig, scope: &Scope| match store.evaluate(config, scope) {
        Err(PolicyError::Evaluation(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let nowhere = Scope {
        intent: Some("no-such-intent".into()),
        ..Scope::default()
    };
    assert_eq!(
        refused(&PolicyConfig::default(), &nowhere),
        EvaluateError::Refused(OffPolicyError::Empty)
    );
    let future = Scope {
        since_ms: Some(i64::MAX - 1),
        ..Scope::default()
    };
    assert_eq!(
        refused(&PolicyConfig::default(), &future),
        EvaluateError::Refused(OffPolicyError::Empty)
    );
    assert!(matches!(
        refused(&candidate(|c| c.budget.max_budget = 1), &Scope::default()),
        EvaluateError::Unsupported { .. }
    ));
    assert!(matches!(
        refused(&candidate(|c| c.budget.tolerance = 0.9), &Scope::default()),
        EvaluateError::InvalidConfig(_)
    ));
    assert!(matches!(
        refused(
            &PolicyConfig::default(),
            &Scope {
                modules: Some(vec![]),
                ..Scope::default()
            }
        ),
        EvaluateError::InvalidScope(_)
    ));
    assert_eq!(visible(store.as_ref()), before);
}
