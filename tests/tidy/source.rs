//! Source-level rules: every Rust file says what it is for, no test is switched off, the tree is
//! formatted, and the docs name what exists.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every tracked (or new, not ignored) file of the workspace whose name ends with one of
/// `suffixes`. Outside a git checkout (cargo-mutants tests a copy of the tree without `.git`)
/// it walks the tree instead, leaving out `target/` and hidden directories, so the rules still
/// run there rather than fail or skip.
fn workspace_files(suffixes: &[&str]) -> Vec<PathBuf> {
    let root = repo_root();
    let patterns = suffixes.iter().map(|s| format!("*{s}"));
    let listed = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .args(patterns)
        .current_dir(&root)
        .output()
        .ok()
        .filter(|out| out.status.success() && root.join(".git").exists());
    match listed {
        Some(out) => String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| root.join(l))
            .filter(|p| p.exists())
            .collect(),
        None => {
            let mut found = Vec::new();
            walk(&root, suffixes, &mut found);
            found
        }
    }
}

fn walk(dir: &Path, suffixes: &[&str], found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&path, suffixes, found);
            }
        } else if suffixes.iter().any(|s| name.ends_with(s)) {
            found.push(path);
        }
    }
}

/// Every Rust file of the workspace.
fn rust_files() -> Vec<PathBuf> {
    workspace_files(&[".rs"])
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| relative(&p))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_test_is_ignored_or_expected_to_panic() {
    // Built from pieces so this file does not match itself.
    let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    let mut hits = Vec::new();
    for path in rust_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if banned.iter().any(|b| line.trim_start().starts_with(b)) {
                hits.push(format!("{}:{}: {}", relative(&path), n + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "gate slow tests behind OTC_SLOW_TESTS and assert errors instead:\n{}",
        hits.join("\n")
    );
}

/// `unsafe` is denied across the workspace (`[workspace.lints]`); the one module that reads
/// SQLite's shared-memory WAL index may allow it, and nothing else may.
#[test]
fn unsafe_code_is_allowed_in_one_module_only() {
    // Built from pieces so this file does not match itself.
    let allow = concat!("allow(", "unsafe_code)");
    let allowed = ["crates/sqlite-kit/src/wal_index.rs"];
    let mut hits = Vec::new();
    for path in rust_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let rel = relative(&path);
        if text.contains(allow) && !allowed.contains(&rel.as_str()) {
            hits.push(rel);
        }
    }
    assert!(
        hits.is_empty(),
        "unsafe code allowed outside {allowed:?}:\n{}",
        hits.join("\n")
    );
    let lints = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    assert!(
        lints.contains("unsafe_code = \"deny\"") || lints.contains("unsafe_code = \"forbid\""),
        "the workspace must deny unsafe code"
    );
}

#[test]
fn no_pending_insta_snapshots_are_left_behind() {
    // Walk the tree, not `git ls-files`: .gitignore hides these files from git.
    let mut found = Vec::new();
    walk(&repo_root(), &[".snap.new", ".pending-snap"], &mut found);
    let pending: Vec<String> = found.iter().map(|p| relative(p)).collect();
    assert!(
        pending.is_empty(),
        "review these snapshots with `cargo insta review`:\n{}",
        pending.join("\n")
    );
}

#[test]
fn the_tree_is_formatted() {
    let out = Command::new(env!("CARGO"))
        .args(["fmt", "--all", "--check"])
        .current_dir(repo_root())
        .output()
        .expect("cargo fmt is available");
    assert!(
        out.status.success(),
        "run `cargo fmt --all`:\n{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn architecture_md_names_every_crate_and_readme_names_the_gate() {
    let root = repo_root();
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            arch.contains(&format!("crates/{name}")),
            "ARCHITECTURE.md does not describe crates/{name}"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("cargo xtask verify"),
        "README.md must give the gate command"
    );
}
