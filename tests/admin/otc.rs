//! OTC policy endpoints: ingest (single, batch, idempotent, conflicts, run-units filled from
//! metering), recommendation, checkpoints, rebuild (repairing a corrupt checkpoint), and their
//! validation failures.

use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

fn trajectory(id: &str, calls: &[&str], correct: bool) -> Value {
    json!({
        "request_id": id, "intent": "lookup", "modules": ["web-search", "code-exec"],
        "calls": calls, "run_units": 1.0, "correct": correct, "latency_ms": 120.0,
        "timestamp_ms": now_ms() - 1000,
    })
}

fn post(client: &Client, body: &Value) -> suites::admin::Reply {
    client.post("/admin/otc/trajectories", body)
}

#[test]
fn single_ingest_is_idempotent() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let t = trajectory("r1", &["web-search"], true);
    let first = post(&client, &t);
    assert_eq!(first.status, 201, "{}", first.body);
    let doc = first.json();
    assert_eq!(
        (doc["status"].clone(), doc["request_id"].clone()),
        (json!("accepted"), json!("r1"))
    );
    assert_eq!(doc["score"]["calls"], 1);
    assert_eq!(doc["score"]["r_correctness"], 1.0);
    let again = post(&client, &t);
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (200, json!("duplicate"))
    );
}

#[test]
fn omitted_run_units_come_from_what_was_metered() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let ts = now_ms() - 1000;
    for (key, units) in [("k1", 3.0), ("k2", 2.0)] {
        let event = json!({"request_id": "metered", "module": "web-search", "tool": "search",
            "run_units": units, "timestamp_ms": ts, "idempotency_key": key});
        assert_eq!(client.post("/admin/billing/meter", &event).status, 201);
    }
    let mut metered = trajectory("metered", &["web-search"], true);
    metered.as_object_mut().unwrap().remove("run_units");
    let mut explicit = trajectory("explicit", &["web-search"], true);
    explicit["run_units"] = json!(5.0);
    let mut nothing = trajectory("nothing", &["web-search"], true);
    nothing.as_object_mut().unwrap().remove("run_units");
    let r_cost = |body: &Value| {
        let reply = post(&client, body);
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()["score"]["r_cost"].as_f64().unwrap()
    };
    let (m, e, n) = (r_cost(&metered), r_cost(&explicit), r_cost(&nothing));
    assert!(m > 0.0, "{m}");
    assert_eq!(m, e, "metered 3 + 2 run-units score like an explicit 5");
    assert_eq!(n, 0.0, "nothing metered means zero cost");

    // Metering that arrives after the trajectory does not make its retry a conflict: the
    // retry resolves to the run-units it was stored with.
    let late = json!({"request_id": "metered", "module": "web-search", "tool": "search",
        "run_units": 4.0, "timestamp_ms": ts, "idempotency_key": "k3"});
    assert_eq!(client.post("/admin/billing/meter", &late).status, 201);
    for body in [metered.clone(), json!([metered])] {
        let retry = post(&client, &body);
        assert_eq!(retry.status, 200, "{}", retry.body);
        assert!(retry.body.contains("duplicate"), "{}", retry.body);
    }
}

#[test]
fn batches_are_all_or_nothing_and_idempotent() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let batch = json!([
        trajectory("b1", &["web-search"], true),
        trajectory("b2", &["web-search", "code-exec"], true),
        trajectory("b3", &[], false),
    ]);
    let report = post(&client, &batch);
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(
        (
            report.json()["accepted"].clone(),
            report.json()["duplicates"].clone()
        ),
        (json!(3), json!(0))
    );
    let again = post(&client, &batch).json();
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(3))
    );

    // A bad item (a call outside the module set) rejects the whole batch and says which.
    let bad = json!([
        trajectory("c1", &["web-search"], true),
        trajectory("c2", &["email"], true),
    ]);
    let doc = post(&client, &bad).assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["pointer"], "/1/calls/0", "{doc}");
    // A wrongly shaped item too, before anything reaches the store.
    let mut shaped = trajectory("c3", &["web-search"], true);
    shaped["correct"] = json!("yes");
    let doc = post(&client, &json!([trajectory("c4", &[], false), shaped]))
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["pointer"], "/1/correct", "{doc}");
    let ckpt = client.get("/admin/otc/checkpoints").json();
    let samples: u64 = ckpt["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["samples"].as_u64().unwrap())
        .sum();
    assert_eq!(samples, 3, "the rejected batches stored nothing");
}

