//! This run's endpoint latency judged against several previous complete runs, not one: each
//! endpoint's p50 is normalised by the liveness route of its own run, and compared with the
//! median over the reference runs, so one lucky (or unlucky) baseline run cannot make a
//! regression appear or hide one. The committed snapshot keeps those runs in
//! `latency_history`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::snapshot::{EndpointLatency, Snapshot};

/// How many previous complete runs a run is judged against (and the snapshot keeps).
pub const HISTORY_RUNS: usize = 5;

/// The endpoint every other one is normalised by: the bare liveness route, which measures the
/// machine and the HTTP stack and nothing of ours. Shared machines drift; ratios drift less.
pub const BASELINE_ENDPOINT: &str = "GET /admin/health";

/// One previous complete run's latency, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRun {
    /// When that gate finished.
    pub timestamp: String,
    /// Its `orchestrator_version`.
    pub orchestrator_version: String,
    /// p50 per endpoint, milliseconds.
    pub p50_ms: BTreeMap<String, f64>,
}

impl LatencyRun {
    /// The latency of the run that wrote `snap`.
    pub fn of(snap: &Snapshot) -> Self {
        Self {
            timestamp: snap.timestamp.clone(),
            orchestrator_version: snap.orchestrator_version.clone(),
            p50_ms: snap
                .endpoints
                .iter()
                .map(|(k, v)| (k.clone(), v.p50_ms))
                .collect(),
        }
    }
}

/// The runs this one is judged against: the baseline's own run after its history, the last
/// [`HISTORY_RUNS`] of them, oldest first. Also the history the next snapshot keeps.
pub fn references(baseline: &Snapshot) -> Vec<LatencyRun> {
    let mut runs = baseline.latency_history.clone();
    if !baseline.endpoints.is_empty() {
        runs.push(LatencyRun::of(baseline));
    }
    let excess = runs.len().saturating_sub(HISTORY_RUNS);
    runs.drain(..excess);
    runs
}

/// Thresholds for calling a latency change a regression. Both must be exceeded, so that neither
/// a large relative change of a tiny figure nor a small relative wobble of a large one counts.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Relative increase of the liveness-normalised p50 (0.5 = 50% slower).
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

/// The change of one endpoint against the reference runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Endpoint key.
    pub endpoint: String,
    /// Median raw p50 of the reference runs, and this run's p50, ms.
    pub p50_ms: (f64, f64),
    /// Relative change of the liveness-normalised p50 against the reference runs' median (raw
    /// for the liveness route itself, and for runs without it).
    pub relative: f64,
    /// How many reference runs measured this endpoint.
    pub runs: usize,
    /// Beyond both thresholds.
    pub regression: bool,
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The liveness route's p50 of a run, the unit its other endpoints are measured in (1 when the
/// run has none, so they are compared raw).
fn scale(p50: &BTreeMap<String, f64>) -> f64 {
    p50.get(BASELINE_ENDPOINT)
        .copied()
        .filter(|v| *v > 0.0)
        .unwrap_or(1.0)
}

