//! Retention: drop the months of the log before a cut, keeping what the policy needs.
//!
//! # The rule
//! [`PostgresPolicyStore::drop_log_before`] drops every monthly partition of `trajectory_log`,
//! `reward_events` and `decisions` whose whole month lies before the cut (a cut inside a month
//! keeps that month). What goes: the rows themselves: the export, the offline evaluation's
//! replay and `reward_event` by request id no longer see them, and decisions before the cut can
//! no longer be named by a trajectory (a late one is refused as an unknown decision). What
//! stays: every checkpoint (the policy answers exactly as before), and the fold of the dropped
//! rows as a *base* (`checkpoint_base`, `log_base`), from which a later rebuild starts, so
//! rebuild still equals the incremental checkpoints. A rebuild with a changed config applies it
//! to the kept log only: the base keeps the config it was folded with.
//!
//! Request ids of dropped rows stay known (a retry is a `Duplicate`, uncompared) until the end
//! of the run, which then forgets their keys in chunks; after that, a retry of a request older
//! than the retention window is logged as new. Retention windows are months, retries minutes.
//!
//! # How
//! The dropped rows are folded into the base from one snapshot without the writer lock (they
//! never change); then, under the lock, the base is written and the partitions dropped in one
//! transaction (both or neither), after checking that nothing moved in between; then the keys
//! are forgotten, 10,000 per transaction. Dropping a partition takes a brief exclusive lock on
//! its parent, which waits for the reads running at that moment.

use crate::rebuild::{Folded, States, fold_log, load_base};
use crate::{Fail, PostgresPolicyStore};
use policy_store::PolicyError;
use postgres::Transaction;
use postgres_kit::partitions;

/// How many keys of dropped rows one transaction forgets.
const FORGET_CHUNK: i64 = 10_000;

/// What [`PostgresPolicyStore::drop_log_before`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// The cut asked for (Unix ms).
    pub cut_ms: i64,
    /// Partitions dropped (of the log, reward events and decisions), by name.
    pub partitions_dropped: Vec<String>,
    /// Trajectories dropped (folded into the base first).
    pub trajectories_dropped: u64,
    /// Decisions dropped.
    pub decisions_dropped: u64,
    /// Request ids of dropped trajectories forgotten.
    pub keys_forgotten: u64,
    /// The last trajectory id the base now holds (0: nothing ever dropped).
    pub base_through_id: i64,
}

/// Why retention refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A cut after the store's now would drop the month being written.
    #[error("the retention cut {cut_ms} is in the future (now {now_ms})")]
    CutInFuture {
        /// The cut asked for.
        cut_ms: i64,
        /// The store's clock.
        now_ms: i64,
    },
    /// A kept row precedes a row to drop in the log order: the fold of the dropped rows would
    /// not be a prefix of the log. Only a hand-written row can do that (the store keeps
    /// `logged_ms` monotone with the ids).
    #[error(
        "trajectory {kept_id} (kept) precedes trajectory {dropped_id} (before the cut) in the log; refusing to drop out of order"
    )]
    OutOfOrder {
        /// The last id before the cut.
        dropped_id: i64,
        /// The first id after it.
        kept_id: i64,
    },
    /// The store failed (a corrupt base or log row included).
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

impl From<Fail> for RetentionError {
    fn from(fail: Fail) -> Self {
        Self::Policy(fail.0)
    }
}

/// What phase one found: the rows to drop, folded.
struct Plan {
    /// Upper bound of the newest trajectory partition to drop (0: none).
    bound_ms: i64,
    folded: Folded,
}

impl PostgresPolicyStore {
    /// Drops the log's months before `cut_ms` (see the module docs of `retention` for the
    /// rule). Safe while this and other replicas ingest, decide and rebuild.
    pub fn drop_log_before(&self, cut_ms: i64) -> Result<RetentionReport, RetentionError> {
        let now_ms = self.now();
        if cut_ms > now_ms {
            return Err(RetentionError::CutInFuture { cut_ms, now_ms });
        }
        // Another retention run moving the base between the phases makes this one plan again.
        let mut attempts = 0;
        let (mut report, through) = loop {
            attempts += 1;
            let plan = self.read(|tx| plan(self, tx, cut_ms))??;
            match self.write(|tx| apply(self, tx, cut_ms, &plan))? {
                Some(report) => break (report, plan.folded.through),
                None if attempts < 3 => continue,
                None => {
                    return Err(PolicyError::Storage(
                        "the log base kept moving under the retention run (another run?)".into(),
                    )
                    .into());
                }
            }
        };
        self.months.forget();
        report.keys_forgotten = self.forget_keys(through)?;
        Ok(report)
    }

    /// Deletes the keys of trajectories up to `through`, a chunk per transaction.
    fn forget_keys(&self, through: i64) -> Result<u64, Fail> {
        let mut forgotten = 0;
        loop {
            let mut conn = self.pool.get()?;
            let n = conn.execute(
                "DELETE FROM trajectory_keys WHERE trajectory_id IN (
                     SELECT trajectory_id FROM trajectory_keys WHERE trajectory_id <= $1
                     ORDER BY trajectory_id LIMIT $2)",
                &[&through, &FORGET_CHUNK],
            )?;
            forgotten += n;
            if n < FORGET_CHUNK as u64 {
                return Ok(forgotten);
            }
        }
    }
}

