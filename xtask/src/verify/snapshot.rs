//! `data/verify_snapshot.json`: the gate's result in the seed's format plus per-suite results,
//! host facts and the latency method; and the comparison of one run's latency with the last.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use super::suite::SuiteResult;

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

/// Thresholds for calling a latency change a regression. Both must be exceeded, so that neither
/// a large relative change of a tiny figure nor a small relative wobble of a large one counts.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Relative increase of the baseline-normalised p50 (0.5 = 50% slower).
    pub relative: f64,
    /// Absolute increase of the raw p50 in milliseconds.
    pub absolute_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            relative: 0.5,
            absolute_ms: 0.05,
        }
    }
}

/// The change of one endpoint between two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Endpoint key.
    pub endpoint: String,
    /// Previous and current p50, ms.
    pub p50_ms: (f64, f64),
    /// Previous and current p99, ms.
    pub p99_ms: (f64, f64),
    /// Relative change of p50 after dividing by the run's baseline endpoint (raw for the
    /// baseline itself, and when a run has no baseline).
    pub relative: f64,
    /// Beyond both thresholds.
    pub regression: bool,
}

/// The endpoint every other one is normalised by: the bare liveness route, which measures the
/// machine and the HTTP stack and nothing of ours. Shared machines drift; ratios drift less.
pub const BASELINE_ENDPOINT: &str = "GET /admin/health";

/// Compares `current` with `previous` endpoint by endpoint.
pub fn compare(
    previous: &BTreeMap<String, EndpointLatency>,
    current: &BTreeMap<String, EndpointLatency>,
    t: Thresholds,
) -> Vec<Change> {
    let scale = |set: &BTreeMap<String, EndpointLatency>| {
        set.get(BASELINE_ENDPOINT)
            .map(|b| b.p50_ms)
            .filter(|v| *v > 0.0)
            .unwrap_or(1.0)
    };
    let (prev_base, cur_base) = (scale(previous), scale(current));
    let mut changes = Vec::new();
    for (endpoint, cur) in current {
        let Some(prev) = previous.get(endpoint) else {
            continue;
        };
        // The baseline itself is reported raw (normalised, it would always be 0%).
        let (before, after) = if endpoint == BASELINE_ENDPOINT {
            (prev.p50_ms, cur.p50_ms)
        } else {
            (prev.p50_ms / prev_base, cur.p50_ms / cur_base)
        };
        let relative = if before > 0.0 {
            after / before - 1.0
        } else {
            0.0
        };
        let regression = endpoint != BASELINE_ENDPOINT
            && relative > t.relative
            && cur.p50_ms - prev.p50_ms > t.absolute_ms;
        changes.push(Change {
            endpoint: endpoint.clone(),
            p50_ms: (prev.p50_ms, cur.p50_ms),
            p99_ms: (prev.p99_ms, cur.p99_ms),
            relative,
            regression,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The keys of a JSON value, recursively; arrays and maps keyed by data (endpoint names)
    /// stand for their first element.
    fn skeleton(v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(map) if map.keys().any(|k| k.contains(' ')) => {
                let first = map.values().next().map(skeleton).unwrap_or(Value::Null);
                serde_json::json!({ "<endpoint>": first })
            }
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), skeleton(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Array(items) => Value::Array(items.first().map(skeleton).into_iter().collect()),
            _ => Value::Null,
        }
    }

    fn generated() -> Snapshot {
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

    #[test]
    fn a_uniformly_slower_machine_is_not_a_regression() {
        let prev = set(&[(BASELINE_ENDPOINT, 0.1), ("GET /admin/modules", 0.2)]);
        let cur = set(&[(BASELINE_ENDPOINT, 0.3), ("GET /admin/modules", 0.6)]);
        assert!(
            compare(&prev, &cur, Thresholds::default())
                .iter()
                .all(|c| !c.regression)
        );
    }

    #[test]
    fn an_endpoint_that_doubles_against_the_baseline_is_a_regression() {
        let prev = set(&[(BASELINE_ENDPOINT, 0.1), ("GET /admin/modules", 0.2)]);
        let cur = set(&[(BASELINE_ENDPOINT, 0.1), ("GET /admin/modules", 0.45)]);
        let changes = compare(&prev, &cur, Thresholds::default());
        let modules = changes
            .iter()
            .find(|c| c.endpoint == "GET /admin/modules")
            .unwrap();
        assert!(modules.regression);
        assert!((modules.relative - 1.25).abs() < 1e-9);
    }

    #[test]
    fn a_tiny_absolute_change_is_noise() {
        let prev = set(&[("GET /x", 0.010)]);
        let cur = set(&[("GET /x", 0.030)]);
        assert!(!compare(&prev, &cur, Thresholds::default())[0].regression);
    }

    #[test]
    fn new_and_removed_endpoints_are_not_compared() {
        let prev = set(&[("GET /old", 0.1)]);
        let cur = set(&[("GET /new", 0.1)]);
        assert!(compare(&prev, &cur, Thresholds::default()).is_empty());
    }
}
