//! The SQLite usage store on real files: a process killed with SIGKILL while eight threads
//! meter single events (sharing commits: group commit) loses no event whose `meter` had
//! returned, and leaves a healthy file whose roll-ups equal its log.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use usage_store::{MeterEvent, UsageBackend};
use usage_store_sqlite::SqliteUsageStore;

/// Set in the child process of the crash test: the database it meters into.
const CRASH_DB_ENV: &str = "OTC_USAGE_CRASH_CHILD_DB";
const CRASH_WRITERS: usize = 8;

/// The body of the crash test's child process; a no-op in a normal test run.
#[test]
fn usage_crash_child_meters_until_killed() {
    let Some(path) = std::env::var_os(CRASH_DB_ENV) else {
        return;
    };
    let store = SqliteUsageStore::open(Path::new(&path)).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    std::thread::scope(|scope| {
        for writer in 0..CRASH_WRITERS {
            let store = &store;
            scope.spawn(move || {
                for i in 0..1_000_000 {
                    let key = format!("key-{writer}-{i}");
                    store
                        .meter(&MeterEvent {
                            tenant: format!("tenant-{}", i % 3),
                            request_id: format!("req-{writer}-{}", i / 4),
                            module: "module".into(),
                            tool: "tool".into(),
                            run_units: 0.25,
                            timestamp_ms: now - 1000,
                            idempotency_key: key.clone(),
                        })
                        .unwrap();
                    let stats = store.group_stats();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "metered {key} {} {}", stats.jobs, stats.commits).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

#[test]
fn usage_sigkill_mid_metering_loses_nothing_that_returned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "usage_store::usage_crash_child_meters_until_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut returned = HashSet::new();
    // Events metered in shared commits by then, and the commits (jobs, commits).
    let mut grouped = (0u64, 0u64);
    let mut note = |line: &str, returned: &mut HashSet<String>| {
        if let Some(rest) = line.strip_prefix("metered ") {
            let mut parts = rest.split(' ');
            returned.insert(parts.next().unwrap().to_owned());
            grouped = (
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
            );
        }
    };
    while returned.len() < 3000 {
        let line = lines
            .next()
            .expect("child ended before being killed")
            .unwrap();
        note(&line, &mut returned);
    }
    // SIGKILL: no destructor, no rollback handler, no chance to finish the transaction.
    child.kill().unwrap();
    for line in lines.map_while(Result::ok) {
        note(&line, &mut returned);
    }
    child.wait().unwrap();
    assert!(
        grouped.0 > grouped.1,
        "the child's events shared commits before the kill: {grouped:?}"
    );

    // Opening recovers the WAL; the file is healthy and holds every returned event.
    drop(SqliteUsageStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let stored: HashSet<String> = conn
        .prepare("SELECT idempotency_key FROM meter_events")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lost: Vec<&String> = returned.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} returned events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let sum = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let raw = sum("SELECT SUM(micro_units) FROM meter_events");
    assert_eq!(sum("SELECT SUM(micro_units) FROM usage_hourly"), raw);
    assert_eq!(sum("SELECT SUM(micro_units) FROM usage_daily"), raw);
}
