//! `GET /admin/metrics`: behind the token, OpenMetrics text, answers counted by route
//! template and status, refusals by problem type.

use serde_json::json;
use suites::admin::{TestServer, temp_dir};

/// The value of the sample line that starts with `series` (labels in the order the exposition
/// writes them), or 0 when there is none.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn answers_are_counted_by_route_template_status_and_problem_type() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    for _ in 0..3 {
        assert_eq!(client.get("/admin/modules/web-search").status, 200);
    }
    client
        .get("/admin/modules/nope")
        .assert_problem(404, "not-found");
    client
        .get("/admin/no-such-route")
        .assert_problem(404, "not-found");
    server
        .anonymous()
        .get("/admin/modules")
        .assert_problem(401, "unauthorized");
    // A hard quota refusal is counted as its own problem type.
    let quota = json!({"limit": 1.0, "period": "month", "kind": "hard"});
    assert_eq!(
        client.put("/admin/billing/quota?tenant=t", &quota).status,
        200
    );
    let now = suites::now_ms();
    let event = json!({"tenant": "t", "request_id": "r", "module": "web-search", "tool": "x",
        "run_units": 5.0, "timestamp_ms": now, "idempotency_key": "k"});
    client
        .post("/admin/billing/meter", &event)
        .assert_problem(429, "quota-exhausted");

    let reply = client.get("/admin/metrics");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = reply.body;
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let requests = "admin_http_requests_total{method=\"GET\",route=\"/admin/modules/{id}\"";
    assert_eq!(
        sample(&text, &format!("{requests},status=\"200\"}}")),
        3.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("{requests},status=\"404\"}}")),
        1.0,
        "{text}"
    );
    // The raw path never becomes a label: unknown routes share one series.
    assert!(!text.contains("no-such-route") && !text.contains("/admin/modules/nope"));
    assert_eq!(
        sample(
            &text,
            "admin_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "admin_http_requests_total{method=\"GET\",route=\"/admin/modules\",status=\"401\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "admin_problems_total{route=\"/admin/billing/meter\",problem=\"quota-exhausted\"}"
        ),
        1.0,
        "{text}"
    );
    // Four answers of the route (200s and a 404) in its latency histogram, every one under
    // the last finite bucket and in `+Inf`.
    let latency = "{method=\"GET\",route=\"/admin/modules/{id}\"}";
    assert_eq!(
        sample(
            &text,
            &format!("admin_http_request_duration_seconds_count{latency}")
        ),
        4.0
    );
    assert_eq!(
        sample(
            &text,
            "admin_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"/admin/modules/{id}\"}"
        ),
        4.0
    );
    // The token guards the metrics too.
    server
        .anonymous()
        .get("/admin/metrics")
        .assert_problem(401, "unauthorized");
}

#[test]
fn trajectories_are_counted_by_outcome_and_decisions_by_choice() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let now = suites::now_ms();
    let trajectory = |id: &str, correct: bool| {
        json!({"request_id": id, "intent": "lookup", "modules": ["web-search"],
            "calls": ["web-search"], "run_units": 1.0, "correct": correct,
            "latency_ms": 10.0, "timestamp_ms": now - 1000})
    };
    assert_eq!(
        client
            .post("/admin/otc/trajectories", &trajectory("a", true))
            .status,
        201
    );
    assert_eq!(
        client
            .post("/admin/otc/trajectories", &trajectory("a", true))
            .status,
        200
    );
    client
        .post("/admin/otc/trajectories", &trajectory("a", false))
        .assert_problem(409, "conflict");
    let batch = json!([
        trajectory("b", true),
        trajectory("c", true),
        trajectory("a", true)
    ]);
    assert_eq!(client.post("/admin/otc/trajectories", &batch).status, 200);
    client
        .post(
            "/admin/otc/trajectories",
            &json!([{"request_id": "d"}, {"request_id": "e"}]),
        )
        .assert_problem(422, "validation-failed");
    for _ in 0..5 {
        let decision = json!({"intent": "lookup", "modules": ["web-search"]});
        assert_eq!(client.post("/admin/otc/decisions", &decision).status, 201);
    }
    let text = client.get("/admin/metrics").body;
    for (outcome, n) in [
        ("accepted", 3.0),
        ("duplicate", 2.0),
        ("conflict", 1.0),
        ("invalid", 2.0),
    ] {
        assert_eq!(
            sample(
                &text,
                &format!("otc_trajectories_total{{outcome=\"{outcome}\"}}")
            ),
            n,
            "{outcome}: {text}"
        );
    }
    let decisions: f64 = text
        .lines()
        .filter(|l| l.starts_with("otc_decisions_total{choice="))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(decisions, 5.0, "{text}");
}
