//! The latency step: run the criterion endpoint bench with short settings, then read criterion's
//! own output files and compute per-request percentiles.
//!
//! Percentiles must be of individual requests, never of batch means. The bench samples in flat
//! mode, and verify asks for so short a measurement time that criterion runs exactly one
//! iteration (one request) per sample; every `iters` value in `sample.json` is then 1 and each
//! `times` entry is one request's duration. If any sample holds more than one iteration the
//! step fails rather than report a percentile of means.

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use super::process;
use super::snapshot::{EndpointLatency, LatencyMethod, round3};

/// The criterion version pinned in the workspace; its file layout is what this module reads.
pub const CRITERION_VERSION: &str = "0.8.2";

/// Name of the bench target that measures endpoints.
pub const BENCH_NAME: &str = "endpoints";

/// The criterion group whose function ids are endpoint keys (`GET /admin/health`).
pub const GROUP: &str = "endpoints";

/// Settings for one latency run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Requests (samples) per endpoint.
    pub requests: u64,
    /// Warm-up per endpoint, seconds.
    pub warm_up_s: f64,
}

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    full_id: String,
}

#[derive(Deserialize)]
struct SampleJson {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// Runs the bench in `package` and returns per-endpoint latency.
pub fn measure(
    root: &Path,
    target_dir: &Path,
    package: &str,
    settings: Settings,
) -> Result<(BTreeMap<String, EndpointLatency>, LatencyMethod)> {
    let started = SystemTime::now();
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root).args([
        "bench", "--quiet", "-p", package, "--bench", BENCH_NAME, "--",
    ]);
    cmd.args(["--warm-up-time", &settings.warm_up_s.to_string()]);
    // A measurement time far below one request's duration makes every sample one iteration.
    cmd.args([
        "--measurement-time",
        "0.000001",
        "--sample-size",
        &settings.requests.to_string(),
    ]);
    // Criterion bootstraps its own confidence intervals (100 000 resamples by default), which
    // verify does not read; at 1000 samples per endpoint that analysis alone took a minute.
    cmd.args(["--nresamples", "100"]);
    cmd.arg("--noplot");
    let done = process::run(cmd, Duration::from_secs(1800))?;
    if !done.status.is_some_and(|s| s.success()) {
        bail!(
            "the {BENCH_NAME} bench failed ({}):\n{}",
            done.describe_end(),
            process::tail(&done.stderr, 30)
        );
    }
    let endpoints = read_criterion_dir(&target_dir.join("criterion"), started)?;
    ensure!(
        !endpoints.is_empty(),
        "the {BENCH_NAME} bench wrote no criterion results under {}",
        target_dir.display()
    );
    let method = LatencyMethod {
        description: format!(
            "criterion flat sampling with one request per sample ({} samples per endpoint after {}s warm-up); \
             percentiles are nearest-rank over individual request durations",
            settings.requests, settings.warm_up_s
        ),
        criterion_version: CRITERION_VERSION.to_string(),
        bench: format!("{package}/{BENCH_NAME}"),
    };
    Ok((endpoints, method))
}

/// Reads every `new/benchmark.json` + `new/sample.json` pair written after `since`.
pub fn read_criterion_dir(
    dir: &Path,
    since: SystemTime,
) -> Result<BTreeMap<String, EndpointLatency>> {
    let mut out = BTreeMap::new();
    for bench_dir in find_new_dirs(dir)? {
        let meta_path = bench_dir.join("benchmark.json");
        let modified = std::fs::metadata(&meta_path)
            .and_then(|m| m.modified())
            .ok();
        if modified.is_none_or(|m| m < since) {
            continue;
        }
        let meta: BenchmarkJson = read_json(&meta_path)?;
        let samples: SampleJson = read_json(&bench_dir.join("sample.json"))?;
        let key = match (&meta.function_id, meta.group_id == GROUP) {
            (Some(function), true) => function.clone(),
            _ => meta.full_id.clone(),
        };
        let latency = per_request(&samples)
            .with_context(|| format!("criterion samples of {key:?} in {}", bench_dir.display()))?;
        out.insert(key, latency);
    }
    Ok(out)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is malformed (criterion {CRITERION_VERSION} layout expected)",
            path.display()
        )
    })
}

/// Every `.../new` directory below `dir` that holds a `benchmark.json`.
fn find_new_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").exists()
            {
                found.push(path);
            } else {
                stack.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Percentiles of individual requests; refuses samples that hold more than one iteration.
fn per_request(samples: &SampleJson) -> Result<EndpointLatency> {
    ensure!(
        samples.iters.len() == samples.times.len(),
        "iters and times differ in length"
    );
    ensure!(!samples.times.is_empty(), "no samples");
    if let Some(bad) = samples.iters.iter().find(|&&i| i != 1.0) {
        bail!(
            "a sample holds {bad} iterations; per-request percentiles need exactly one request per \
             sample (flat sampling with a tiny measurement time)"
        );
    }
    let mut ms: Vec<f64> = samples.times.iter().map(|ns| ns / 1e6).collect();
    ensure!(
        ms.iter().all(|v| v.is_finite() && *v >= 0.0),
        "a sample time is negative or not finite"
    );
    ms.sort_by(f64::total_cmp);
    Ok(EndpointLatency {
        p50_ms: round3(percentile(&ms, 50.0)),
        p95_ms: round3(percentile(&ms, 95.0)),
        p99_ms: round3(percentile(&ms, 99.0)),
        requests: ms.len() as u64,
    })
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `p`% of the values
/// at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.0);
    }

    #[test]
    fn samples_with_several_iterations_are_refused() {
        let s = SampleJson {
            iters: vec![1.0, 2.0],
            times: vec![1e5, 2e5],
        };
        assert!(
            per_request(&s)
                .unwrap_err()
                .to_string()
                .contains("2 iterations")
        );
    }

    #[test]
    fn criterion_files_are_read_and_converted_to_ms() {
        let dir = std::env::temp_dir().join(format!("xtask-crit-{}", std::process::id()));
        let new = dir.join("endpoints").join("GET _admin_health").join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"endpoints","function_id":"GET /admin/health","value_str":null,
                "throughput":null,"full_id":"endpoints/GET /admin/health",
                "directory_name":"endpoints/GET _admin_health","title":"endpoints/GET /admin/health"}"#,
        )
        .unwrap();
        let times: Vec<String> = (1..=100).map(|i| (i * 1000).to_string()).collect();
        let sample = format!(
            r#"{{"sampling_mode":"Flat","iters":[{}],"times":[{}]}}"#,
            vec!["1.0"; 100].join(","),
            times.join(",")
        );
        std::fs::write(new.join("sample.json"), sample).unwrap();
        let got = read_criterion_dir(&dir, SystemTime::UNIX_EPOCH).unwrap();
        let health = &got["GET /admin/health"];
        assert_eq!(
            (health.p50_ms, health.p95_ms, health.p99_ms, health.requests),
            (0.05, 0.095, 0.099, 100)
        );
        std::fs::write(new.join("sample.json"), "{not json").unwrap();
        let err = read_criterion_dir(&dir, SystemTime::UNIX_EPOCH).unwrap_err();
        assert!(format!("{err:#}").contains("malformed"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
