//! Recommendations served from memory while the file has not changed.
//!
//! `recommend` (`GET /admin/otc/policy`, the read-only view of the policy that dashboards poll
//! and that an orchestrator which does not log decisions asks before each request) reads the
//! same few checkpoints again and again between writes. [`AdviceCache`] keeps the recommendations it computed, keyed by
//! intent and canonical module set, and drops all of them as soon as anything was committed to
//! the file, by this process's writer or by any other process (the `otc` CLI importing beside
//! the server, a second server on the same file): [`sqlite_kit::ChangeWatch`] tells.
//!
//! # Never stale
//!
//! Each lookup first asks the watch for the file's version. An entry is tagged with the version
//! asked for *before* its checkpoints were read, and is served only while the watch still
//! returns that version; a commit that returned before a lookup began changes the version that
//! lookup sees. So a recommendation never predates a write that was acknowledged before it was
//! asked for, in this process or another (with one exception SQLite's own page cache shares: a
//! WAL recovered after a checkpointer was killed mid-write; see sqlite-kit's `wal_index`). The
//! version check reads the WAL-index header from shared memory (tens of nanoseconds, no lock;
//! `sqlite_kit::ChangeWatch`), so a hit costs well under a primary-key `SELECT`. The price is that every commit empties the cache (the
//! header says *that* the file changed, not which rows), a decision's too (`POST
//! /admin/otc/decisions` logs each decision in its own commit): under a steady stream of
//! writes most lookups read the file as before; between writes they are answered from
//! memory. (Telling which intents a commit changed needs a counter the writers keep, one more
//! page written per single ingest: tried, see ARCHITECTURE.md, and not kept.) Only successful
//! recommendations are kept: an error (a corrupt checkpoint) is found again on every call
//! until `rebuild` repairs it. If the watch itself fails, the recommendation is read from the
//! file and not kept: the cache may not answer, but it never stops `recommend` from answering.
//!
//! The cache holds at most [`CAPACITY`] recommendations and is emptied when full.

use otc_policy::state::Recommendation;
use sqlite_kit::{ChangeWatch, KitError, Migration, Version};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Most recommendations kept at once (a few hundred bytes each).
pub const CAPACITY: usize = 10_000;

/// How often `recommend` was answered from memory and how often it read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdviceCacheStats {
    /// Answered from memory.
    pub hits: u64,
    /// Read from the file (nothing cached, or the file changed since).
    pub misses: u64,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct AdviceCache {
    watch: ChangeWatch,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The recommendations valid at `version`, by intent, then by canonical module names.
#[derive(Debug)]
struct Entries {
    version: Version,
    by_intent: HashMap<String, HashMap<Vec<String>, Recommendation>>,
    len: usize,
}

impl Entries {
    fn at(version: Version) -> Self {
        Self {
            version,
            by_intent: HashMap::new(),
            len: 0,
        }
    }

    fn get(&self, intent: &str, names: &[String]) -> Option<Recommendation> {
        self.by_intent.get(intent)?.get(names).cloned()
    }
}

/// What a lookup found: the version to tag a fresh read with (none when the watch failed:
/// the answer is then not kept), and the cached answer if valid.
pub(crate) struct Lookup {
    pub version: Option<Version>,
    pub hit: Option<Recommendation>,
}

impl AdviceCache {
    pub(crate) fn open(path: &Path, migrations: &[Migration]) -> Result<Self, KitError> {
        let watch = ChangeWatch::open(path, migrations)?;
        let version = watch.version()?;
        Ok(Self {
            watch,
            entries: Mutex::new(Entries::at(version)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The cached recommendation for (intent, canonical names) if the file has not changed
    /// since it was read; else none, and the cache is emptied if the file changed.
    pub(crate) fn lookup(&self, intent: &str, names: &[String]) -> Lookup {
        let Ok(version) = self.watch.version() else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup {
                version: None,
                hit: None,
            };
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.version != version {
            *entries = Entries::at(version);
        }
        let hit = entries.get(intent, names);
        drop(entries);
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Lookup {
            version: Some(version),
            hit,
        }
    }

    /// The cached recommendation if valid, counted as a hit; a miss is not counted (the
    /// caller goes on to `recommend`, whose lookup counts it).
    pub(crate) fn peek(&self, intent: &str, names: &[String]) -> Option<Recommendation> {
        let version = self.watch.version().ok()?;
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.version != version {
            return None;
        }
        let hit = entries.get(intent, names);
        drop(entries);
        if hit.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Keeps `recommendation`, read after the lookup that returned `version`, unless the file
    /// changed since (then it may already be out of date, and the next lookup reads again).
    pub(crate) fn keep(&self, version: Option<Version>, recommendation: &Recommendation) {
        let Some(version) = version else { return };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.version != version {
            return;
        }
        if entries.len >= CAPACITY {
            entries.by_intent.clear();
            entries.len = 0;
        }
        let previous = entries
            .by_intent
            .entry(recommendation.intent.clone())
            .or_default()
            .insert(recommendation.modules.clone(), recommendation.clone());
        if previous.is_none() {
            entries.len += 1;
        }
    }

    pub(crate) fn stats(&self) -> AdviceCacheStats {
        AdviceCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}
