//! The layering invariants of ARCHITECTURE.md, checked from `cargo metadata` (which crate may
//! depend on which) and from the sources of otc-policy, the pure crate (which must do no I/O).

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
    let rules: [(&str, &[&str]); 15] = [
        (
            "sqlite-kit",
            &[
                "postgres",
                "otc-policy",
                "policy-store",
                "policy-store-sqlite",
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
                "postgres",
                "postgres-kit",
                "usage-store-postgres",
                "otc-policy",
                "policy-store",
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
                "postgres",
                "postgres-kit",
                "usage-store-postgres",
                "otc-policy",
                "admin-api",
                "axum",
                "hyper",
                "tokio",
                "tower",
                "tower-http",
            ],
        ),
        // The policy is pure: no storage, no metering, no HTTP, no command line.
        (
            "otc-policy",
            &[
                "rusqlite",
                "sqlite-kit",
                "usage-store",
                "usage-store-sqlite",
                "policy-store",
                "policy-store-sqlite",
                "admin-api",
                "axum",
                "hyper",
                "tokio",
                "tower",
                "tower-http",
                "clap",
                "anyhow",
            ],
        ),
        // The policy store's trait crate names no backend.
        (
            "policy-store",
            &[
                "rusqlite",
                "sqlite-kit",
                "policy-store-sqlite",
                "postgres",
                "postgres-kit",
                "policy-store-postgres",
                "usage-store",
                "admin-api",
                "axum",
                "hyper",
                "tokio",
                "tower",
                "clap",
                "anyhow",
            ],
        ),
        (
            "policy-store-sqlite",
            &[
                "postgres",
                "postgres-kit",
                "policy-store-postgres",
                "admin-api",
                "usage-store",
                "axum",
                "hyper",
                "tokio",
                "tower",
                "tower-http",
                "clap",
                "anyhow",
            ],
        ),
        // The admin store's trait crate knows no backend and no HTTP server (utoipa, behind
        // its `openapi` feature, only describes types).
        (
            "admin-store",
            &[
                "rusqlite",
                "sqlite-kit",
                "postgres",
                "postgres-kit",
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
                "postgres",
                "postgres-kit",
                "admin-api",
                "otc-policy",
                "usage-store",
                "axum",
                "hyper",
                "tokio",
            ],
        ),
        // How PostgreSQL is used, below every store: no store, no HTTP server, no SQLite.
        // (tokio is allowed: the synchronous driver runs tokio-postgres on a runtime of its own.)
        (
            "postgres-kit",
            &[
                "rusqlite",
                "sqlite-kit",
                "otc-policy",
                "policy-store",
                "usage-store",
                "admin-store",
                "admin-api",
                "axum",
                "hyper",
                "tower",
                "tower-http",
            ],
        ),
        // The PostgreSQL backend knows nothing of HTTP, of SQLite or of the other stores.
        (
            "admin-store-postgres",
            &[
                "rusqlite",
                "sqlite-kit",
                "admin-store-sqlite",
                "admin-api",
                "otc-policy",
                "usage-store",
                "policy-store",
                "axum",
                "hyper",
                "tower",
                "tower-http",
            ],
        ),
        // The usage store on PostgreSQL: no HTTP, no SQLite, no other store.
        (
            "usage-store-postgres",
            &[
                "rusqlite",
                "sqlite-kit",
                "usage-store-sqlite",
                "admin-api",
                "admin-store",
                "admin-store-postgres",
                "otc-policy",
                "policy-store",
                "axum",
                "hyper",
                "tower",
                "tower-http",
            ],
        ),
        // The policy store on PostgreSQL: the policy and the trait crate, no HTTP, no SQLite,
        // no other store.
        (
            "policy-store-postgres",
            &[
                "rusqlite",
                "sqlite-kit",
                "policy-store-sqlite",
                "admin-api",
                "admin-store",
                "admin-store-postgres",
                "usage-store",
                "axum",
                "hyper",
                "tower",
                "tower-http",
                "clap",
                "anyhow",
            ],
        ),
        (
            "xtask",
            &[
                "postgres",
                "postgres-kit",
                "admin-store-postgres",
                "usage-store-postgres",
                "policy-store-postgres",
                "otc-policy",
                "policy-store",
                "policy-store-sqlite",
                "otc-cli",
                "usage-store",
                "usage-store-sqlite",
                "admin-api",
                "admin-store",
                "admin-store-sqlite",
                "sqlite-kit",
                "rusqlite",
            ],
        ),
        // The `otc` binary is glue: it may use every policy crate, but nothing of the server.
        ("otc-cli", &["admin-api", "axum", "hyper", "tokio", "tower"]),
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
fn otc_policy_does_no_io() {
    // Since the stores and the CLI left it, the whole crate is pure, so every file is checked.
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
    let mut stack = vec![src.clone()];
    let mut checked = 0;
    let mut hits = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            checked += 1;
            for (n, line) in text.lines().enumerate() {
                if let Some(b) = banned.iter().find(|b| line.contains(**b)) {
                    let file = path.strip_prefix(&src).unwrap().display();
                    hits.push(format!("otc-policy/src/{file}:{}: uses {b}", n + 1));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the pure crate must stay free of I/O:\n{}",
        hits.join("\n")
    );
    assert!(
        src.join("reward.rs").exists() && checked > 20,
        "otc-policy's sources moved: update this rule"
    );
}

/// The top-level modules of `crate` that each module of `src` names as `crate::<module>`
/// (test modules and comments aside).
fn module_imports(src: &std::path::Path) -> HashMap<String, BTreeSet<String>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut imports: HashMap<String, BTreeSet<String>> = HashMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "bin" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let names = imports.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                // `crate::{a, b::c}` names several modules at once.
                let group = rest
                    .strip_prefix('{')
                    .map(|g| g.split('}').next().unwrap_or(""));
                let parts: Vec<&str> = match group {
                    Some(group) => group.split(',').collect(),
                    None => vec![rest],
                };
                for part in parts {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        names.insert(name);
                    }
                }
            }
        }
    }
    imports
}

/// Regression (store-seams review): `state`, `bootstrap`, `credentials`, `modules` and the
/// routing store imported each other in a circle. Modules of admin-api form a DAG.
#[test]
fn admin_api_modules_import_no_circle() {
    let imports = module_imports(&repo_root().join("crates/admin-api/src"));
    assert!(imports.len() > 10, "the walk found admin-api's modules");
    let reaches = |from: &str, to: &str| {
        let mut stack = vec![from.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(module) = stack.pop() {
            for next in imports.get(&module).into_iter().flatten() {
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let mut circles = Vec::new();
    for (module, names) in &imports {
        for name in names {
            if imports.contains_key(name) && reaches(name, module) {
                circles.push(format!("{module} -> {name} -> ... -> {module}"));
            }
        }
    }
    circles.sort();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}
