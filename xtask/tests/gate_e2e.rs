//! End-to-end test of the gate itself: `cargo xtask verify` run against a small fixture workspace
//! (xtask/fixtures/broken-workspace) that has a failing test, a crashing test binary and a stale
//! insta snapshot must exit non-zero and name each cause.

use std::path::{Path, PathBuf};
use std::process::Command;

fn slow_tests_enabled() -> bool {
    std::env::var_os("OTC_SLOW_TESTS").is_some_and(|v| v == "1")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn verify_fails_and_names_each_cause_in_a_broken_workspace() {
    if !slow_tests_enabled() {
        eprintln!("skipped: set OTC_SLOW_TESTS=1 (the gate always does)");
        return;
    }
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/broken-workspace");
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gate-e2e-workspace");
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&fixture, &work);
    // A committed baseline that a partial, failing run must leave as it was.
    let baseline = work.join("data/verify_snapshot.json");
    std::fs::create_dir_all(baseline.parent().unwrap()).unwrap();
    std::fs::write(&baseline, "{\"committed\": true}\n").unwrap();
    // A target dir of its own: no lock contention with the build running this test, and the
    // fixture's one dependency stays cached between runs.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gate-e2e-target");
    let _ = std::fs::remove_file(target.join("verify/verify_snapshot.json"));

    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify", "--no-latency", "--skip", "lint", "--root"])
        .arg(&work)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("INSTA_UPDATE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");

    assert_eq!(
        out.status.code(),
        Some(1),
        "verify must fail on the broken workspace:\n{all}"
    );
    // The failing test, by name, with its message.
    assert!(
        stdout.contains("broken[lib]::tests::fails_on_purpose"),
        "{all}"
    );
    assert!(stdout.contains("the answer drifted"), "{all}");
    // The crashing binary, by name, with the signal.
    assert!(stdout.contains("broken[crash] (test binary)"), "{all}");
    assert!(stdout.contains("SIGABRT"), "{all}");
    // The stale snapshot, by test name; it was checked, not rewritten.
    assert!(
        stdout.contains("broken[stale]::snapshot_is_current"),
        "{all}"
    );
    let snap =
        std::fs::read_to_string(work.join("broken/tests/snapshots/stale__table.snap")).unwrap();
    assert!(
        snap.contains("value = 1"),
        "the stale snapshot was rewritten"
    );
    assert!(
        !work
            .join("broken/tests/snapshots/stale__table.snap.new")
            .exists()
    );
    // The fixture has no instruction bench: the step says so and neither fails nor counts.
    assert!(
        stdout.contains("step  instructions   skipped: no `instructions` bench"),
        "{all}"
    );
    // Healthy tests still ran and counted, and the closing line is there.
    assert!(stdout.contains("verify: 2 passed, 3 failed"), "{all}");
    // The run's snapshot went to the target dir; the committed baseline is untouched.
    assert_eq!(
        std::fs::read_to_string(&baseline).unwrap(),
        "{\"committed\": true}\n",
        "a partial, failing run replaced the committed baseline"
    );
    assert!(stdout.contains("left as it was"), "{all}");
    let snapshot: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(target.join("verify/verify_snapshot.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(snapshot["failed"], 3);
    assert_eq!(snapshot["passed"], 2);
}
