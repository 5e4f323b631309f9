//! `POST /admin/otc/evaluate` over a real socket, on a log written through the API: the
//! orchestrator of `otc simulate` follows the server's decisions (`POST /admin/otc/decisions`)
//! and reports each request naming its `decision_id` (`POST /admin/otc/trajectories`); then
//! candidates are evaluated on that log. The current config reproduces the logged figures
//! exactly (every weight 1), another one gets finite estimates, the scope narrows the
//! decisions, and every refusal and bad body is a problem of its own type.

use otc_policy::simulate::{self, Advisor, Agent, Scenario};
use otc_policy::{Decision, Trajectory};
use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

/// Requests per combination of the steady world (eight combinations).
const PER_COMBO: usize = 40;

/// The simulator's orchestrator, over HTTP: every decision and report goes through the API,
/// and the decision times are kept for the scope checks.
struct Http<'a> {
    client: &'a Client,
    decided_ms: Vec<i64>,
    intents: Vec<String>,
}

impl Advisor for Http<'_> {
    type Error = String;

    fn decide(&mut self, intent: &str, modules: &[String]) -> Result<Decision, String> {
        let reply = self.client.post(
            "/admin/otc/decisions",
            &json!({"intent": intent, "modules": modules}),
        );
        if reply.status != 201 {
            return Err(format!("decision: {} {}", reply.status, reply.body));
        }
        let decision: Decision = serde_json::from_str(&reply.body).map_err(|e| e.to_string())?;
        self.decided_ms.push(decision.decided_ms);
        self.intents.push(decision.intent.clone());
        Ok(decision)
    }

    fn report(&mut self, trajectory: &Trajectory) -> Result<(), String> {
        let mut body = serde_json::to_value(trajectory).map_err(|e| e.to_string())?;
        // The request completes now, after its decision (the simulator counts its own steps).
        body["timestamp_ms"] = json!(now_ms());
        let reply = self.client.post("/admin/otc/trajectories", &body);
        if reply.status != 201 {
            return Err(format!("trajectory: {} {}", reply.status, reply.body));
        }
        Ok(())
    }
}

fn evaluate(client: &Client, body: &Value) -> suites::admin::Reply {
    client.post("/admin/otc/evaluate", body)
}

/// A 200's report, with every figure of its outcomes finite.
fn report(client: &Client, body: &Value) -> Value {
    let reply = evaluate(client, body);
    assert_eq!(reply.status, 200, "{body}: {}", reply.body);
    let report = reply.json();
    for outcome in ["reward", "accuracy", "calls"] {
        let metric = &report["outcomes"][outcome];
        for estimate in [
            &metric["logged"],
            &metric["candidate"]["ips"],
            &metric["candidate"]["snips"],
            &metric["candidate"]["doubly_robust"],
        ] {
            for end in ["value", "ci_low", "ci_high"] {
                assert!(
                    estimate[end].as_f64().is_some_and(f64::is_finite),
                    "{outcome} {end}: {report}"
                );
            }
            assert!(estimate["ci_low"].as_f64() <= estimate["ci_high"].as_f64());
        }
    }
    report
}

fn number(report: &Value, member: &str) -> f64 {
    report[member]
        .as_f64()
        .unwrap_or_else(|| panic!("{member}: {report}"))
}

