//! Tests of [`ChangeWatch`]: every commit, by any connection, changes the version, and nothing
//! else needs to; on the WAL-index header (the fast path) and on `data_version` (the fallback)
//! alike.

use super::*;

const M: &[Migration] = &[Migration {
    version: 1,
    sql: "CREATE TABLE t (x INTEGER);",
}];

/// Both kinds of watch on `path`: the fast path, and one held to `data_version`.
fn watches(path: &Path) -> [ChangeWatch; 2] {
    let fast = ChangeWatch::open(path, M).unwrap();
    assert!(
        fast.reads_wal_index(),
        "a WAL file on the unix VFS maps its index"
    );
    let mut slow = ChangeWatch::open(path, M).unwrap();
    slow.wal_index = None;
    [fast, slow]
}

/// `watch`'s version, asserting it is of the kind the watch is meant to give: a watch with a
/// mapping that silently fell back would pass every other check.
fn version(watch: &ChangeWatch) -> Version {
    let version = watch.version().unwrap();
    let from_header = matches!(version, Version(Kind::WalIndex(_)));
    assert_eq!(from_header, watch.wal_index.is_some(), "{version:?}");
    version
}

#[test]
fn every_commit_by_any_connection_changes_the_version_and_reads_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let writer = open(&path, M).unwrap();
    let other = open(&path, M).unwrap();
    for watch in watches(&path) {
        let v0 = version(&watch);
        assert_eq!(version(&watch), v0, "nothing committed");
        writer.execute("INSERT INTO t (x) VALUES (1)", []).unwrap();
        let v1 = version(&watch);
        assert_ne!(v1, v0, "the writer's commit");
        let _: i64 = other
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version(&watch), v1, "a read commits nothing");
        other.execute("INSERT INTO t (x) VALUES (2)", []).unwrap();
        let v2 = version(&watch);
        assert_ne!(v2, v1, "another connection's commit");
        writer
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t (x) VALUES (3); ROLLBACK;")
            .unwrap();
        assert_eq!(version(&watch), v2, "a rolled-back transaction");
    }
}

#[test]
fn another_process_commit_changes_the_version() {
    // A second `Connection` opened on the file is another process as far as SQLite's
    // locking goes (no shared cache); the subprocess case runs in the policy store's tests.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    drop(open(&path, M).unwrap());
    for watch in watches(&path) {
        let v0 = version(&watch);
        let conn = Connection::open(&path).unwrap();
        conn.execute("INSERT INTO t (x) VALUES (1)", []).unwrap();
        drop(conn);
        assert_ne!(version(&watch), v0);
    }
}

/// A WAL that starts over after a full checkpoint counts frames from zero again: the same
/// commit then gives the same frame count, and only the new salts tell it apart.
#[test]
fn a_commit_after_the_wal_starts_over_changes_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let writer = open(&path, M).unwrap();
    let [watch, _] = watches(&path);
    let truncate = || {
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    };
    truncate();
    writer.execute("INSERT INTO t (x) VALUES (1)", []).unwrap();
    let mut before = version(&watch);
    for round in 0..5 {
        truncate();
        // The same one-page commit on an empty WAL: the same frame count as before.
        writer.execute("UPDATE t SET x = 1", []).unwrap();
        let after = version(&watch);
        assert_ne!(after, before, "round {round}");
        before = after;
    }
}

/// Commits on another thread, each handed over through a channel (so the commit happens
/// before the check), interleaved with checks that follow no commit: the version changes
/// exactly when something was committed, and agrees with `data_version` on every step.
#[test]
fn the_fast_path_agrees_with_data_version_commit_by_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    drop(open(&path, M).unwrap());
    let [fast, slow] = watches(&path);
    let (commit, committed) = std::sync::mpsc::sync_channel::<bool>(0);
    let (done, acknowledged) = std::sync::mpsc::sync_channel::<()>(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let conn = open(&path, M).unwrap();
            for write in committed {
                if write {
                    conn.execute("INSERT INTO t (x) VALUES (1)", []).unwrap();
                } else {
                    let _: i64 = conn
                        .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                        .unwrap();
                }
                done.send(()).unwrap();
            }
        });
        let (mut was_fast, mut was_slow) = (version(&fast), version(&slow));
        for step in 0..600u32 {
            // A fixed pattern that mixes runs of writes and of reads.
            let write = (step * 7 + step / 5) % 3 != 0;
            commit.send(write).unwrap();
            acknowledged.recv().unwrap();
            let (now_fast, now_slow) = (version(&fast), version(&slow));
            assert_eq!(now_fast != was_fast, write, "step {step}: fast path");
            assert_eq!(now_slow != was_slow, write, "step {step}: data_version");
            (was_fast, was_slow) = (now_fast, now_slow);
        }
        drop(commit);
    });
}