#[test]
fn ingest_validation_failures() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    post(&client, &json!([])).assert_problem(422, "validation-failed");
    post(&client, &json!("nope")).assert_problem(422, "validation-failed");
    let mut t = trajectory("v1", &["web-search"], true);
    t["latency_ms"] = json!(-5.0);
    post(&client, &t).assert_problem(422, "validation-failed");
    let mut t = trajectory("v2", &["web-search"], true);
    t["intent"] = json!("has space");
    post(&client, &t).assert_problem(422, "validation-failed");
    let mut t = trajectory("v3", &["web-search"], true);
    t["extra"] = json!(true);
    post(&client, &t).assert_problem(422, "validation-failed");
    client
        .request("POST", "/admin/otc/trajectories", &[], Some("[{"))
        .assert_problem(400, "bad-request");
    // A trajectory's fields as an array, in order: serde would read it as one trajectory; it
    // is a batch of eight things that are not trajectories, each pointed at.
    let fields = json!([
        "v5",
        "lookup",
        ["web-search"],
        [],
        1.0,
        true,
        120.0,
        now_ms() - 1000
    ]);
    let problem = post(&client, &fields);
    problem.assert_problem(422, "validation-failed");
    assert_eq!(
        problem.json()["errors"].as_array().map(Vec::len),
        Some(8),
        "{}",
        problem.body
    );
    // Nor is a batch item an array of fields.
    let problem = post(&client, &json!([fields]));
    problem.assert_problem(422, "validation-failed");
    assert_eq!(
        problem.json()["errors"][0]["pointer"],
        "/0",
        "{}",
        problem.body
    );
    server
        .anonymous()
        .post("/admin/otc/trajectories", &trajectory("v4", &[], false))
        .assert_problem(401, "unauthorized");
    let stored = client.get("/admin/otc/checkpoints").json();
    assert_eq!(
        stored["checkpoints"],
        json!([]),
        "nothing was stored: {stored}"
    );
}