/// Compares `current` with the reference runs, endpoint by endpoint. An endpoint no reference
/// run measured is not compared.
pub fn compare(
    references: &[LatencyRun],
    current: &BTreeMap<String, EndpointLatency>,
    t: Thresholds,
) -> Vec<Change> {
    let current_p50: BTreeMap<String, f64> =
        current.iter().map(|(k, v)| (k.clone(), v.p50_ms)).collect();
    let cur_scale = scale(&current_p50);
    let mut changes = Vec::new();
    for (endpoint, &now) in &current_p50 {
        // The liveness route itself is reported raw (normalised, it would always be 0%).
        let is_base = endpoint == BASELINE_ENDPOINT;
        let unit = |run: &BTreeMap<String, f64>| if is_base { 1.0 } else { scale(run) };
        let mut raw: Vec<f64> = Vec::new();
        let mut normalised: Vec<f64> = Vec::new();
        for run in references {
            if let Some(&p50) = run.p50_ms.get(endpoint) {
                raw.push(p50);
                normalised.push(p50 / unit(&run.p50_ms));
            }
        }
        let runs = raw.len();
        let (Some(before_raw), Some(before)) = (median(&mut raw), median(&mut normalised)) else {
            continue;
        };
        let after = if is_base { now } else { now / cur_scale };
        let relative = if before > 0.0 {
            after / before - 1.0
        } else {
            0.0
        };
        let regression = !is_base && relative > t.relative && now - before_raw > t.absolute_ms;
        changes.push(Change {
            endpoint: endpoint.clone(),
            p50_ms: (before_raw, now),
            relative,
            runs,
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

    fn current(pairs: &[(&str, f64)]) -> BTreeMap<String, EndpointLatency> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), lat(*v)))
            .collect()
    }

    fn run(pairs: &[(&str, f64)]) -> LatencyRun {
        LatencyRun {
            timestamp: "2026-01-01T00:00:00Z".into(),
            orchestrator_version: "abc1234".into(),
            p50_ms: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    const M: &str = "GET /admin/modules";

    fn change<'a>(changes: &'a [Change], endpoint: &str) -> &'a Change {
        changes.iter().find(|c| c.endpoint == endpoint).unwrap()
    }

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn a_uniformly_slower_machine_is_not_a_regression() {
        let refs = [run(&[(BASELINE_ENDPOINT, 0.1), (M, 0.2)])];
        let cur = current(&[(BASELINE_ENDPOINT, 0.3), (M, 0.6)]);
        assert!(
            compare(&refs, &cur, Thresholds::default())
                .iter()
                .all(|c| !c.regression)
        );
    }

    #[test]
    fn an_endpoint_that_doubles_against_the_liveness_route_is_a_regression() {
        let refs = [run(&[(BASELINE_ENDPOINT, 0.1), (M, 0.2)])];
        let cur = current(&[(BASELINE_ENDPOINT, 0.1), (M, 0.45)]);
        let changes = compare(&refs, &cur, Thresholds::default());
        let modules = change(&changes, M);
        assert!(modules.regression);
        assert!((modules.relative - 1.25).abs() < 1e-9);
        assert!(!change(&changes, BASELINE_ENDPOINT).regression);
    }

    #[test]
    fn one_slow_reference_run_neither_hides_nor_makes_a_regression() {
        // Normalised, /admin/modules was 2.0, 2.0, 8.0 (an unlucky run), 2.0, 2.0: median 2.0.
        let mut refs: Vec<LatencyRun> = (0..5)
            .map(|_| run(&[(BASELINE_ENDPOINT, 0.1), (M, 0.2)]))
            .collect();
        refs[2] = run(&[(BASELINE_ENDPOINT, 0.1), (M, 0.8)]);
        // 3.5x the liveness route: +75% against the median, a regression, although it is
        // faster than the unlucky run (against which alone it would be -56%).
        let slow = compare(
            &refs,
            &current(&[(BASELINE_ENDPOINT, 0.1), (M, 0.35)]),
            Thresholds::default(),
        );
        assert!(change(&slow, M).regression);
        assert!((change(&slow, M).relative - 0.75).abs() < 1e-9);
        assert_eq!(change(&slow, M).runs, 5);
        // And a lucky reference run does not make an ordinary run look slow.
        refs[2] = run(&[(BASELINE_ENDPOINT, 0.1), (M, 0.05)]);
        let usual = compare(
            &refs,
            &current(&[(BASELINE_ENDPOINT, 0.1), (M, 0.21)]),
            Thresholds::default(),
        );
        assert!(!change(&usual, M).regression);
    }

    #[test]
    fn the_references_are_the_last_runs_with_the_baseline_last() {
        let mut baseline = crate::verify::snapshot::tests::generated();
        baseline.latency_history = (0..HISTORY_RUNS)
            .map(|i| LatencyRun {
                timestamp: format!("run {i}"),
                ..run(&[(M, 0.2)])
            })
            .collect();
        let refs = references(&baseline);
        let names: Vec<&str> = refs.iter().map(|r| r.timestamp.as_str()).collect();
        assert_eq!(
            names,
            [
                "run 1",
                "run 2",
                "run 3",
                "run 4",
                baseline.timestamp.as_str()
            ]
        );
        // A baseline written before the history existed is one reference run.
        baseline.latency_history.clear();
        assert_eq!(references(&baseline).len(), 1);
        // One without latency is none.
        baseline.endpoints.clear();
        assert!(references(&baseline).is_empty());
    }

    #[test]
    fn a_tiny_absolute_change_is_noise() {
        let refs = [run(&[("GET /x", 0.010)])];
        let cur = current(&[("GET /x", 0.030)]);
        assert!(!compare(&refs, &cur, Thresholds::default())[0].regression);
    }

    #[test]
    fn new_and_removed_endpoints_are_not_compared() {
        let refs = [run(&[("GET /old", 0.1)])];
        let cur = current(&[("GET /new", 0.1)]);
        assert!(compare(&refs, &cur, Thresholds::default()).is_empty());
        assert!(compare(&[], &cur, Thresholds::default()).is_empty());
    }
}
