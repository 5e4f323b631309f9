//! Tidy check of the crate's layering: the pure modules (reward, estimation of `n`, the budget
//! decision, module credit, decisions and advice, state update, trajectory validation, the
//! synthetic world and the closed-loop simulator) do no I/O and know nothing of SQL or HTTP;
//! only `src/store/` talks to SQLite.

use std::path::Path;

const PURE: &[&str] = &[
    "reward.rs",
    "estimate.rs",
    "arms.rs",
    "state.rs",
    "trajectory.rs",
    "synthetic.rs",
    "config.rs",
    "json_input.rs",
    "module_set.rs",
    "advice.rs",
    "decision.rs",
    "budget/mod.rs",
    "budget/config.rs",
    "budget/evidence.rs",
    "budget/rule.rs",
    "simulate/mod.rs",
    "simulate/world.rs",
    "simulate/memory.rs",
    "simulate/report.rs",
    "simulate/summary.rs",
    "simulate/svg.rs",
];
const BANNED: &[&str] = &[
    "rusqlite",
    "sqlite_kit",
    "crate::store",
    "std::fs",
    "std::net",
    "std::process",
    "tokio",
    "axum",
    "println!",
];

#[test]
fn pure_modules_do_no_io_and_know_no_sql() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut hits = Vec::new();
    for file in PURE {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        for banned in BANNED {
            if text.contains(banned) {
                hits.push(format!("src/{file} mentions {banned}"));
            }
        }
    }
    assert!(hits.is_empty(), "layering broken:\n{}", hits.join("\n"));
}

#[test]
fn every_source_file_opens_with_a_doc_line_and_stays_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("src"), root.join("tests"), root.join("benches")];
    let mut problems = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if !text.starts_with("//!") {
                    problems.push(format!("{} lacks a //! line", path.display()));
                }
                if text.lines().count() > 500 {
                    problems.push(format!("{} is over 500 lines", path.display()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