#[test]
fn the_policy_learns_and_recommends() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let url = "/admin/otc/policy?intent=lookup&modules=web-search,code-exec";
    let unseen = client.get(url);
    assert_eq!(unseen.status, 200, "{}", unseen.body);
    assert_eq!(unseen.json()["source"], "unseen");
    assert_eq!(unseen.json()["budget"], 1, "the cold start");
    let unseen_view = unseen.json();
    let untried: Vec<(&str, f64)> = unseen_view["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arm| {
            (
                arm["module"].as_str().unwrap(),
                arm["pulls"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        untried,
        [("code-exec", 0.0), ("web-search", 0.0)],
        "every module untried, ties in canonical order"
    );
    // Asked again: the answer kept in memory, the same; the batch below must replace it.
    assert_eq!(client.get(url).json(), unseen.json());
    let batch: Vec<Value> = (0..6)
        .map(|i| trajectory(&format!("l{i}"), &["web-search", "web-search"], true))
        .collect();
    assert_eq!(post(&client, &Value::Array(batch)).status, 200);
    let advice = client.get(url).json();
    assert_eq!(advice["source"], "exact", "{advice}");
    assert_eq!(advice["budget"], 2, "{advice}");
    assert_eq!(advice["modules"], json!(["code-exec", "web-search"]));
    assert_eq!(advice["ranked"].as_array().unwrap().len(), 2);
    // Order of the modules does not matter.
    let swapped = client.get("/admin/otc/policy?intent=lookup&modules=code-exec,web-search");
    assert_eq!(swapped.json(), advice);

    client
        .get("/admin/otc/policy?modules=a")
        .assert_problem(400, "bad-request");
    client
        .get("/admin/otc/policy?intent=x")
        .assert_problem(400, "bad-request");
    client
        .get("/admin/otc/policy?intent=x&modules=a&extra=1")
        .assert_problem(400, "bad-request");
    client
        .get("/admin/otc/policy?intent=bad%20name&modules=a")
        .assert_problem(422, "validation-failed");
    client
        .get("/admin/otc/policy?intent=x&modules=a,a")
        .assert_problem(422, "validation-failed");
    server
        .anonymous()
        .get(url)
        .assert_problem(401, "unauthorized");
}

#[test]
fn checkpoints_and_rebuild() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut other = trajectory("o1", &["email"], true);
    other["intent"] = json!("mail");
    other["modules"] = json!(["email"]);
    let batch = json!([trajectory("k1", &["web-search"], true), other]);
    assert_eq!(post(&client, &batch).status, 200);
    let all = client.get("/admin/otc/checkpoints").json();
    assert_eq!(all["total"], 2);
    assert_eq!(all["checkpoints"][0]["intent"], "lookup");
    let mail = client.get("/admin/otc/checkpoints?intent=mail").json();
    assert_eq!(mail["total"], 1);
    assert_eq!(mail["checkpoints"][0]["modules"], json!(["email"]));
    let page = client.get("/admin/otc/checkpoints?offset=1&limit=1").json();
    assert_eq!(page["checkpoints"][0]["intent"], "mail");
    client
        .get("/admin/otc/checkpoints?limit=0")
        .assert_problem(400, "bad-request");
    // A malformed intent is the same 422 as on /policy, not an empty list.
    client
        .get("/admin/otc/checkpoints?intent=bad%20x")
        .assert_problem(422, "validation-failed");
    assert_eq!(
        client
            .get("/admin/otc/checkpoints?intent=never-seen")
            .json()["total"],
        0
    );
    let rebuilt = client.post_empty("/admin/otc/rebuild");
    assert_eq!(rebuilt.status, 200, "{}", rebuilt.body);
    assert_eq!(rebuilt.json(), json!({"trajectories": 2, "checkpoints": 2}));
    assert_eq!(
        client.get("/admin/otc/checkpoints").json(),
        all,
        "rebuild reproduces them"
    );
    let anon = server.anonymous();
    anon.get("/admin/otc/checkpoints")
        .assert_problem(401, "unauthorized");
    anon.post_empty("/admin/otc/rebuild")
        .assert_problem(401, "unauthorized");
}

/// Regression: a batch of `[ok, calls:["email"], latency_ms:-1, correct:"yes", extra:1]`
/// reported only /3 and /4 (the serde failures); /1 and /2 (the store's validation) surfaced
/// only on the next submit.
#[test]
fn a_batch_reports_every_invalid_item_at_once() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut latency = trajectory("i2", &["web-search"], true);
    latency["latency_ms"] = json!(-1);
    let mut correct = trajectory("i3", &["web-search"], true);
    correct["correct"] = json!("yes");
    let mut extra = trajectory("i4", &["web-search"], true);
    extra["extra"] = json!(1);
    let mut missing = trajectory("i5", &["web-search"], true);
    missing.as_object_mut().unwrap().remove("intent");
    let batch = json!([
        trajectory("i0", &["web-search"], true),
        trajectory("i1", &["email"], true),
        latency,
        correct,
        extra,
        missing,
    ]);
    let doc = post(&client, &batch).assert_problem(422, "validation-failed");
    let pointers: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/1/calls/0",
            "/2/latency_ms",
            "/3/correct",
            "/4/extra",
            "/5"
        ],
        "{doc}"
    );
    let details = doc["errors"].to_string();
    assert!(details.contains("expected a boolean"), "{doc}");
    assert!(details.contains("missing field `intent`"), "{doc}");
    assert!(
        doc["detail"].as_str().unwrap().contains("5 problems"),
        "{doc}"
    );
    assert_eq!(
        client.get("/admin/otc/checkpoints").json()["total"],
        0,
        "all or nothing: the good item was not stored either"
    );
    // A single trajectory's serde failure names its field too.
    let mut single = trajectory("s1", &["web-search"], true);
    single["correct"] = json!("yes");
    let doc = post(&client, &single).assert_problem(422, "validation-failed");
    assert!(
        doc["detail"].as_str().unwrap().starts_with("correct: "),
        "{doc}"
    );
}

