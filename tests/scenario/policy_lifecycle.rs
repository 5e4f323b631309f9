//! The orchestrator reports completed requests in batches to the real `admin-api` binary; the
//! policy learns each intent's optimal tool-call count and best module; the server restarts and
//! remembers; a rebuild from the trajectory log gives the same checkpoints.

use otc_policy::synthetic::World;
use serde_json::{Value, json};
use suites::admin::{TestServer, temp_dir};

fn policy_for(server: &TestServer, intent: &str, modules: &[String]) -> Value {
    let path = format!(
        "/admin/otc/policy?intent={intent}&modules={}",
        modules.join(",")
    );
    let reply = server.client().get(&path);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[test]
fn the_policy_learns_survives_a_restart_and_rebuilds_to_the_same_checkpoints() {
    let dir = temp_dir();
    let world = World::standard(3);
    let now = suites::now_ms();
    let trajectories = world.trajectories(1_500, 7, "scenario", now - 3_600_000);

    let server = TestServer::binary(dir.path(), &[]);
    for chunk in trajectories.chunks(500) {
        let reply = server
            .client()
            .post("/admin/otc/trajectories", &json!(chunk));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["accepted"], chunk.len());
    }
    // The same batch again is all duplicates and changes nothing.
    let again = server
        .client()
        .post("/admin/otc/trajectories", &json!(&trajectories[..500]));
    assert_eq!(
        (
            again.json()["accepted"].clone(),
            again.json()["duplicates"].clone()
        ),
        (json!(0), json!(500))
    );

    let mut learnt = Vec::new();
    for intent in &world.intents {
        let advice = policy_for(&server, &intent.name, &intent.module_names());
        assert_eq!(advice["source"], "exact", "{advice}");
        // A log nobody followed teaches OTC's n (what trajectories are scored against); the
        // budget is learnt in closed loop (tests/feature/closed_loop.rs).
        assert_eq!(
            advice["optimal_n"], intent.optimal,
            "{}: {advice}",
            intent.name
        );
        assert_eq!(
            advice["ranked"][0]["module"],
            intent.best_module(),
            "{advice}"
        );
        learnt.push(advice);
    }
    let checkpoints = server.client().get("/admin/otc/checkpoints").json();
    server.stop();

    // Restart on the same data directory: everything learnt is still there.
    let server = TestServer::binary(dir.path(), &[]);
    for (intent, before) in world.intents.iter().zip(&learnt) {
        assert_eq!(
            &policy_for(&server, &intent.name, &intent.module_names()),
            before
        );
    }
    let rebuilt = server.client().post_empty("/admin/otc/rebuild");
    assert_eq!(rebuilt.status, 200, "{}", rebuilt.body);
    assert_eq!(rebuilt.json()["trajectories"], trajectories.len());
    let after = server.client().get("/admin/otc/checkpoints").json();
    assert_eq!(strip_times(after), strip_times(checkpoints));
}

/// Checkpoints without their `updated_ms` stamps, which a rebuild legitimately renews.
fn strip_times(mut doc: Value) -> Value {
    if let Some(list) = doc["checkpoints"].as_array_mut() {
        for cp in list {
            cp.as_object_mut().map(|o| o.remove("updated_ms"));
        }
    }
    doc
}
