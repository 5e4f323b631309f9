//! Instruction-count benches of the policy's hot pure paths, for valgrind's callgrind: the
//! reward, the budget decision, the checkpoint codec, cost normalisation and the state update.
//!
//! `cargo xtask verify` (its `instructions` step) builds this in the bench profile and runs it
//! once per bench under `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect=<MEASURED>`, so only what runs inside [`measured`] is counted: a bench's
//! setup (building a learnt state, encoding the bytes to decode) is not. Inputs are fixed
//! tables, with no randomness and no clock, so a count moves only when the code (or the
//! compiler) does.
//!
//! `instructions --list` prints the bench names; `instructions NAME` runs one bench;
//! without a name (as `cargo bench` runs it) every bench runs once, as a smoke test.

use otc_policy::advice::{Context, decide};
use otc_policy::blob;
use otc_policy::decision::Sibling;
use otc_policy::state::{CombinationState, Observation};
use otc_policy::{CostNormalizer, PolicyConfig, RewardConfig, composite, r_tool, score};
use std::hint::black_box;

/// The only function callgrind counts; the gate names it in `--toggle-collect`.
#[inline(never)]
fn measured(work: &mut dyn FnMut()) {
    work();
}

/// Every bench: its name (the key in the gate's snapshot) and its body.
const BENCHES: &[(&str, fn())] = &[
    ("reward_score", reward_score),
    ("reward_composite", reward_composite),
    ("budget_decide", budget_decide),
    ("checkpoint_encode", checkpoint_encode),
    ("checkpoint_decode", checkpoint_decode),
    ("cost_r_cost", cost_r_cost),
    ("state_observe", state_observe),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in BENCHES {
            println!("{name}");
        }
        return;
    }
    for name in &wanted {
        if !BENCHES.iter().any(|(n, _)| n == name) {
            eprintln!("instructions: unknown bench {name:?} (see --list)");
            std::process::exit(2);
        }
    }
    for (name, bench) in BENCHES {
        if wanted.is_empty() || wanted.contains(name) {
            bench();
            if wanted.is_empty() {
                println!("{name}: ran once (count instructions with `cargo xtask verify`)");
            }
        }
    }
}

/// `(calls, optimal, correct, r_cost)`: every branch of `r_tool`, both outcomes, a spread of
/// costs.
fn reward_inputs() -> Vec<(u32, Option<f64>, bool, f64)> {
    let mut inputs = Vec::new();
    for calls in 0..8u32 {
        for optimal in [Some(0.0), Some(1.0), Some(2.5), None] {
            for correct in [true, false] {
                if optimal.is_none() && correct {
                    continue; // an error by contract, not the hot path
                }
                inputs.push((calls, optimal, correct, f64::from(calls) / 10.0));
            }
        }
    }
    inputs
}

fn reward_score() {
    let cfg = RewardConfig::default();
    let inputs = reward_inputs();
    measured(&mut || {
        for &(calls, optimal, correct, cost) in &inputs {
            let _ = black_box(score(
                black_box(calls),
                black_box(optimal),
                correct,
                black_box(cost),
                &cfg,
            ));
        }
    });
}

fn reward_composite() {
    let cfg = RewardConfig::default();
    let inputs = reward_inputs();
    measured(&mut || {
        for &(calls, optimal, correct, cost) in &inputs {
            let tool = r_tool(black_box(calls), optimal.unwrap_or(1.0), cfg.smoothing());
            let _ = black_box(composite(
                tool.unwrap_or(0.0),
                correct,
                black_box(cost),
                &cfg,
            ));
        }
    });
}

const MODULES: [&str; 3] = ["archive", "news", "web"];

fn names(modules: &[&str]) -> Vec<String> {
    modules.iter().map(|m| (*m).to_owned()).collect()
}

/// A combination with evidence: 400 trajectories from a fixed pattern (mostly correct, two to
/// four calls, the web module answering most often, one in ten failing), folded in log order.
fn learnt_state() -> CombinationState {
    let config = PolicyConfig::default();
    let mut state = CombinationState::new(MODULES.len());
    let call_patterns: [&[u8]; 4] = [&[2, 0], &[0, 2], &[1, 0, 2], &[2, 1, 0, 2]];
    for i in 0..400u32 {
        let calls = call_patterns[(i % 4) as usize];
        let correct = i % 10 != 3;
        let obs = Observation {
            calls,
            correct,
            r_cost: f64::from(i % 5) / 10.0,
            timestamp_ms: 1_700_000_000_000 + i64::from(i) * 1000,
            served: Some(3 + i % 2),
            policy_budget: Some(3),
            answered_by: correct.then_some(calls[calls.len() - 1]),
            answered_at: None,
            order_explored: i % 17 == 0,
        };
        state
            .observe(&obs, &config)
            .expect("the fixed trajectories are valid");
    }
    state
}

fn budget_decide() {
    let config = PolicyConfig::default();
    let modules = names(&MODULES);
    let state = learnt_state();
    let sibling_modules = names(&["news", "web"]);
    let sibling = learnt_state();
    let ctx = Context {
        modules: &modules,
        exact: Some(&state),
        siblings: vec![Sibling {
            modules: &sibling_modules,
            budget: &sibling.budget,
            arms: &sibling.arms,
        }],
    };
    measured(&mut || {
        for id in 1..=16u64 {
            black_box(decide(
                "research",
                black_box(&ctx),
                &config,
                id,
                1_700_000_500_000,
                id % 5 == 0,
            ));
        }
    });
}

fn checkpoint_encode() {
    let state = learnt_state();
    measured(&mut || {
        black_box(blob::encode(
            black_box(&state.arms),
            &state.hist,
            &state.budget,
        ));
    });
}

fn checkpoint_decode() {
    let state = learnt_state();
    let bytes = blob::encode(&state.arms, &state.hist, &state.budget);
    measured(&mut || {
        let _ = black_box(blob::decode(black_box(&bytes), MODULES.len()));
    });
}

fn cost_r_cost() {
    let normalizer = CostNormalizer::new(10.0)
        .and_then(|n| n.with_intent("research", 25.0))
        .and_then(|n| n.with_intent("chat", 2.0))
        .and_then(|n| n.with_intent("code", 40.0))
        .expect("the fixed references are valid");
    let intents = ["research", "chat", "code", "weather"];
    measured(&mut || {
        for (i, intent) in intents.iter().cycle().take(64).enumerate() {
            let units = i as f64 * 0.75;
            let _ = black_box(normalizer.r_cost(black_box(intent), black_box(units)));
        }
    });
}

fn state_observe() {
    let config = PolicyConfig::default();
    let mut state = learnt_state();
    let calls: [u8; 3] = [2, 0, 1];
    measured(&mut || {
        for i in 0..16u32 {
            let obs = Observation {
                calls: &calls[..(i % 3 + 1) as usize],
                correct: i % 4 != 1,
                r_cost: 0.2,
                timestamp_ms: 1_700_000_600_000 + i64::from(i),
                served: Some(3),
                policy_budget: Some(3),
                answered_by: Some(calls[(i % 3) as usize]),
                answered_at: None,
                order_explored: false,
            };
            let _ = black_box(state.observe(black_box(&obs), &config));
        }
    });
}