/// Regression: the same request_id posted again with another intent, modules and correctness
/// answered `200 {"status":"duplicate"}` and the new content was silently dropped.
#[test]
fn a_conflicting_duplicate_is_a_409_and_writes_nothing() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let first = trajectory("d1", &["web-search"], true);
    assert_eq!(post(&client, &first).status, 201);
    let before = client.get("/admin/otc/checkpoints").json();

    let mut other = first.clone();
    other["intent"] = json!("report");
    other["modules"] = json!(["email"]);
    other["calls"] = json!(["email"]);
    other["correct"] = json!(false);
    let doc = post(&client, &other).assert_problem(409, "conflict");
    // A single trajectory has no items to point at, as with a single invalid one.
    assert_eq!(doc.get("errors"), None, "{doc}");
    let detail = doc["detail"].as_str().unwrap();
    assert!(detail.contains("\"d1\""), "{doc}");
    assert!(
        detail.contains("intent, modules, calls, correct"),
        "names what differs: {doc}"
    );
    // The same trajectory with its modules in another order is still the same trajectory.
    let mut reordered = first.clone();
    reordered["modules"] = json!(["code-exec", "web-search"]);
    let again = post(&client, &reordered);
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (200, json!("duplicate"))
    );
    let mut later = first.clone();
    later["timestamp_ms"] = json!(now_ms() - 10);
    post(&client, &later).assert_problem(409, "conflict");

    // In a batch: all or nothing, every conflicting item named, including a repeat inside
    // the batch itself.
    let d3 = trajectory("d3", &["web-search"], true);
    let mut inner = d3.clone();
    inner["run_units"] = json!(7.5);
    let batch = json!([
        trajectory("d2", &["web-search"], true),
        other,
        d3,
        inner,
        first,
    ]);
    let doc = post(&client, &batch).assert_problem(409, "conflict");
    let detail = doc["detail"].as_str().unwrap();
    assert!(detail.starts_with("2 items of the batch"), "{doc}");
    assert!(detail.contains("/1 request id \"d1\""), "{doc}");
    assert!(detail.contains("/3 request id \"d3\""), "{doc}");
    assert!(detail.contains("(differs in: run_units)"), "{doc}");
    // Like a 422, the 409 lists every item at its pointer.
    let errors = doc["errors"].as_array().expect("an errors list");
    let pointers: Vec<&str> = errors
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/1", "/3"], "{doc}");
    assert!(
        errors[0]["detail"].as_str().unwrap().contains("\"d1\""),
        "{doc}"
    );
    assert!(
        errors[1]["detail"]
            .as_str()
            .unwrap()
            .contains("(differs in: run_units)"),
        "{doc}"
    );
    assert_eq!(
        client.get("/admin/otc/checkpoints").json(),
        before,
        "the conflicts stored nothing"
    );
}