#[test]
fn candidates_are_evaluated_on_the_log_written_through_the_api() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let scenario = Scenario::steady(Agent::Efficient, PER_COMBO);
    let mut http = Http {
        client: &client,
        decided_ms: Vec::new(),
        intents: Vec::new(),
    };
    simulate::run(&scenario, 7, &mut http).expect("the closed loop over HTTP");
    // Two decisions no trajectory ever names: in scope, but not rounds.
    for _ in 0..2 {
        let combo = &scenario.combos[0];
        http.decide(&combo.intent, &combo.modules).unwrap();
    }
    let total = scenario.combos.len() * PER_COMBO + 2;
    assert_eq!(http.decided_ms.len(), total);
    let checkpoints = client.get("/admin/otc/checkpoints").body;

    // The current (default) config on its own log: every weight is 1.
    let current = report(&client, &json!({"candidate": {}}));
    assert_eq!(current["decisions"], total, "{current}");
    assert_eq!(current["unanswered"], 2, "{current}");
    assert_eq!(current["rounds"], total - 2, "{current}");
    assert_eq!(current["replay_mismatches"], 0, "{current}");
    assert_eq!(current["unsupported_mass"], 0.0, "{current}");
    let rounds = number(&current, "rounds");
    assert!(
        (number(&current, "effective_sample_size") - rounds).abs() < 1e-9,
        "{current}"
    );
    assert!(
        (number(&current, "max_weight") - 1.0).abs() < 1e-9,
        "{current}"
    );
    for outcome in ["reward", "accuracy", "calls"] {
        let metric = &current["outcomes"][outcome];
        let logged = metric["logged"]["value"].as_f64().unwrap();
        // Doubly robust is not among them: its model's value of the policy is an average over
        // every action, not the logged one, so it only agrees in expectation.
        for estimator in ["snips", "ips"] {
            let value = metric["candidate"][estimator]["value"].as_f64().unwrap();
            assert!(
                (value - logged).abs() < 1e-9,
                "{outcome} {estimator}: {current}"
            );
        }
    }
    // Evaluations sent at once take turns, and each gets the same answer.
    let together: Vec<Value> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..3)
            .map(|_| s.spawn(|| report(&client, &json!({"candidate": {}}))))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(together.iter().all(|r| *r == current));
    // The default config spelt out is the same candidate.
    let spelt = report(
        &client,
        &json!({"candidate": {"budget": {"max_budget": 16}}, "scope": null}),
    );
    assert_eq!(spelt, current);

    // Less exploration: weights other than 1, finite estimates.
    let quieter = report(
        &client,
        &json!({"candidate": {"budget": {"explore_up": 0.02, "explore_order": 0.01}}}),
    );
    assert_eq!(quieter["rounds"], current["rounds"]);
    let ess = number(&quieter, "effective_sample_size");
    assert!(ess > 0.0 && ess < rounds, "{quieter}");
    assert!(number(&quieter, "max_weight") > 1.0, "{quieter}");
    assert!(number(&quieter, "unsupported_mass") <= 0.01, "{quieter}");

    // The scope narrows the decisions evaluated on.
    let intent = &scenario.combos[3];
    let of_intent = http.intents.iter().filter(|i| **i == intent.intent).count();
    let narrowed = report(
        &client,
        &json!({"candidate": {}, "scope": {"intent": intent.intent}}),
    );
    assert_eq!(narrowed["decisions"], of_intent, "{narrowed}");
    let mut reversed = intent.modules.clone();
    reversed.reverse();
    let by_set = report(
        &client,
        &json!({"candidate": {}, "scope": {"intent": intent.intent, "modules": reversed}}),
    );
    assert_eq!(by_set["decisions"], of_intent, "any order names the set");
    let middle = http.decided_ms[total / 2];
    let since = report(
        &client,
        &json!({"candidate": {}, "scope": {"since_ms": middle}}),
    );
    let after = http.decided_ms.iter().filter(|&&t| t >= middle).count();
    assert_eq!(since["decisions"], after, "{since}");
    let until = report(
        &client,
        &json!({"candidate": {}, "scope": {"until_ms": middle}}),
    );
    assert_eq!(until["decisions"], total - after, "{until}");

    // Refusals: nothing in scope, and a candidate the log cannot support.
    let empty = evaluate(
        &client,
        &json!({"candidate": {}, "scope": {"intent": "nobody-asked"}}),
    )
    .assert_problem(422, "evaluation-refused");
    assert_eq!(
        empty["detail"],
        "no logged decision in scope has a trajectory to evaluate on (the log holds none, or the scope leaves them all out)"
    );
    let capped = evaluate(
        &client,
        &json!({"candidate": {"budget": {"max_budget": 1}}}),
    )
    .assert_problem(422, "evaluation-refused");
    let detail = capped["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the log does not support the candidate"),
        "{capped}"
    );

    // Read-only: nothing changed, and the next decision follows the last one logged.
    assert_eq!(client.get("/admin/otc/checkpoints").body, checkpoints);
    let next = client.post(
        "/admin/otc/decisions",
        &json!({"intent": "lookup", "modules": ["web-search"]}),
    );
    assert_eq!(next.json()["decision_id"], total + 1);
    // Refusals are counted by their problem type.
    let metrics = client.get("/admin/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("admin_problems_total")
                && l.contains("/admin/otc/evaluate")
                && l.contains("evaluation-refused")),
        "{metrics}"
    );
}

