//! `answered_at` on `POST /admin/otc/trajectories` (which call's result the answer used):
//! accepted and credited to that call's module, refused with a 422 at the member when it
//! names no call or disagrees with `answered_by` (nothing stored), and part of what a retry is
//! compared on (another `answered_at` is a 409).

use serde_json::{Value, json};
use std::sync::LazyLock;
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

/// One completion time for every trajectory of the suite, so that a retry differs from the
/// stored trajectory only where a test makes it differ.
static COMPLETED_MS: LazyLock<i64> = LazyLock::new(|| now_ms() - 1000);

fn trajectory(id: &str, calls: &[&str], answered_at: Option<u32>) -> Value {
    let mut t = json!({
        "request_id": id, "intent": "lookup", "modules": ["web-search", "code-exec"],
        "calls": calls, "run_units": 1.0, "correct": true, "latency_ms": 120.0,
        "timestamp_ms": *COMPLETED_MS,
    });
    if let Some(at) = answered_at {
        t["answered_at"] = json!(at);
    }
    t
}

fn post(client: &Client, body: &Value) -> suites::admin::Reply {
    client.post("/admin/otc/trajectories", body)
}

fn checkpoints(client: &Client) -> Value {
    let reply = client.get("/admin/otc/checkpoints");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// The pointers of a problem's `errors`.
fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("an errors list: {problem}"))
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_trajectory_saying_which_call_answered_is_accepted_and_credits_that_call() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    // The first call answered; the agent called another module afterwards.
    let t = trajectory("a1", &["web-search", "code-exec"], Some(1));
    let first = post(&client, &t);
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.json()["status"], "accepted");
    let arms = checkpoints(&client)["checkpoints"][0]["arms"].clone();
    let answered = |module: &str| {
        arms.as_array()
            .unwrap()
            .iter()
            .find(|a| a["module"] == module)
            .unwrap_or_else(|| panic!("{module} in {arms}"))["answered"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(
        (answered("web-search"), answered("code-exec")),
        (1.0, 0.0),
        "credit follows the call answered_at names, not the last call: {arms}"
    );
    let again = post(&client, &t);
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (200, json!("duplicate")),
        "{}",
        again.body
    );
    // In a batch, and 0 (the answer used no tool result) with calls made.
    let batch = json!([
        trajectory("a2", &["code-exec"], Some(0)),
        trajectory("a3", &["code-exec", "web-search"], Some(2)),
    ]);
    let report = post(&client, &batch);
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(report.json()["accepted"], 2, "{}", report.body);
    assert_eq!(checkpoints(&client)["checkpoints"][0]["samples"], 3);
}

#[test]
fn an_answered_at_beyond_the_calls_is_a_422_at_answered_at_and_stores_nothing() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    assert_eq!(
        post(&client, &trajectory("seed", &["web-search"], None)).status,
        201
    );
    let before = checkpoints(&client);
    // A single trajectory has no items to point at: the detail starts with the member.
    let doc = post(&client, &trajectory("b1", &["web-search"], Some(2)))
        .assert_problem(422, "validation-failed");
    let detail = doc["detail"].as_str().unwrap();
    assert!(detail.starts_with("answered_at: "), "{doc}");
    assert!(detail.contains("beyond the 1 calls"), "{doc}");
    assert_eq!(doc.get("errors"), None, "{doc}");
    post(&client, &trajectory("b2", &[], Some(1))).assert_problem(422, "validation-failed");
    // A batch lists each such item at `/i/answered_at` and stores none of them.
    let batch = json!([
        trajectory("b3", &["web-search"], Some(1)),
        trajectory("b4", &["web-search", "code-exec"], Some(3)),
        trajectory("b5", &[], Some(1)),
    ]);
    let doc = post(&client, &batch).assert_problem(422, "validation-failed");
    assert_eq!(
        pointers(&doc),
        ["/1/answered_at", "/2/answered_at"],
        "{doc}"
    );
    assert_eq!(checkpoints(&client), before, "nothing was stored");
    // The valid item of the rejected batch was not stored: it is new now.
    assert_eq!(
        post(&client, &trajectory("b3", &["web-search"], Some(1))).status,
        201
    );
}