/// Regression: a checkpoint BLOB set to x'deadbeef' made the policy, the checkpoint list and
/// ingest answer a generic 500 that hid the repair ("run rebuild").
#[test]
fn a_corrupt_checkpoint_is_a_typed_problem_until_rebuild_repairs_it() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut other_set = trajectory("c2", &["web-search"], true);
    other_set["modules"] = json!(["web-search"]);
    let batch = json!([trajectory("c1", &["web-search"], true), other_set]);
    assert_eq!(post(&client, &batch).status, 200);
    let url = "/admin/otc/policy?intent=lookup&modules=web-search,code-exec";
    let advice = client.get(url).json();
    let listed = client.get("/admin/otc/checkpoints").json();

    // Corrupt the checkpoint of (lookup, {code-exec, web-search}) in the server's own file.
    let conn = rusqlite::Connection::open(server.data_dir.join("policy.db")).unwrap();
    let changed = conn
        .execute(
            "UPDATE policy_checkpoints SET arm_weights = x'deadbeef'
             WHERE module_set_id = (SELECT id FROM module_sets WHERE modules = 'code-exec,web-search')",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    let corrupt = |reply: suites::admin::Reply| {
        let doc = reply.assert_problem(500, "corrupt-checkpoint");
        let detail = doc["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("POST /admin/otc/rebuild"), "{doc}");
        assert!(detail.contains("code-exec,web-search"), "{doc}");
        for leak in ["SELECT", "policy.db", "msgpack", "BLOB"] {
            assert!(!detail.contains(leak), "{leak} leaked: {doc}");
        }
    };
    corrupt(client.get(url));
    corrupt(client.get("/admin/otc/checkpoints"));
    corrupt(post(&client, &trajectory("c3", &["web-search"], true)));
    // Another module set of the intent still gets advice: the fallback skips the corrupt
    // sibling and pools the readable one.
    let fallback = client.get("/admin/otc/policy?intent=lookup&modules=web-search,email");
    assert_eq!(fallback.status, 200, "{}", fallback.body);
    assert_eq!(fallback.json()["source"], "intent_fallback");

    let rebuilt = client.post_empty("/admin/otc/rebuild");
    assert_eq!(rebuilt.status, 200, "{}", rebuilt.body);
    assert_eq!(client.get(url).json(), advice, "rebuild repaired it");
    assert_eq!(client.get("/admin/otc/checkpoints").json(), listed);
    assert_eq!(
        post(&client, &trajectory("c3", &["web-search"], true)).status,
        201
    );
}

/// A module set with little evidence of its own ranks with what sibling sets of its intent
/// lend: the policy view's module figures then include the loan, and its reason says so,
/// while the checkpoint shows the set's own.
#[test]
fn the_policy_view_says_when_its_ranking_borrows() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let sibling: Vec<Value> = (0..12)
        .map(|i| {
            let mut t = trajectory(&format!("s{i}"), &["web-search"], true);
            t["modules"] = json!(["web-search", "code-exec", "calculator"]);
            t
        })
        .collect();
    assert_eq!(post(&client, &Value::Array(sibling)).status, 200);
    let own = post(&client, &trajectory("own", &["web-search"], true));
    assert_eq!(own.status, 201, "{}", own.body);
    let view = client
        .get("/admin/otc/policy?intent=lookup&modules=web-search,code-exec")
        .json();
    assert_eq!(view["source"], "exact", "{view}");
    let reason = view["reason"].as_str().unwrap();
    assert!(
        reason.contains("ranked with what 1 sibling module set lends"),
        "{reason}"
    );
    let pulls = |arms: &Value| {
        arms.as_array()
            .unwrap()
            .iter()
            .find(|a| a["module"] == "web-search")
            .map(|a| a["pulls"].as_f64().unwrap())
            .unwrap()
    };
    let checkpoints = client.get("/admin/otc/checkpoints?intent=lookup").json();
    let exact = checkpoints["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["modules"] == json!(["code-exec", "web-search"]))
        .cloned()
        .unwrap();
    assert_eq!(pulls(&exact["arms"]), 1.0, "its own: {exact}");
    // Twelve of the sibling's, lent in proportion to the modules shared (two of three).
    assert!(pulls(&view["ranked"]) > 5.0, "with the loan: {view}");
}

/// With a learnt budget of 0 no module is ranked, so the reason does not speak of a loan for
/// the ranking even when a sibling set could lend one.
#[test]
fn a_budget_of_0_says_nothing_of_a_ranking() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut sibling = trajectory("s", &["web-search"], true);
    sibling["modules"] = json!(["web-search", "code-exec", "calculator"]);
    assert_eq!(post(&client, &sibling).status, 201);
    let own = post(&client, &trajectory("own", &[], true));
    assert_eq!(own.status, 201, "{}", own.body);
    let view = client
        .get("/admin/otc/policy?intent=lookup&modules=web-search,code-exec")
        .json();
    assert_eq!(
        (view["source"].as_str(), view["budget"].as_u64()),
        (Some("exact"), Some(0))
    );
    assert_eq!(view["ranked"], json!([]), "{view}");
    assert!(
        !view["reason"].as_str().unwrap().contains("ranked"),
        "{view}"
    );
}
