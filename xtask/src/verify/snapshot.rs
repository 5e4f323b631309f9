//! `data/verify_snapshot.json`: the gate's result in the seed's format plus per-suite results,
//! host facts, the latency method and history, and the instruction counts. The comparisons
//! with earlier runs live in `trend` (latency) and `instructions`.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use super::instructions::InstructionsMethod;
use super::suite::SuiteResult;
use super::trend::LatencyRun;

/// Bumped whenever a field is renamed or removed; adding a field keeps the version.
pub const SCHEMA_VERSION: u32 = 1;

/// Latency of one endpoint, from individual request durations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointLatency {
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// How many individual requests the percentiles rest on.
    pub requests: u64,
}

/// How the latency figures were obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyMethod {
    /// One sentence a reader can check.
    pub description: String,
    /// The criterion version whose files were read.
    pub criterion_version: String,
    /// The bench target that produced them.
    pub bench: String,
}

/// Facts about the machine the figures come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Logical cores available.
    pub cores: usize,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
}

impl Host {
    /// This machine.
    pub fn current() -> Self {
        Self {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

/// One suite's line in the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteLine {
    /// Suite name.
    pub name: String,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Ignored.
    pub ignored: u64,
    /// Seconds.
    pub duration_s: f64,
}

impl From<&SuiteResult> for SuiteLine {
    fn from(s: &SuiteResult) -> Self {
        Self {
            name: s.name.clone(),
            passed: s.passed,
            failed: s.failed,
            ignored: s.ignored,
            duration_s: round3(s.duration_s),
        }
    }
}

/// The whole snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version of this file.
    pub schema_version: u32,
    /// When the gate finished, RFC 3339 UTC.
    pub timestamp: String,
    /// `git rev-parse --short HEAD`, with `-dirty` when the tree had uncommitted changes.
    pub orchestrator_version: String,
    /// Per-endpoint latency, keyed by `METHOD /path`; empty when latency was skipped.
    pub endpoints: BTreeMap<String, EndpointLatency>,
    /// How `endpoints` was measured; `null` when latency was skipped.
    pub latency_method: Option<LatencyMethod>,
    /// The p50 latency of previous complete runs, oldest first (at most
    /// [`super::trend::HISTORY_RUNS`]): what this run was judged against.
    #[serde(default)]
    pub latency_history: Vec<LatencyRun>,
    /// Instructions (callgrind `Ir`) per bench of the `instructions` step; empty when it did
    /// not run.
    #[serde(default)]
    pub instructions: BTreeMap<String, u64>,
    /// How `instructions` was counted; `null` when the step did not run.
    #[serde(default)]
    pub instructions_method: Option<InstructionsMethod>,
    /// Tests that ran (passed + failed).
    pub total_tests: u64,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Whole gate, seconds.
    pub duration_s: f64,
    /// Per-suite results, in the order they ran.
    pub suites: Vec<SuiteLine>,
    /// The machine.
    pub host: Host,
}

/// Reads a snapshot, `None` when the file does not exist.
pub fn read(path: &Path) -> Result<Option<Snapshot>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let snap = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a verify snapshot", path.display()))?;
            Ok(Some(snap))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the snapshot as pretty JSON with a trailing newline (atomically: temp file + rename).
pub fn write(path: &Path, snap: &Snapshot) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(snap)? + "\n")?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Rounds to three decimals (milliseconds to microseconds, seconds to milliseconds).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::verify::trend::BASELINE_ENDPOINT;

    fn lat(p50: f64) -> EndpointLatency {
        EndpointLatency {
            p50_ms: p50,
            p95_ms: p50 * 2.0,
            p99_ms: p50 * 3.0,
            requests: 100,
        }
    }

    fn set(pairs: &[(&str, f64)]) -> BTreeMap<String, EndpointLatency> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), lat(*v)))
            .collect()
    }

    /// The keys of a JSON value, recursively; arrays and maps keyed by data (endpoint names,
    /// bench names) stand for their first element.
    fn skeleton(v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(map) if map.keys().any(|k| k.contains(' ')) => {
                let first = map.values().next().map(skeleton).unwrap_or(Value::Null);
                serde_json::json!({ "<endpoint>": first })
            }
            Value::Object(map) if map.contains_key("instructions") => map
                .iter()
                .map(|(k, v)| {
                    let folded = match (k.as_str(), v) {
                        ("instructions", Value::Object(benches)) => {
                            let first = benches.values().next().map(skeleton);
                            serde_json::json!({ "<bench>": first.unwrap_or(Value::Null) })
                        }
                        _ => skeleton(v),
                    };
                    (k.clone(), folded)
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), skeleton(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Array(items) => Value::Array(items.first().map(skeleton).into_iter().collect()),
            _ => Value::Null,
        }
    }

    /// A snapshot with every field filled, as a complete run writes it.
    pub(crate) fn generated() -> Snapshot {
        Snapshot {
            schema_version: SCHEMA_VERSION,
            timestamp: "2026-01-01T00:00:00Z".into(),
            orchestrator_version: "abc1234".into(),
            endpoints: set(&[(BASELINE_ENDPOINT, 0.1)]),
            latency_method: Some(LatencyMethod {
                description: "d".into(),
                criterion_version: "0.5".into(),
                bench: "endpoints".into(),
            }),
            latency_history: vec![LatencyRun {
                timestamp: "2025-12-31T00:00:00Z".into(),
                orchestrator_version: "abc1233".into(),
                p50_ms: [(BASELINE_ENDPOINT.to_string(), 0.1)].into(),
            }],
            instructions: [("reward_score".to_string(), 12_017)].into(),
            instructions_method: Some(InstructionsMethod {
                description: "d".into(),
                valgrind: "valgrind-3.19.0".into(),
                rustc: "rustc 1.95.0".into(),
                bench: "otc-policy/instructions".into(),
                threshold: 0.02,
            }),
            total_tests: 1,
            passed: 1,
            failed: 0,
            duration_s: 1.0,
            suites: vec![SuiteLine {
                name: "unit".into(),
                passed: 1,
                failed: 0,
                ignored: 0,
                duration_s: 1.0,
            }],
            host: Host::current(),
        }
    }

    #[test]
    fn a_written_snapshot_reads_back_unchanged() {
        let dir = std::env::temp_dir().join(format!("verify-snapshot-{}", std::process::id()));
        let path = dir.join("nested/verify_snapshot.json");
        let snap = generated();
        write(&path, &snap).unwrap();
        assert_eq!(read(&path).unwrap(), Some(snap));
        assert_eq!(read(&dir.join("absent.json")).unwrap(), None);
        std::fs::write(&path, "{\"not\": \"a snapshot\"}").unwrap();
        assert!(
            read(&path).is_err(),
            "a foreign file is an error, not a baseline"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_snapshot_from_before_the_history_and_instructions_still_reads() {
        let mut old = serde_json::to_value(generated()).unwrap();
        for field in ["latency_history", "instructions", "instructions_method"] {
            old.as_object_mut().unwrap().remove(field);
        }
        let read: Snapshot = serde_json::from_value(old).unwrap();
        assert!(read.latency_history.is_empty() && read.instructions.is_empty());
        assert_eq!(read.instructions_method, None);
    }

    /// The committed baseline has the shape this code writes, so a change to [`Snapshot`] shows
    /// up here until a complete run rewrites the file.
    #[test]
    fn the_committed_baseline_has_the_shape_this_code_writes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let text = std::fs::read_to_string(root.join("data/verify_snapshot.json")).unwrap();
        let committed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ours = serde_json::to_value(generated()).unwrap();
        assert_eq!(skeleton(&committed), skeleton(&ours));
    }
}
