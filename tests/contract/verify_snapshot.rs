//! The shape of `data/verify_snapshot.json`, the release gate's output that dashboards and the
//! next gate run read: the seed's fields, the schema version, per-suite results, host facts,
//! the latency method and history, and the instruction counts. Values change every run; names,
//! nesting and types must not drift.

use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// The JSON with every value replaced by its type name. Map keys that are data (endpoints, bench
/// names) are folded by the caller.
fn skeleton(v: &Value) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(items) => json!([items.first().map(skeleton).unwrap_or(json!("empty"))]),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), skeleton(v));
            }
            Value::Object(out)
        }
    }
}

fn committed_snapshot() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/verify_snapshot.json");
    let text = std::fs::read_to_string(&path).expect("data/verify_snapshot.json is committed");
    serde_json::from_str(&text).expect("the snapshot is JSON")
}

#[test]
fn snapshot_shape_is_stable() {
    let snap = committed_snapshot();
    let mut shape = skeleton(&snap);
    // Endpoint names are data; one entry stands for all of them.
    let endpoints = snap["endpoints"]
        .as_object()
        .expect("endpoints is an object");
    assert!(
        !endpoints.is_empty(),
        "the committed snapshot comes from a run with latency"
    );
    shape["endpoints"] = json!({"<endpoint>": skeleton(endpoints.values().next().unwrap())});
    for entry in endpoints.values() {
        assert_eq!(
            skeleton(entry),
            shape["endpoints"]["<endpoint>"],
            "every endpoint has the same fields"
        );
    }
    // Bench names are data too; every count is a number.
    let instructions = snap["instructions"]
        .as_object()
        .expect("instructions is an object");
    assert!(
        !instructions.is_empty(),
        "the committed snapshot comes from a run that counted instructions"
    );
    shape["instructions"] = json!({"<bench>": "number"});
    for (bench, count) in instructions {
        assert_eq!(skeleton(count), json!("number"), "{bench}");
    }
    let history = snap["latency_history"]
        .as_array()
        .expect("latency_history is an array");
    if let Some(first) = history.first() {
        shape["latency_history"] = json!([{
            "orchestrator_version": "string",
            "timestamp": "string",
            "p50_ms": {"<endpoint>": skeleton(first["p50_ms"].as_object().unwrap().values().next().unwrap())},
        }]);
    }
    insta::assert_json_snapshot!(shape);
}

#[test]
fn snapshot_counts_add_up() {
    let snap = committed_snapshot();
    let (passed, failed) = (
        snap["passed"].as_u64().unwrap(),
        snap["failed"].as_u64().unwrap(),
    );
    assert_eq!(snap["total_tests"].as_u64().unwrap(), passed + failed);
    let suites = snap["suites"].as_array().unwrap();
    let sum = |k: &str| suites.iter().map(|s| s[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("passed"), sum("failed")), (passed, failed));
    for (bench, count) in snap["instructions"].as_object().unwrap() {
        assert!(
            count.as_u64().unwrap() > 0,
            "{bench}: no instructions counted"
        );
    }
    assert!(
        snap["latency_history"].as_array().unwrap().len() <= 5,
        "the history keeps the last five complete runs"
    );
    for (name, e) in snap["endpoints"].as_object().unwrap() {
        let p = |k: &str| e[k].as_f64().unwrap();
        assert!(
            p("p50_ms") <= p("p95_ms") && p("p95_ms") <= p("p99_ms"),
            "{name}: percentiles out of order"
        );
        assert!(
            e["requests"].as_u64().unwrap() > 0,
            "{name}: no requests behind the figures"
        );
    }
}
