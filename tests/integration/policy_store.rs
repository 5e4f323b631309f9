//! The SQLite policy store on real files: a process killed with SIGKILL in the middle of a long
//! ingest, from several threads at once so that single ingests share commits (group commit),
//! loses no trajectory whose ingest had returned and leaves a healthy file. (Reopen and
//! concurrent writers on two handles are `policy_store::conformance`, run on SQLite files by
//! `crates/policy-store-sqlite/tests/conformance.rs`.)

use otc_policy::PolicyConfig;
use otc_policy::synthetic::World;
use policy_store::PolicyBackend;
use policy_store_sqlite::SqlitePolicyStore;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const T0: i64 = 1_700_000_000_000;
/// Set in the child process of the crash test: the database it ingests into.
const CRASH_DB_ENV: &str = "OTC_POLICY_CRASH_CHILD_DB";

fn open(path: &Path) -> SqlitePolicyStore {
    SqlitePolicyStore::open(path, PolicyConfig::default()).unwrap()
}

fn stored_ids(store: &SqlitePolicyStore) -> HashSet<String> {
    let mut ids = HashSet::new();
    store
        .export(&mut |t| {
            ids.insert(t.request_id.clone());
            Ok(())
        })
        .unwrap();
    ids
}

/// Writer threads of the crash test's child: enough that single ingests queue behind each
/// other's commits and share them.
const CRASH_WRITERS: usize = 8;

/// The body of the crash test's child process; a no-op in a normal test run.
#[test]
fn policy_crash_child_ingests_until_killed() {
    let Some(path) = std::env::var_os(CRASH_DB_ENV) else {
        return;
    };
    let store = open(Path::new(&path));
    let world = World::standard(4);
    let all = world.trajectories(200_000, 5, "crash", T0);
    let chunks: Vec<_> = all.chunks(25).collect();
    std::thread::scope(|scope| {
        for writer in 0..CRASH_WRITERS {
            let (store, chunks) = (&store, &chunks);
            scope.spawn(move || {
                for (i, chunk) in chunks.iter().enumerate().skip(writer) {
                    if i % CRASH_WRITERS != writer {
                        continue;
                    }
                    // Mostly single ingests, some batches, so both paths are interrupted.
                    if i % 4 != 3 {
                        for t in *chunk {
                            store.ingest(t).unwrap();
                            returned(&t.request_id);
                        }
                    } else {
                        store.ingest_batch(chunk).unwrap();
                        for t in *chunk {
                            returned(&t.request_id);
                        }
                    }
                    let stats = store.group_stats();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "grouped {} {}", stats.jobs, stats.commits).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

/// Tells the parent that the ingest of `id` returned: one whole line, written at once.
fn returned(id: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ingested {id}").unwrap();
    out.flush().unwrap();
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
    // Single ingests committed in shared groups, and groups held by then (jobs, commits).
    let mut grouped = (0u64, 0u64);
    while returned.len() < 1500 {
        let line = lines
            .next()
            .expect("child ended before being killed")
            .unwrap();
        if let Some(id) = line.strip_prefix("ingested ") {
            returned.insert(id.to_owned());
        } else if let Some(stats) = line.strip_prefix("grouped ") {
            let (jobs, commits) = stats.split_once(' ').unwrap();
            grouped = (jobs.parse().unwrap(), commits.parse().unwrap());
        }
    }
    assert!(
        grouped.0 > grouped.1,
        "the child's single ingests shared commits before the kill: {grouped:?}"
    );
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
