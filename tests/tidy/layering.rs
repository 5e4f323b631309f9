//! The layering invariants of ARCHITECTURE.md, checked from `cargo metadata` (which crate may
//! depend on which) and from the sources of otc-policy's pure modules (which must do no I/O).

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every package a workspace package reaches through normal (non-dev, non-build) dependencies.
fn normal_dependency_closure() -> HashMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(repo_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name_of: HashMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect();
        edges.insert(node["id"].as_str().unwrap().to_string(), deps);
    }
    let mut closure = HashMap::new();
    for member in meta["workspace_members"].as_array().unwrap() {
        let mut seen = BTreeSet::new();
        let mut stack = vec![member.as_str().unwrap().to_string()];
        while let Some(id) = stack.pop() {
            for dep in edges.get(&id).into_iter().flatten() {
                if seen.insert(name_of[dep].clone()) {
                    stack.push(dep.clone());
                }
            }
        }
        closure.insert(name_of[member.as_str().unwrap()].clone(), seen);
    }
    closure
}

#[test]
fn crates_depend_only_on_what_their_layer_allows() {
    let closure = normal_dependency_closure();
    let http = ["axum", "hyper", "tokio", "tower", "tower-http"];
    let rules: [(&str, &[&str]); 8] = [
        (
            "sqlite-kit",
            &[
                "otc-policy",
                "usage-store",
                "usage-store-sqlite",
                "admin-api",
                "axum",
                "hyper",
                "tokio",
            ],
        ),
        // The trait crate names no backend: a second backend must not pull in SQLite.
        (
            "usage-store",
            &[
                "rusqlite",
                "sqlite-kit",
                "usage-store-sqlite",
                "otc-policy",
                "admin-api",
                "axum",
                "hyper",
                "tokio",
                "tower",
            ],
        ),
        (
            "usage-store-sqlite",
            &[
                "otc-policy",
                "admin-api",
                "axum",
                "hyper",
                "tokio",
                "tower",
                "tower-http",
            ],
        ),
        (
            "otc-policy",
            &[
                "usage-store-sqlite",
                "admin-api",
                "axum",
                "hyper",
                "tokio",
                "tower",
                "tower-http",
            ],
        ),
        // The admin store's trait crate knows no backend and no HTTP server (utoipa, behind
        // its `openapi` feature, only describes types).
        (
            "admin-store",
            &[
                "rusqlite",
                "sqlite-kit",
                "tokio",
                "hyper",
                "tower",
                "admin-api",
                "otc-policy",
                "usage-store",
            ],
        ),
        (
            "admin-store-sqlite",
            &[
                "admin-api",
                "otc-policy",
                "usage-store",
                "axum",
                "hyper",
                "tokio",
            ],
        ),
        (
            "xtask",
            &[
                "otc-policy",
                "usage-store",
                "usage-store-sqlite",
                "admin-api",
                "admin-store",
                "admin-store-sqlite",
                "sqlite-kit",
                "rusqlite",
            ],
        ),
        ("suites", &[]),
    ];
    let mut violations = Vec::new();
    for (krate, banned) in rules {
        let deps = closure
            .get(krate)
            .unwrap_or_else(|| panic!("{krate} is not a workspace member"));
        for b in banned {
            if deps.contains(*b) {
                violations.push(format!("{krate} must not depend on {b}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
    assert!(
        http.iter().any(|h| closure["admin-api"].contains(*h)),
        "admin-api is the HTTP layer"
    );
}

#[test]
fn otc_policy_pure_modules_do_no_io() {
    let src = repo_root().join("crates/otc-policy/src");
    let banned = [
        "rusqlite",
        "std::fs",
        "std::net",
        "std::io",
        "tokio",
        "axum",
        "sqlite_kit",
        "File::",
    ];
    let mut hits = Vec::new();
    for module in ["reward.rs", "estimate.rs", "arms.rs"] {
        let Ok(text) = std::fs::read_to_string(src.join(module)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(b) = banned.iter().find(|b| line.contains(**b)) {
                hits.push(format!("otc-policy/src/{module}:{}: uses {b}", n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the pure modules must stay free of I/O:\n{}",
        hits.join("\n")
    );
    assert!(
        src.join("reward.rs").exists(),
        "reward.rs moved: update this rule"
    );
}
