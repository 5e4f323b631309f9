//! Rebuild: replay the trajectory log, in log order, through the same pure update the
//! incremental ingest uses, starting from the base that retention folded away
//! (`checkpoint_base`, empty until a retention cut), and replace every checkpoint. Repairs
//! corrupt BLOBs and applies a changed config (to the kept log: the base stays as retention
//! folded it). Reward events stay as they are (append-only history of what each trajectory
//! was scored at ingest time).
//!
//! Two phases, so a long log does not hold the writer lock (and every replica's writes) for
//! the whole replay: first the log as one snapshot shows it, without the lock; then, under the
//! lock, only the rows logged since, and the write. Rows at or before the snapshot's last id
//! never change (the log is append-only), so the result is the replay of the whole log as of
//! the write, as if it had all run under the lock. Should retention have moved the base in
//! between, the second phase starts again from the new base.

use crate::ingest::save_checkpoints;
use crate::read::{decode_state, for_each_row};
use crate::{Fail, PostgresPolicyStore};
use otc_policy::state::{CombinationState, Observation};
use otc_policy::trajectory::ModuleSet;
use policy_store::{PolicyError, RebuildReport};
use postgres::Transaction;
use std::collections::HashMap;

/// Checkpoint states by (intent id, module set id).
pub(crate) type States = HashMap<(i64, i64), CombinationState>;

/// States folded from the base and the log up to a trajectory id.
pub(crate) struct Folded {
    pub states: States,
    /// The base's `through_id` they started from.
    pub base_through: i64,
    /// The last trajectory id folded (the base's when none).
    pub through: i64,
    /// Rows of the log folded (not counting the base).
    pub trajectories: u64,
}

pub(crate) fn rebuild(store: &PostgresPolicyStore) -> Result<RebuildReport, Fail> {
    let snapshot = store.read(|tx| {
        let mut folded = load_base(tx)?;
        fold_log(store, tx, &mut folded, None)?;
        Ok(folded)
    })?;
    store.write(|tx| {
        let mut folded = snapshot;
        let base_through: i64 = tx.query_one("SELECT through_id FROM log_base", &[])?.get(0);
        if base_through != folded.base_through {
            folded = load_base(tx)?;
        }
        fold_log(store, tx, &mut folded, None)?;
        tx.execute("DELETE FROM policy_checkpoints", &[])?;
        save_checkpoints(store, tx, &folded.states)?;
        Ok(RebuildReport {
            trajectories: folded.trajectories,
            checkpoints: folded.states.len() as u64,
        })
    })
}

/// The base: `checkpoint_base`'s states and `log_base.through_id`. A base BLOB that does not
/// decode is a `CorruptCheckpoint` that no rebuild can repair (its log is gone).
pub(crate) fn load_base(tx: &mut Transaction<'_>) -> Result<Folded, Fail> {
    let through: i64 = tx.query_one("SELECT through_id FROM log_base", &[])?.get(0);
    let mut states = States::new();
    for row in tx.query(
        "SELECT b.intent_id, b.module_set_id, i.name, m.modules, b.samples, b.correct_samples,
                b.arm_weights, b.updated_ms
         FROM checkpoint_base b
         JOIN intent_classes i ON i.id = b.intent_id
         JOIN module_sets m ON m.id = b.module_set_id",
        &[],
    )? {
        let state = decode_state(
            row.get(2),
            &ModuleSet::from_canonical(row.get(3)),
            row.get(4),
            row.get(5),
            row.get(6),
            row.get(7),
        )?;
        states.insert((row.get(0), row.get(1)), state);
    }
    Ok(Folded {
        states,
        base_through: through,
        through,
        trajectories: 0,
    })
}

/// Folds the log rows after `folded.through` (up to `until`, included, when given) into
/// `folded`, in log order.
pub(crate) fn fold_log(
    store: &PostgresPolicyStore,
    tx: &mut Transaction<'_>,
    folded: &mut Folded,
    until: Option<i64>,
) -> Result<(), Fail> {
    let intents: HashMap<i64, String> = tx
        .query("SELECT id, name FROM intent_classes", &[])?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let set_sizes: HashMap<i64, usize> = tx
        .query("SELECT id, modules FROM module_sets", &[])?
        .iter()
        .map(|row| (row.get(0), row.get::<_, &str>(1).split(',').count()))
        .collect();
    let until = until.unwrap_or(i64::MAX);
    let Folded {
        states,
        through,
        trajectories,
        ..
    } = folded;
    for_each_row(
        tx,
        &format!(
            "SELECT request_id, intent_id, module_set_id, calls, run_units, correct,
                    timestamp_ms, served, policy_budget, order_explored, answered, answered_at, id
             FROM trajectory_log WHERE id > {through} AND id <= {until} ORDER BY id"
        ),
        |row| {
            let intent_id: i64 = row.get(1);
            let set_id: i64 = row.get(2);
            let calls: &[u8] = row.get(3);
            let corrupt = |reason: &str| PolicyError::CorruptTrajectory {
                request_id: row.get(0),
                reason: reason.to_owned(),
            };
            let (Some(intent), Some(&size)) = (intents.get(&intent_id), set_sizes.get(&set_id))
            else {
                return Err(corrupt("unknown intent or module set").into());
            };
            let answered = match row.get::<_, Option<i16>>(10) {
                None => None,
                Some(i) => Some(
                    u8::try_from(i)
                        .map_err(|_| corrupt("a module index is outside its module set"))?,
                ),
            };
            if calls
                .iter()
                .chain(answered.iter())
                .any(|&i| usize::from(i) >= size)
            {
                return Err(corrupt("a module index is outside its module set").into());
            }
            // Ingest stores only positions within the calls (validation); anything else was
            // written by hand, and folding it would give a checkpoint no ingest could.
            let answered_at = match row.get::<_, Option<i64>>(11) {
                None => None,
                Some(at) => match u32::try_from(at) {
                    Ok(at) if at as usize <= calls.len() => Some(at),
                    _ => return Err(corrupt("answered_at is beyond its calls").into()),
                },
            };
            let budget = |i: usize| -> Result<Option<u32>, Fail> {
                row.get::<_, Option<i64>>(i)
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|_| corrupt("its served budget is out of range").into())
            };
            let state = states
                .entry((intent_id, set_id))
                .or_insert_with(|| CombinationState::new(size));
            let r_cost = store.config.cost.r_cost(intent, row.get(4))?;
            state.observe(
                &Observation {
                    calls,
                    correct: row.get(5),
                    r_cost,
                    timestamp_ms: row.get(6),
                    served: budget(7)?,
                    policy_budget: budget(8)?,
                    order_explored: row.get::<_, Option<bool>>(9).unwrap_or(false),
                    answered_by: answered,
                    answered_at,
                },
                &store.config,
            )?;
            *through = row.get(12);
            *trajectories += 1;
            Ok(())
        },
    )
}
