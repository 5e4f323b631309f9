//! Ids of intents and module sets: looked up (and created if new) inside the write
//! transaction, and cached per handle after commit.
//!
//! The cache is correct across replicas because an id never changes once committed (these
//! rows are never updated or deleted): another replica can only add rows this handle has not
//! seen, and a name missing from the cache falls back to the lookup, which creates the row or
//! finds the one another replica committed (under the write lock, so never both). Ids created
//! by a transaction join the cache only after it commits, so a rolled-back id is never cached.

use crate::Fail;
use otc_policy::trajectory::ModuleSet;
use policy_store::PolicyError;
use postgres::Transaction;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock};

/// Ids of intents (by name) and module sets (by fingerprint) already committed.
#[derive(Debug, Default)]
pub(crate) struct IdCache(RwLock<Ids>);

/// Intent ids by name and module-set ids by fingerprint.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    pub intents: HashMap<String, i64>,
    pub sets: HashMap<i64, i64>,
}

impl IdCache {
    fn intent(&self, name: &str) -> Option<i64> {
        let ids = self.0.read().unwrap_or_else(PoisonError::into_inner);
        ids.intents.get(name).copied()
    }

    fn set(&self, fingerprint: i64) -> Option<i64> {
        let ids = self.0.read().unwrap_or_else(PoisonError::into_inner);
        ids.sets.get(&fingerprint).copied()
    }

    /// Adds the ids a committed transaction resolved.
    pub fn remember(&self, new: Ids) {
        if new.intents.is_empty() && new.sets.is_empty() {
            return;
        }
        let mut ids = self.0.write().unwrap_or_else(PoisonError::into_inner);
        ids.intents.extend(new.intents);
        ids.sets.extend(new.sets);
    }
}

/// The ids of `names`, creating missing intents; every id looked up lands in `new` (to be
/// remembered after commit). Two statements for all the misses, none when all are cached.
pub(crate) fn intents<'a>(
    cache: &IdCache,
    tx: &mut Transaction<'_>,
    new: &mut Ids,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, i64>, Fail> {
    let mut found = HashMap::new();
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    for name in names {
        match cache
            .intent(name)
            .or_else(|| new.intents.get(name).copied())
        {
            Some(id) => {
                found.insert(name.to_owned(), id);
            }
            None => {
                missing.insert(name);
            }
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let missing: Vec<&str> = missing.into_iter().collect();
    tx.execute(
        "INSERT INTO intent_classes (name) SELECT unnest($1::text[])
         ON CONFLICT (name) DO NOTHING",
        &[&missing],
    )?;
    for row in tx.query(
        "SELECT id, name FROM intent_classes WHERE name = ANY($1)",
        &[&missing],
    )? {
        let (id, name): (i64, String) = (row.get(0), row.get(1));
        new.intents.insert(name.clone(), id);
        found.insert(name, id);
    }
    Ok(found)
}

/// The ids of `sets` by fingerprint, creating missing sets; a fingerprint stored for another
/// set is [`PolicyError::FingerprintCollision`].
pub(crate) fn sets<'a>(
    cache: &IdCache,
    tx: &mut Transaction<'_>,
    new: &mut Ids,
    sets: impl IntoIterator<Item = &'a ModuleSet>,
) -> Result<HashMap<i64, i64>, Fail> {
    let mut found = HashMap::new();
    let mut missing: BTreeMap<i64, String> = BTreeMap::new();
    for set in sets {
        let fingerprint = set.fingerprint();
        match cache
            .set(fingerprint)
            .or_else(|| new.sets.get(&fingerprint).copied())
        {
            Some(id) => {
                found.insert(fingerprint, id);
            }
            None => {
                missing.insert(fingerprint, set.canonical());
            }
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let fingerprints: Vec<i64> = missing.keys().copied().collect();
    let canonical: Vec<&str> = missing.values().map(String::as_str).collect();
    tx.execute(
        "INSERT INTO module_sets (fingerprint, modules)
         SELECT * FROM unnest($1::bigint[], $2::text[])
         ON CONFLICT (fingerprint) DO NOTHING",
        &[&fingerprints, &canonical],
    )?;
    for row in tx.query(
        "SELECT id, fingerprint, modules FROM module_sets WHERE fingerprint = ANY($1)",
        &[&fingerprints],
    )? {
        let (id, fingerprint, stored): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        let wanted = &missing[&fingerprint];
        if stored != *wanted {
            return Err(PolicyError::FingerprintCollision {
                existing: stored,
                new: wanted.clone(),
            }
            .into());
        }
        new.sets.insert(fingerprint, id);
        found.insert(fingerprint, id);
    }
    Ok(found)
}