#[test]
fn bad_bodies_and_missing_tokens_are_refused() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    // Nothing logged at all: a refusal, not an error.
    evaluate(&client, &json!({"candidate": {}})).assert_problem(422, "evaluation-refused");
    let at = |body: Value| -> Vec<String> {
        let problem = evaluate(&client, &body).assert_problem(422, "validation-failed");
        problem["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{problem}"))
            .iter()
            .map(|e| e["pointer"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(at(json!({"candidate": {}, "extra": 1})), ["/extra"]);
    // A body that is an array is pointed at like every other problem of this endpoint.
    assert_eq!(at(json!([{"candidate": {}}])), [""]);
    assert_eq!(
        at(json!({"candidate": {"budget": {"tolerence": 0.1}}})),
        ["/candidate/budget/tolerence"]
    );
    assert_eq!(
        at(json!({"candidate": {}, "scope": {"intent": "x", "limit": 5}})),
        ["/scope/limit"]
    );
    assert_eq!(at(json!({"scope": {}})), ["/candidate"]);
    assert_eq!(
        at(json!({"candidate": {"budget": {"max_budget": "sixteen"}}})),
        ["/candidate/budget/max_budget"]
    );
    // Out of range: the knob to blame, by the policy's own rule.
    let problem = evaluate(
        &client,
        &json!({"candidate": {"budget": {"tolerance": 0.9}}}),
    )
    .assert_problem(422, "validation-failed");
    assert_eq!(
        problem["errors"][0]["pointer"],
        "/candidate/budget/tolerance"
    );
    assert_eq!(
        problem["errors"][0]["detail"],
        "`tolerance` 0.9 must be in (0, 0.5)"
    );
    assert_eq!(
        at(json!({"candidate": {}, "scope": {"intent": "two words"}})),
        ["/scope/intent"]
    );
    assert_eq!(
        at(json!({"candidate": {}, "scope": {"since_ms": 5, "until_ms": 1}})),
        ["/scope/until_ms"]
    );
    client
        .request("POST", "/admin/otc/evaluate", &[], Some("{\"candidate\":"))
        .assert_problem(400, "bad-request");
    client
        .request(
            "POST",
            "/admin/otc/evaluate",
            &[("Content-Type", "text/plain")],
            Some("{}"),
        )
        .assert_problem(415, "unsupported-media-type");
    server
        .anonymous()
        .post("/admin/otc/evaluate", &json!({"candidate": {}}))
        .assert_problem(401, "unauthorized");
    client
        .with_token(Some("not-the-token-0123456789"))
        .post("/admin/otc/evaluate", &json!({"candidate": {}}))
        .assert_problem(401, "unauthorized");
}

/// A stored config that no longer parses cannot be replayed: a server fault of its own type,
/// whose detail says what broke without SQL, file names or the stored text.
#[test]
fn a_log_that_cannot_be_replayed_is_a_server_fault() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut http = Http {
        client: &client,
        decided_ms: Vec::new(),
        intents: Vec::new(),
    };
    simulate::run(&Scenario::steady(Agent::Efficient, 2), 1, &mut http).unwrap();
    assert_eq!(report(&client, &json!({"candidate": {}}))["rounds"], 16);

    let conn = rusqlite::Connection::open(server.data_dir.join("policy.db")).unwrap();
    let changed = conn
        .execute(
            "UPDATE reward_configs SET config_json = '{\"estimator\": {\"decay\": \"S3cr3t\"}}'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    let problem =
        evaluate(&client, &json!({"candidate": {}})).assert_problem(500, "evaluation-failed");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail
            .starts_with("the stored decision log could not be replayed: the log is inconsistent"),
        "{problem}"
    );
    for leak in ["S3cr3t", "SELECT", "policy.db"] {
        assert!(!detail.contains(leak), "{leak} leaked: {problem}");
    }
}