/// What another connection does between two checks.
#[derive(Debug, Clone)]
enum Step {
    /// Commits an insert (on the long-lived writer, or a connection opened for it).
    Insert { fresh: bool },
    /// Updates every row: the same pages again (a commit if there is a row).
    Update,
    /// Writes, then rolls back.
    RolledBack,
    /// Reads.
    Read,
    /// Checkpoints in this mode: PASSIVE, FULL, RESTART or TRUNCATE.
    Checkpoint(&'static str),
    /// Closes the long-lived writer and opens it again.
    Reopen,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => any::<bool>().prop_map(|fresh| Step::Insert { fresh }),
        2 => Just(Step::Update),
        1 => Just(Step::RolledBack),
        2 => Just(Step::Read),
        2 => prop::sample::select(vec!["PASSIVE", "FULL", "RESTART", "TRUNCATE"])
            .prop_map(Step::Checkpoint),
        1 => Just(Step::Reopen),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any sequence of commits, rollbacks, reads, checkpoints of every mode and reconnects by
    /// other connections: both kinds of version change on every commit and never on a read or
    /// a rollback, and the fast path whenever `data_version` does (a checkpoint that starts the
    /// WAL over may move either, which only costs a cache a re-read).
    #[test]
    fn the_fast_path_changes_whenever_data_version_does(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let mut writer = Some(open(&path, M).unwrap());
        let [fast, slow] = watches(&path);
        let (mut was_fast, mut was_slow) = (version(&fast), version(&slow));
        for (k, step) in steps.iter().enumerate() {
            let conn = writer.as_ref().unwrap();
            let committed = match step {
                Step::Insert { fresh: false } => {
                    conn.execute("INSERT INTO t (x) VALUES (?1)", [k as i64]).unwrap();
                    true
                }
                Step::Insert { fresh: true } => {
                    let other = open(&path, M).unwrap();
                    other.execute("INSERT INTO t (x) VALUES (?1)", [k as i64]).unwrap();
                    true
                }
                // An update of no row writes no page: nothing is committed.
                Step::Update => conn.execute("UPDATE t SET x = x + 1", []).unwrap() > 0,
                Step::RolledBack => {
                    conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO t (x) VALUES (0); ROLLBACK;")
                        .unwrap();
                    false
                }
                Step::Read => {
                    let _: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
                    false
                }
                Step::Checkpoint(mode) => {
                    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
                        .unwrap();
                    false
                }
                Step::Reopen => {
                    drop(writer.take());
                    writer = Some(open(&path, M).unwrap());
                    false
                }
            };
            let (now_fast, now_slow) = (version(&fast), version(&slow));
            let (fast_moved, slow_moved) = (now_fast != was_fast, now_slow != was_slow);
            if committed {
                proptest::prop_assert!(fast_moved, "step {} {:?}: a commit the fast path missed", k, step);
                proptest::prop_assert!(slow_moved, "step {} {:?}: data_version", k, step);
            }
            if matches!(step, Step::Read | Step::RolledBack) {
                proptest::prop_assert!(!fast_moved && !slow_moved, "step {} {:?}: moved without a change", k, step);
            }
            // A checkpoint may move either (it rewrites the WAL index); then both move.
            proptest::prop_assert!(!slow_moved || fast_moved, "step {} {:?}: data_version alone moved", k, step);
            (was_fast, was_slow) = (now_fast, now_slow);
        }
    }
}

/// A header the watch cannot trust (here torn: the two copies differ) gives way to
/// `data_version`, which still sees every commit; a trusted one is read again once it is.
#[test]
fn an_untrusted_header_gives_way_to_data_version() {
    use std::sync::atomic::AtomicU32;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let writer = open(&path, M).unwrap();
    let [mut watch, _] = watches(&path);
    let good = watch.wal_index.as_ref().unwrap().header().unwrap();
    let mut torn = good;
    torn[2] = torn[2].wrapping_add(1);
    let words: Vec<AtomicU32> = good.into_iter().chain(torn).map(AtomicU32::new).collect();
    watch.wal_index = Some(WalIndex::at(
        Box::leak(words.into_boxed_slice()),
        &watch.conn,
    ));
    assert!(!watch.reads_wal_index());
    let before = watch.version().unwrap();
    assert!(
        matches!(before, Version(Kind::DataVersion(_))),
        "{before:?}"
    );
    writer.execute("INSERT INTO t (x) VALUES (1)", []).unwrap();
    let after = watch.version().unwrap();
    assert!(matches!(after, Version(Kind::DataVersion(_))));
    assert_ne!(after, before, "the fallback sees the commit");
    assert_eq!(watch.version().unwrap(), after);
}
