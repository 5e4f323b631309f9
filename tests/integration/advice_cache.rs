//! The policy store's in-memory recommendations and a second process on the same file: a
//! server-side store keeps answering `recommend` from memory, and each trajectory another
//! process ingests shows in the server's very next answer (the cross-process half of
//! `crates/policy-store-sqlite/tests/advice_cache.rs`).

use otc_policy::PolicyConfig;
use otc_policy::synthetic::World;
use policy_store::PolicyBackend;
use policy_store_sqlite::SqlitePolicyStore;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T0: i64 = 1_700_000_000_000;
/// Set in the child process: the database it ingests into.
const CHILD_DB_ENV: &str = "OTC_ADVICE_CACHE_CHILD_DB";
const WRITES: usize = 40;

fn world() -> World {
    World::standard(2)
}

fn open(path: &Path) -> SqlitePolicyStore {
    SqlitePolicyStore::open(path, PolicyConfig::default()).unwrap()
}

/// The child: ingests one trajectory each time the parent says `next`, and says `ingested`
/// once the ingest returned; a no-op in a normal test run.
#[test]
fn advice_cache_child_ingests_in_lockstep() {
    let Some(path) = std::env::var_os(CHILD_DB_ENV) else {
        return;
    };
    let store = open(Path::new(&path));
    let log = world().trajectories(WRITES, 3, "child", T0);
    let mut commands = std::io::stdin().lock().lines();
    for trajectory in &log {
        assert_eq!(commands.next().unwrap().unwrap(), "next");
        store.ingest(trajectory).unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "ingested {}", trajectory.request_id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn another_process_ingest_shows_in_the_next_recommend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let server = open(&path);
    let world = world();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "advice_cache::advice_cache_child_ingests_in_lockstep",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    // Lines from the child through a channel, so a stuck child fails the test instead of
    // hanging it.
    let (lines, from_child) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut child = KillOnDrop(child);
    let mut changed = 0;
    for k in 0..WRITES {
        let before: Vec<_> = world
            .intents
            .iter()
            .map(|spec| {
                let first = server.recommend(&spec.name, &spec.module_names()).unwrap();
                // Asked twice so that the answer is in memory when the child writes.
                assert_eq!(
                    server.recommend(&spec.name, &spec.module_names()).unwrap(),
                    first
                );
                first
            })
            .collect();
        writeln!(to_child, "next").unwrap();
        to_child.flush().unwrap();
        let line = loop {
            let line = from_child
                .recv_timeout(Duration::from_secs(60))
                .expect("the child answers within a minute");
            // libtest's own "test ... " may start the child's first line.
            if let Some(at) = line.find("ingested ") {
                break line[at..].to_owned();
            }
        };
        let fresh = open(&path);
        for (spec, old) in world.intents.iter().zip(&before) {
            let served = server.recommend(&spec.name, &spec.module_names()).unwrap();
            let truth = fresh.recommend(&spec.name, &spec.module_names()).unwrap();
            assert_eq!(served, truth, "after the child's write {k} ({line})");
            changed += usize::from(served != *old);
        }
    }
    drop(to_child);
    assert!(child.0.wait().unwrap().success());
    assert!(
        changed >= WRITES / 2,
        "the child's writes changed the advice: {changed}"
    );
    assert!(server.advice_cache_stats().hits >= WRITES as u64);
}

/// Kills the child when the test fails before it ended.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
