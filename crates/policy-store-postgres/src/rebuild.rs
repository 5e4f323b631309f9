//! Rebuild: replay the whole trajectory log, in log order, through the same pure update the
//! incremental ingest uses, and replace every checkpoint, in one transaction under the writer
//! lock (so no ingest of any replica can commit between the replay and the write). Repairs
//! corrupt BLOBs and applies a changed config. Reward events stay as they are (append-only
//! history of what each trajectory was scored at ingest time).

use crate::ingest::save_checkpoints;
use crate::read::for_each_row;
use crate::{Fail, PostgresPolicyStore};
use otc_policy::state::{CombinationState, Observation};
use policy_store::{PolicyError, RebuildReport};
use std::collections::HashMap;

pub(crate) fn rebuild(store: &PostgresPolicyStore) -> Result<RebuildReport, Fail> {
    store.write(|tx| {
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
        let mut states: HashMap<(i64, i64), CombinationState> = HashMap::new();
        let mut trajectories = 0u64;
        for_each_row(
            tx,
            "SELECT request_id, intent_id, module_set_id, calls, run_units, correct,
                    timestamp_ms, served, policy_budget, order_explored, answered, answered_at
             FROM trajectory_log ORDER BY id",
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
                trajectories += 1;
                Ok(())
            },
        )?;
        tx.execute("DELETE FROM policy_checkpoints", &[])?;
        save_checkpoints(store, tx, &states)?;
        Ok(RebuildReport {
            trajectories,
            checkpoints: states.len() as u64,
        })
    })
}
