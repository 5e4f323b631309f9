//! The "build once" step: compile every test target of the workspace and learn, from cargo's JSON
//! messages, which executable belongs to which package and target.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process;

/// One compiled test executable.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// Package name, e.g. `otc-policy`.
    pub package: String,
    /// Target name, e.g. `reward_props` or `contract`.
    pub target: String,
    /// Target kind: `lib`, `bin` or `test`.
    pub kind: String,
    /// Path of the executable.
    pub executable: PathBuf,
    /// The package's directory (tests run with it as working directory, as under `cargo test`).
    pub package_dir: PathBuf,
}

/// What `cargo metadata` says about the workspace that verify needs.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Workspace member packages by manifest path.
    packages: HashMap<PathBuf, String>,
    /// `(package, bench target)` pairs.
    pub benches: Vec<(String, String)>,
    /// `(package, bin target)` pairs.
    pub bins: Vec<(String, String)>,
    /// The target directory.
    pub target_dir: PathBuf,
}

/// Reads `cargo metadata --no-deps`.
pub fn metadata(root: &Path) -> Result<Workspace> {
    let out = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let mut ws = Workspace {
        target_dir: PathBuf::from(meta["target_directory"].as_str().unwrap_or("target")),
        ..Workspace::default()
    };
    for package in meta["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default().to_string();
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        for target in package["targets"].as_array().into_iter().flatten() {
            let target_name = target["name"].as_str().unwrap_or_default().to_string();
            for kind in target["kind"].as_array().into_iter().flatten() {
                match kind.as_str() {
                    Some("bench") => ws.benches.push((name.clone(), target_name.clone())),
                    Some("bin") => ws.bins.push((name.clone(), target_name.clone())),
                    _ => {}
                }
            }
        }
        ws.packages.insert(manifest, name);
    }
    Ok(ws)
}

/// Builds every test target and every binary; returns the test executables.
///
/// Compiler errors are returned as the error, rendered as cargo renders them.
pub fn build_tests(root: &Path, ws: &Workspace) -> Result<Vec<TestBinary>> {
    let mut cmd = Command::new("cargo");
    cmd.args([
        "test",
        "--workspace",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    cmd.current_dir(root);
    let done = process::run(cmd, Duration::from_secs(3600))?;
    if done.status.is_none_or(|s| !s.success()) {
        bail!(
            "building the test targets failed ({}):\n{}",
            done.describe_end(),
            process::tail(&done.stderr, 60)
        );
    }
    let mut bins = test_binaries(&done.stdout, ws);
    // The binaries themselves (the showroom and integration tests start the real servers).
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--workspace", "--bins", "--quiet"])
        .current_dir(root);
    let done = process::run(cmd, Duration::from_secs(3600))?;
    if done.status.is_none_or(|s| !s.success()) {
        bail!(
            "building the binaries failed:\n{}",
            process::tail(&done.stderr, 60)
        );
    }
    bins.sort_by(|a, b| (&a.package, &a.target).cmp(&(&b.package, &b.target)));
    Ok(bins)
}

/// The test executables named in the JSON messages of `cargo test --no-run
/// --message-format=json...` (`stdout`), for packages of the workspace.
pub fn test_binaries(stdout: &str, ws: &Workspace) -> Vec<TestBinary> {
    let mut bins = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = msg["executable"].as_str() else {
            continue;
        };
        let manifest = PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default());
        let Some(package) = ws.packages.get(&manifest) else {
            continue;
        };
        bins.push(TestBinary {
            package: package.clone(),
            target: msg["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kind: msg["target"]["kind"][0]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            executable: PathBuf::from(executable),
            package_dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
        });
    }
    bins
}