/// Phase one, on a snapshot: which trajectory partitions go, and the base folded through
/// their last row. The inner error is a refusal.
fn plan(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    cut_ms: i64,
) -> Result<Result<Plan, RetentionError>, Fail> {
    let bound_ms = partitions::list(tx, "trajectory_log")?
        .iter()
        .filter(|p| p.to_ms <= cut_ms)
        .map(|p| p.to_ms)
        .max()
        .unwrap_or(0);
    let mut folded = load_base(tx)?;
    let (last_dropped, first_kept) = edges(tx, bound_ms)?;
    if let (Some(dropped_id), Some(kept_id)) = (last_dropped, first_kept)
        && kept_id < dropped_id
    {
        return Ok(Err(RetentionError::OutOfOrder {
            dropped_id,
            kept_id,
        }));
    }
    if let Some(last) = last_dropped {
        fold_log(store, tx, &mut folded, Some(last))?;
    }
    Ok(Ok(Plan { bound_ms, folded }))
}

/// The last id logged before `bound_ms` and the first logged at or after it.
fn edges(tx: &mut Transaction<'_>, bound_ms: i64) -> Result<(Option<i64>, Option<i64>), Fail> {
    let row = tx.query_one(
        "SELECT (SELECT max(id) FROM trajectory_log WHERE logged_ms < $1),
                (SELECT min(id) FROM trajectory_log WHERE logged_ms >= $1)",
        &[&bound_ms],
    )?;
    Ok((row.get(0), row.get(1)))
}

/// Phase two, under the writer lock: if the base and the rows before the bound are as phase
/// one saw them, write the base and drop the partitions; `None` if something moved.
fn apply(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    cut_ms: i64,
    plan: &Plan,
) -> Result<Option<RetentionReport>, Fail> {
    let base_through: i64 = tx.query_one("SELECT through_id FROM log_base", &[])?.get(0);
    let (last_dropped, _) = edges(tx, plan.bound_ms)?;
    if base_through != plan.folded.base_through
        || last_dropped.unwrap_or(plan.folded.base_through) != plan.folded.through
    {
        return Ok(None);
    }
    let decisions_bound = decision_bound(tx, cut_ms)?;
    let decisions_dropped: i64 = tx
        .query_one(
            "SELECT count(*) FROM decisions WHERE decided_ms < $1",
            &[&decisions_bound],
        )?
        .get(0);
    let mut dropped = Vec::new();
    if plan.bound_ms > 0 {
        tx.execute("DELETE FROM checkpoint_base", &[])?;
        save_base(tx, &plan.folded.states)?;
        tx.execute(
            "UPDATE log_base SET through_id = $1, cut_ms = GREATEST(cut_ms, $2), config_id = $3",
            &[&plan.folded.through, &plan.bound_ms, &store.config_id],
        )?;
        for parent in ["reward_events", "trajectory_log"] {
            dropped.extend(partitions::drop_before(tx, parent, plan.bound_ms)?);
        }
    }
    dropped.extend(partitions::drop_before(tx, "decisions", cut_ms)?);
    Ok(Some(RetentionReport {
        cut_ms,
        partitions_dropped: dropped.into_iter().map(|p| p.name).collect(),
        trajectories_dropped: plan.folded.trajectories,
        decisions_dropped: u64::try_from(decisions_dropped).unwrap_or(0),
        keys_forgotten: 0,
        base_through_id: plan.folded.through,
    }))
}

/// The upper bound of the newest decisions partition wholly before `cut_ms` (0: none).
fn decision_bound(tx: &mut Transaction<'_>, cut_ms: i64) -> Result<i64, Fail> {
    Ok(partitions::list(tx, "decisions")?
        .iter()
        .filter(|p| p.to_ms <= cut_ms)
        .map(|p| p.to_ms)
        .max()
        .unwrap_or(0))
}

/// Writes `states` as the base: what a checkpoint row holds but the parts derived from the
/// config at read time (optimal n, confidence), which the rebuild recomputes.
fn save_base(tx: &mut Transaction<'_>, states: &States) -> Result<(), Fail> {
    let mut intent_id = Vec::with_capacity(states.len());
    let mut set_id = Vec::with_capacity(states.len());
    let mut samples = Vec::with_capacity(states.len());
    let mut correct = Vec::with_capacity(states.len());
    let mut weights = Vec::with_capacity(states.len());
    let mut updated = Vec::with_capacity(states.len());
    for ((intent, set), state) in states {
        intent_id.push(*intent);
        set_id.push(*set);
        samples.push(i64::try_from(state.samples).unwrap_or(i64::MAX));
        correct.push(i64::try_from(state.correct_samples).unwrap_or(i64::MAX));
        weights.push(otc_policy::blob::encode(
            &state.arms,
            &state.hist,
            &state.budget,
        ));
        updated.push(state.updated_ms);
    }
    tx.execute(
        "INSERT INTO checkpoint_base (intent_id, module_set_id, samples, correct_samples,
             arm_weights, updated_ms)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
             $5::bytea[], $6::bigint[])",
        &[&intent_id, &set_id, &samples, &correct, &weights, &updated],
    )?;
    Ok(())
}
