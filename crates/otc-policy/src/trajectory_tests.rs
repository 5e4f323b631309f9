//! Tests of [`super`]: validation limits, typed errors and the wire format.
use super::*;

fn sample() -> Trajectory {
    Trajectory {
        request_id: "req-1".into(),
        intent: "search".into(),
        modules: vec!["web".into(), "calc".into()],
        calls: vec!["web".into(), "calc".into(), "web".into()],
        run_units: 3.5,
        correct: true,
        latency_ms: 120.0,
        timestamp_ms: 1_700_000_000_000,
        decision_id: None,
        answered_by: None,
        answered_at: None,
    }
}

#[test]
fn a_good_trajectory_passes() {
    assert_eq!(sample().validate(1_700_000_000_000), Ok(()));
}

#[test]
fn order_does_not_change_the_fingerprint() {
    let a = ModuleSet::new(&["b".into(), "a".into(), "c".into()]).unwrap();
    let b = ModuleSet::new(&["c".into(), "b".into(), "a".into()]).unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.canonical(), "a,b,c");
    let c = ModuleSet::new(&["a".into(), "bc".into()]).unwrap();
    let d = ModuleSet::new(&["ab".into(), "c".into()]).unwrap();
    assert_ne!(c.fingerprint(), d.fingerprint());
}

#[test]
fn calls_round_trip_through_bytes() {
    let t = sample();
    let set = ModuleSet::new(&t.modules).unwrap();
    let bytes = set.encode_calls(&t.calls).unwrap();
    assert_eq!(bytes, vec![1, 0, 1]);
    assert_eq!(set.decode_calls(&bytes).unwrap(), t.calls);
    assert_eq!(set.decode_calls(&[9]), None);
}

#[test]
fn each_limit_is_a_typed_error() {
    let now = 1_700_000_000_000;
    let with = |f: fn(&mut Trajectory)| {
        let mut t = sample();
        f(&mut t);
        t.validate(now).unwrap_err()
    };
    assert!(matches!(
        with(|t| t.request_id.clear()),
        ValidationError::BadName {
            field: "request_id",
            ..
        }
    ));
    assert!(matches!(
        with(|t| t.intent = "a b".into()),
        ValidationError::BadName {
            field: "intent",
            ..
        }
    ));
    assert!(matches!(
        with(|t| t.intent = "x".repeat(129)),
        ValidationError::BadName { .. }
    ));
    assert!(matches!(
        with(|t| t.modules.clear()),
        ValidationError::BadModuleSet(_)
    ));
    assert!(matches!(
        with(|t| t.modules.push("web".into())),
        ValidationError::BadModuleSet(_)
    ));
    assert!(matches!(
        with(|t| t.modules = (0..65).map(|i| format!("m{i}")).collect()),
        ValidationError::BadModuleSet(_)
    ));
    assert!(matches!(
        with(|t| t.calls = vec!["web".into(); 1025]),
        ValidationError::TooManyCalls { count: 1025 }
    ));
    assert!(matches!(
        with(|t| t.calls.push("mail".into())),
        ValidationError::CallOutsideSet { index: 3, .. }
    ));
    assert!(matches!(
        with(|t| t.run_units = f64::NAN),
        ValidationError::BadNumber {
            field: "run_units",
            ..
        }
    ));
    assert!(matches!(
        with(|t| t.run_units = -1.0),
        ValidationError::BadNumber {
            field: "run_units",
            ..
        }
    ));
    assert!(matches!(
        with(|t| t.run_units = 1e10),
        ValidationError::BadNumber {
            field: "run_units",
            ..
        }
    ));
    assert!(matches!(
        with(|t| t.latency_ms = f64::INFINITY),
        ValidationError::BadNumber {
            field: "latency_ms",
            ..
        }
    ));
    assert!(matches!(
        with(|t| t.answered_at = Some(4)),
        ValidationError::AnsweredAtBeyondCalls { value: 4, calls: 3 }
    ));
    assert!(matches!(
        with(|t| {
            t.answered_at = Some(2);
            t.answered_by = Some("web".into());
        }),
        ValidationError::AnsweredAtDisagrees { value: 2 }
    ));
    assert!(matches!(
        with(|t| {
            t.answered_at = Some(0);
            t.answered_by = Some("web".into());
        }),
        ValidationError::AnsweredAtDisagrees { value: 0 }
    ));
    assert_eq!(
        ValidationError::AnsweredAtDisagrees { value: 0 }.to_string(),
        "answered_at: 0 says no tool result answered, while answered_by names a module"
    );
    assert_eq!(
        with(|t| t.modules = vec!["web".into(), String::new()]).to_string(),
        "modules: a module name must not be empty"
    );
    assert!(matches!(
        with(|t| t.timestamp_ms = -1),
        ValidationError::BadTimestamp { .. }
    ));
    assert!(matches!(
        with(|t| t.timestamp_ms = 1_700_000_000_000 * 1000),
        ValidationError::BadTimestamp { .. }
    ));
}

#[test]
fn answered_at_may_name_any_call_or_none() {
    for at in 0..=3 {
        let mut t = sample();
        t.answered_at = Some(at);
        assert_eq!(t.validate(1_700_000_000_000), Ok(()), "{at}");
    }
    let mut t = sample();
    t.answered_at = Some(3);
    t.answered_by = Some("web".into());
    assert_eq!(t.validate(1_700_000_000_000), Ok(()));
    assert_eq!(
        ValidationError::AnsweredAtDisagrees { value: 1 }.field_path(),
        "answered_at"
    );
}

#[test]
fn huge_numbers_are_reported_briefly() {
    let mut t = sample();
    t.latency_ms = 1e308;
    let text = t.validate(1_700_000_000_000).unwrap_err().to_string();
    assert!(text.starts_with("latency_ms: 1e308 is outside"), "{text}");
    assert_eq!(
        ValidationError::CallOutsideSet {
            index: 3,
            module: "x".into()
        }
        .field_path(),
        "calls/3"
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let json = r#"{"request_id":"r","intent":"i","modules":["a"],"calls":[],"run_units":0,
        "correct":true,"latency_ms":1,"timestamp_ms":0,"extra":1}"#;
    let err = serde_json::from_str::<Trajectory>(json).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
