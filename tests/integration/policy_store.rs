//! The policy store on real files: everything survives close and reopen; a process killed with
//! SIGKILL in the middle of a long ingest loses no trajectory whose ingest had returned and
//! leaves a healthy file; concurrent writers (threads, and a second store on the same file as
//! another process would open it) lose nothing and never see SQLITE_BUSY.

use otc_policy::synthetic::World;
use otc_policy::{BatchReport, PolicyBackend, PolicyConfig, PolicyStore, Trajectory};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000;
/// Set in the child process of the crash test: the database it ingests into.
const CRASH_DB_ENV: &str = "OTC_POLICY_CRASH_CHILD_DB";

fn open(path: &Path) -> PolicyStore {
    PolicyStore::open(path, PolicyConfig::default()).unwrap()
}

fn stored_ids(store: &PolicyStore) -> HashSet<String> {
    let mut ids = HashSet::new();
    store
        .export(&mut |t| {
            ids.insert(t.request_id.clone());
            Ok(())
        })
        .unwrap();
    ids
}

#[test]
fn policy_reopen_after_close_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let world = World::standard(3);
    let all = world.trajectories(1500, 3, "r", T0);
    let (checkpoints, exported) = {
        let store = open(&path);
        store.ingest_batch(&all[..1000]).unwrap();
        for t in &all[1000..1100] {
            store.ingest(t).unwrap();
        }
        let mut exported = Vec::new();
        store
            .export(&mut |t| {
                exported.push(t.clone());
                Ok(())
            })
            .unwrap();
        (store.checkpoints().unwrap(), exported)
    };
    let store = open(&path);
    assert_eq!(store.checkpoints().unwrap(), checkpoints);
    let mut again = Vec::new();
    store
        .export(&mut |t| {
            again.push(t.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(again, exported);
    assert_eq!(again.len(), 1100);
    // Learning resumes where it stopped: the rest now equals a rebuild over everything.
    store.ingest_batch(&all[1100..]).unwrap();
    let incremental = store.checkpoints().unwrap();
    store.rebuild().unwrap();
    assert_eq!(store.checkpoints().unwrap(), incremental);
}

/// The body of the crash test's child process; a no-op in a normal test run.
#[test]
fn policy_crash_child_ingests_until_killed() {
    let Some(path) = std::env::var_os(CRASH_DB_ENV) else {
        return;
    };
    let store = open(Path::new(&path));
    let world = World::standard(4);
    let all = world.trajectories(200_000, 5, "crash", T0);
    let mut out = std::io::stdout().lock();
    for (i, chunk) in all.chunks(25).enumerate() {
        // Alternate single ingests and batches so both paths are interrupted.
        if i % 2 == 0 {
            for t in chunk {
                store.ingest(t).unwrap();
                writeln!(out, "ingested {}", t.request_id).unwrap();
            }
        } else {
            store.ingest_batch(chunk).unwrap();
            for t in chunk {
                writeln!(out, "ingested {}", t.request_id).unwrap();
            }
        }
        out.flush().unwrap();
    }
}

#[test]
fn policy_sigkill_mid_ingest_loses_nothing_that_returned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "policy_store::policy_crash_child_ingests_until_killed",
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
    while returned.len() < 1500 {
        let line = lines
            .next()
            .expect("child ended before being killed")
            .unwrap();
        if let Some(id) = line.strip_prefix("ingested ") {
            returned.insert(id.to_owned());
        }
    }
    // SIGKILL: no destructor, no rollback handler, no chance to finish the transaction.
    child.kill().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(id) = line.strip_prefix("ingested ") {
            returned.insert(id.to_owned());
        }
    }
    child.wait().unwrap();

    let store = open(&path);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let stored = stored_ids(&store);
    let lost: Vec<&String> = returned.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} returned ingests lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // The checkpoints agree with the log that survived, and learning can go on.
    let samples: u64 = store.checkpoints().unwrap().iter().map(|c| c.samples).sum();
    assert_eq!(samples, stored.len() as u64);
    let before = store.checkpoints().unwrap();
    store.rebuild().unwrap();
    assert_eq!(store.checkpoints().unwrap(), before);
}

#[test]
fn policy_concurrent_writers_lose_nothing_and_never_see_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let shared = Arc::new(open(&path));
    // A second store on the same file stands in for another process (e.g. the CLI).
    let other = Arc::new(open(&path));
    let world = World::standard(3);
    // Overlapping id ranges: every trajectory is sent by two writers.
    let all = Arc::new(world.trajectories(1200, 9, "c", T0));
    let threads: Vec<_> = (0..6)
        .map(|w| {
            let store = if w % 2 == 0 {
                shared.clone()
            } else {
                other.clone()
            };
            let all = all.clone();
            std::thread::spawn(move || {
                let start = (w / 2) * 400;
                let mine: Vec<Trajectory> = all[start..start + 400]
                    .iter()
                    .chain(&all[(start + 200) % 1200..(start + 200) % 1200 + 200])
                    .cloned()
                    .collect();
                let mut accepted = 0;
                for (i, chunk) in mine.chunks(30).enumerate() {
                    let report: BatchReport = if i % 3 == 0 {
                        let mut r = BatchReport {
                            accepted: 0,
                            duplicates: 0,
                            items: vec![],
                        };
                        for t in chunk {
                            match store.ingest(t).expect("no error, SQLITE_BUSY included") {
                                otc_policy::IngestOutcome::Accepted { .. } => r.accepted += 1,
                                otc_policy::IngestOutcome::Duplicate { .. } => r.duplicates += 1,
                            }
                        }
                        r
                    } else {
                        store
                            .ingest_batch(chunk)
                            .expect("no error, SQLITE_BUSY included")
                    };
                    accepted += report.accepted;
                }
                accepted
            })
        })
        .collect();
    let accepted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        accepted, 1200,
        "each distinct trajectory accepted exactly once"
    );
    assert_eq!(stored_ids(&shared).len(), 1200);
    let samples: u64 = shared
        .checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.samples)
        .sum();
    assert_eq!(samples, 1200);
    // Commit order is log order, so even interleaved writers match a rebuild.
    let incremental = shared.checkpoints().unwrap();
    other.rebuild().unwrap();
    assert_eq!(shared.checkpoints().unwrap(), incremental);
    assert_eq!(shared.integrity_check().unwrap(), "ok");
}