#[test]
fn an_answered_at_disagreeing_with_answered_by_is_a_422_at_answered_at_and_stores_nothing() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let by_web = |id: &str, at: u32| {
        let mut t = trajectory(id, &["web-search", "code-exec"], Some(at));
        t["answered_by"] = json!("web-search");
        t
    };
    let before = checkpoints(&client);
    // Call 2 is to code-exec, not to the module answered_by names; 0 says no tool answered.
    for at in [2, 0] {
        let doc = post(&client, &by_web("d1", at)).assert_problem(422, "validation-failed");
        assert!(
            doc["detail"].as_str().unwrap().starts_with("answered_at: "),
            "{doc}"
        );
    }
    let doc = post(
        &client,
        &json!([by_web("d2", 2), by_web("d3", 1), by_web("d4", 0)]),
    )
    .assert_problem(422, "validation-failed");
    assert_eq!(
        pointers(&doc),
        ["/0/answered_at", "/2/answered_at"],
        "{doc}"
    );
    assert_eq!(checkpoints(&client), before, "nothing was stored");
    // Agreeing, it is accepted.
    assert_eq!(post(&client, &by_web("d1", 1)).status, 201);
}

#[test]
fn a_wrongly_typed_answered_at_is_a_422_in_json_words() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    for bad in [
        json!(-1),
        json!("two"),
        json!(1.5),
        json!(5_000_000_000_u64),
    ] {
        let mut t = trajectory("w1", &["web-search"], None);
        t["answered_at"] = bad.clone();
        let doc = post(&client, &t).assert_problem(422, "validation-failed");
        let detail = doc["detail"].as_str().unwrap();
        assert!(detail.starts_with("answered_at: "), "{bad}: {doc}");
        assert!(
            detail.contains("expected a whole number") && !detail.contains("u32"),
            "{bad}: {doc}"
        );
        let doc = post(&client, &json!([t])).assert_problem(422, "validation-failed");
        assert_eq!(pointers(&doc), ["/0/answered_at"], "{bad}: {doc}");
    }
    assert_eq!(checkpoints(&client)["total"], 0);
}

/// Another `answered_at` for a stored request id is another trajectory, not a retry: 409,
/// like another `answered_by`.
#[test]
fn a_duplicate_with_another_answered_at_is_a_409_conflict_and_stores_nothing() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let calls = ["web-search", "code-exec"];
    assert_eq!(
        post(&client, &trajectory("r1", &calls, Some(1))).status,
        201
    );
    assert_eq!(post(&client, &trajectory("r2", &calls, None)).status, 201);
    let before = checkpoints(&client);
    for (what, retry) in [
        ("another call", trajectory("r1", &calls, Some(2))),
        ("no longer said", trajectory("r1", &calls, None)),
        ("said where it was not", trajectory("r2", &calls, Some(2))),
    ] {
        let doc = post(&client, &retry).assert_problem(409, "conflict");
        assert!(
            doc["detail"]
                .as_str()
                .unwrap()
                .contains("(differs in: answered_at)"),
            "{what}: {doc}"
        );
    }
    let doc = post(
        &client,
        &json!([
            trajectory("r3", &calls, Some(2)),
            trajectory("r1", &calls, Some(0)),
        ]),
    )
    .assert_problem(409, "conflict");
    assert_eq!(pointers(&doc), ["/1"], "{doc}");
    assert!(
        doc["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("(differs in: answered_at)"),
        "{doc}"
    );
    assert_eq!(checkpoints(&client), before, "the conflicts stored nothing");
    // The identical retry is still a duplicate.
    let again = post(&client, &trajectory("r1", &calls, Some(1)));
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (200, json!("duplicate"))
    );
}
