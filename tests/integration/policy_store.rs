//! The SQLite policy store on real files: a process killed with SIGKILL in the middle of a long
//! ingest loses no trajectory whose ingest had returned and leaves a healthy file. (Reopen and
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
