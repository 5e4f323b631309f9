//! No input produces a 500: arbitrary bodies, path segments and query values sent to every
//! endpoint that takes input get a 2xx/4xx, and every 4xx is problem+json. Property-based
//! (proptest); `OTC_SLOW_TESTS=1` runs ten times the cases.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use suites::admin::{TestServer, slow_tests_enabled, temp_dir};

/// `{x}` is replaced by an arbitrary, percent-encoded path segment.
pub(crate) const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/admin/modules/{x}"),
    ("POST", "/admin/modules/{x}/enable"),
    ("GET", "/admin/modules/{x}/credentials"),
    ("PUT", "/admin/modules/{x}/credentials/{x}"),
    ("DELETE", "/admin/modules/web-search/credentials/{x}"),
    ("PUT", "/admin/routing"),
    ("PATCH", "/admin/routing"),
    ("DELETE", "/admin/routing/categories/{x}"),
    ("POST", "/admin/routing/rollback"),
    ("GET", "/admin/routing/versions"),
    ("GET", "/admin/routing/versions/{x}"),
    ("POST", "/admin/billing/meter"),
    ("GET", "/admin/billing/usage"),
    ("GET", "/admin/billing/history"),
    ("GET", "/admin/billing/quota"),
    ("PUT", "/admin/billing/quota"),
    ("POST", "/admin/otc/trajectories"),
    ("POST", "/admin/otc/decisions"),
    ("GET", "/admin/otc/policy"),
    ("GET", "/admin/otc/checkpoints"),
    ("GET", "/admin/{x}"),
    ("POST", "/admin/modules/{x}/disable"),
    ("POST", "/admin/routing/reload"),
    ("DELETE", "/admin/billing/quota"),
    ("POST", "/admin/otc/rebuild"),
    ("POST", "/admin/otc/evaluate"),
    // Dev-mode: arbitrary ids, and draft 1 / a catalogue module so that bodies reach the
    // validation behind the lookup (the POSTs above create draft 1 early in a run).
    ("GET", "/admin/dev/drafts"),
    ("POST", "/admin/dev/drafts"),
    ("GET", "/admin/dev/drafts/{x}"),
    ("PUT", "/admin/dev/drafts/{x}"),
    ("PUT", "/admin/dev/drafts/1"),
    ("DELETE", "/admin/dev/drafts/{x}"),
    ("POST", "/admin/dev/drafts/{x}/validate"),
    ("POST", "/admin/dev/drafts/1/validate"),
    ("POST", "/admin/dev/drafts/{x}/publish"),
    ("POST", "/admin/dev/drafts/1/publish"),
    ("GET", "/admin/dev/modules/{x}/versions"),
    ("GET", "/admin/dev/modules/{x}/versions/{x}"),
    ("POST", "/admin/dev/modules/{x}/rollback"),
    ("POST", "/admin/dev/modules/web-search/rollback"),
];

pub(crate) const KEYS: &[&str] = &[
    "value",
    "categories",
    "modules",
    "default_category",
    "version",
    "tenant",
    "request_id",
    "module",
    "tool",
    "run_units",
    "idempotency_key",
    "limit",
    "period",
    "kind",
    "intent",
    "calls",
    "correct",
    "latency_ms",
    "timestamp_ms",
    "offset",
    "bucket",
    "from_ms",
    "to_ms",
    "cursor",
    "at_ms",
    "id",
    "name",
    "description",
    "tools",
    "input_schema",
    "required_credentials",
    "to_version",
    "decision_id",
    "answered_by",
    "answered_at",
    "candidate",
    "scope",
];

pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e15..1e15f64).prop_map(Value::from),
        prop_oneof![
            Just("web-search".to_owned()),
            Just("day".to_owned()),
            ".{0,12}"
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        ".{0,40}".prop_map(Some),
        json_value().prop_map(|v| Some(v.to_string())),
        json_value().prop_map(|v| Some(json!([v]).to_string())),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(KEYS),
            prop_oneof![".{0,10}", any::<i64>().prop_map(|n| n.to_string())],
        ),
        0..4,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

#[test]
fn no_input_produces_a_500() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let cases = if slow_tests_enabled() { 4000 } else { 400 };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..ENDPOINTS.len(), ".{0,16}", body(), query());
    runner
        .run(&strategy, |(index, segment, body, query)| {
            let (method, template) = ENDPOINTS[index];
            let mut path = template.replace("{x}", &encode(&segment));
            if !query.is_empty() {
                path = format!("{path}?{query}");
            }
            let reply = client.request(method, &path, &[("If-Match", "*")], body.as_deref());
            prop_assert!(
                reply.status < 500,
                "{method} {path} with {body:?} -> {} {}",
                reply.status,
                reply.body
            );
            if reply.status >= 400 {
                prop_assert_eq!(
                    reply.header("content-type"),
                    Some("application/problem+json")
                );
            }
            Ok(())
        })
        .unwrap();
}
