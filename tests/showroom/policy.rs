//! The showroom's policy section: an orchestrator follows the real server's decisions in
//! closed loop (`POST /admin/otc/decisions`, play the request, post its trajectory with the
//! `decision_id`), in the synthetic world of `otc simulate`; then the learnt advice is shown
//! next to the truth, with batch ingest, the fallback, checkpoints and rebuild.

use crate::tour::always;
use crate::walk::{Req, Walk, fields};
use otc_policy::simulate::world::{Agent, RequestDraws, Scenario, play};
use otc_policy::synthetic::World;
use serde_json::{Value, json};
use suites::now_ms;

/// Requests per combination in the closed loop: enough to converge, quick over HTTP.
const REQUESTS: usize = 150;

pub fn policy(w: &mut Walk) {
    w.section("Tool-call policy (OTC)");
    let scenario = Scenario::steady(Agent::Efficient, REQUESTS);
    // research (n* 2, the helpful module last in the alphabet), math (n* 3), weather (n* 1).
    let combos: Vec<_> = [2usize, 3, 1]
        .iter()
        .map(|&c| (c, scenario.combos[c].clone()))
        .collect();
    let first = &combos[0].1;
    w.step(
        "a decision for a request never seen: the cold start",
        Req::new("POST", "/admin/otc/decisions")
            .json(json!({"intent": first.intent, "modules": first.modules})),
        201,
        |v| {
            fields(
                v,
                &["decision_id", "budget", "order", "propensity", "source"],
            )
        },
        |v| v["source"] == "unseen" && v["decision_id"] == 1,
    );
    let (mut policy_calls, mut policy_correct, mut fixed_calls, mut fixed_correct) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for index in 0..REQUESTS {
        for (c, combo) in &combos {
            let draws = RequestDraws::new(&scenario, 1, *c, index);
            let fixed = play(
                scenario.agent,
                combo,
                combo.optimal,
                6,
                &combo.modules,
                &draws,
            );
            fixed_calls += fixed.calls.len();
            fixed_correct += usize::from(fixed.correct);
            let decision = w.client().post(
                "/admin/otc/decisions",
                &json!({"intent": combo.intent, "modules": combo.modules}),
            );
            let decision = decision.json();
            let order: Vec<String> =
                serde_json::from_value(decision["order"].clone()).unwrap_or_default();
            let budget = decision["budget"].as_u64().unwrap_or(0) as u32;
            let played = play(scenario.agent, combo, combo.optimal, budget, &order, &draws);
            policy_calls += played.calls.len();
            policy_correct += usize::from(played.correct);
            let reply = w.client().post(
                "/admin/otc/trajectories",
                &json!({
                    "request_id": format!("loop-{c}-{index}"), "intent": combo.intent,
                    "modules": combo.modules, "calls": played.calls, "correct": played.correct,
                    "run_units": played.calls.len() as f64, "latency_ms": 20.0,
                    "timestamp_ms": now_ms() - 1000, "decision_id": decision["decision_id"],
                }),
            );
            if reply.status != 201 {
                failures.push(format!("{}: {}", reply.status, reply.body));
            }
        }
    }
    let requests = REQUESTS * combos.len();
    println!(
        "  .. {requests} requests in closed loop: policy {policy_calls} calls, {policy_correct} \
         correct; the same requests under a fixed budget of 6: {fixed_calls} calls, \
         {fixed_correct} correct"
    );
    if failures.is_empty() {
        w.passed += 1;
        println!("PASS every trajectory of the loop was stored\n");
    } else {
        w.failed += 1;
        println!(
            "FAIL {} trajectories refused, first: {}\n",
            failures.len(),
            failures[0]
        );
    }
    for (_, combo) in &combos {
        let path = format!(
            "/admin/otc/policy?intent={}&modules={}",
            combo.intent,
            combo.modules.join(",")
        );
        let (optimal, helpful) = (combo.optimal, combo.helpful.clone());
        w.step(
            &format!(
                "advice for {} (true optimum {} calls, helpful module {})",
                combo.intent, combo.optimal, combo.helpful
            ),
            Req::new("GET", &path),
            200,
            |v| {
                format!(
                    "budget={} confidence={:.3} first={} reason: {}",
                    v["budget"],
                    v["confidence"].as_f64().unwrap_or(0.0),
                    v["ranked"][0]["module"],
                    v["reason"].as_str().unwrap_or("")
                )
            },
            move |v| v["budget"] == optimal && v["ranked"][0]["module"] == helpful.as_str(),
        );
    }
    let world = World::standard(2);
    let trajectories = world.trajectories(400, 11, "showroom", now_ms() - 60_000);
    w.step(
        "ingest 400 logged requests in one batch (no decisions: each counts as given the budget the policy advised)",
        Req::new("POST", "/admin/otc/trajectories").json(json!(trajectories)),
        200,
        |v| fields(v, &["accepted", "duplicates"]),
        |v| v["accepted"] == 400,
    );
    w.step(
        "the same batch again changes nothing",
        Req::new("POST", "/admin/otc/trajectories").json(json!(trajectories)),
        200,
        |v| fields(v, &["accepted", "duplicates"]),
        |v| v["duplicates"] == 400,
    );
    w.step(
        "a module set never seen borrows from its intent's sets that share modules",
        Req::new(
            "GET",
            "/admin/otc/policy?intent=research&modules=web,scholar",
        ),
        200,
        |v| fields(v, &["source", "budget", "reason"]),
        |v| v["source"] == "intent_fallback" && v["budget"] == 2,
    );
    w.step(
        "advice for an intent never seen is the cold start, not an error",
        Req::new("GET", "/admin/otc/policy?intent=poetry&modules=email"),
        200,
        |v| fields(v, &["source", "budget"]),
        |v| v["source"] == "unseen",
    );
    w.step(
        "checkpoints",
        Req::new("GET", "/admin/otc/checkpoints"),
        200,
        |v| {
            format!(
                "{} checkpoints",
                v["checkpoints"].as_array().map_or(0, Vec::len)
            )
        },
        always,
    );
    let total = 400 + requests as u64;
    w.step(
        "rebuild every checkpoint from the trajectory log",
        Req::new("POST", "/admin/otc/rebuild"),
        200,
        |v| fields(v, &["trajectories", "checkpoints"]),
        move |v: &Value| v["trajectories"] == total,
    );
}
