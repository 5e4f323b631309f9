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

/// Every tracked (or new, not ignored) Rust file of the workspace.
fn rust_files() -> Vec<PathBuf> {
    let root = repo_root();
    let out = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.rs",
        ])
        .current_dir(&root)
        .output()
        .expect("git is available");
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| root.join(l))
        .filter(|p| p.exists())
        .collect()
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

#[test]
fn no_pending_insta_snapshots_are_left_behind() {
    let out = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.snap.new",
            "*.pending-snap",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let pending = String::from_utf8(out.stdout).unwrap();
    assert!(
        pending.trim().is_empty(),
        "review these snapshots with `cargo insta review`:\n{pending}"
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
