//! Rebuild: replay the whole trajectory log, in ingest order, through the same pure update the
//! incremental ingest uses, and replace every checkpoint, in one transaction. Repairs corrupt
//! BLOBs and applies a changed config. Reward events stay as they are (append-only history of
//! what each trajectory was scored at ingest time).

use crate::{Fail, Store, ingest::save_checkpoint};
use otc_policy::state::{CombinationState, Observation};
use policy_store::PolicyError;
use policy_store::RebuildReport;
use std::collections::HashMap;

pub(super) fn rebuild(store: &Store) -> Result<RebuildReport, Fail> {
    let mut conn = store.writer();
    sqlite_kit::write_tx(&mut conn, |tx| {
        let intents: HashMap<i64, String> = tx
            .prepare("SELECT id, name FROM intent_classes")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let set_sizes: HashMap<i64, usize> = tx
            .prepare("SELECT id, modules FROM module_sets")?
            .query_map([], |row| {
                let modules: String = row.get(1)?;
                Ok((row.get(0)?, modules.split(',').count()))
            })?
            .collect::<Result<_, _>>()?;
        let mut states: HashMap<(i64, i64), CombinationState> = HashMap::new();
        let mut trajectories = 0u64;
        let mut stmt = tx.prepare(
            "SELECT request_id, intent_id, module_set_id, calls, run_units, correct, timestamp_ms,
                    served, policy_budget, order_explored, answered, answered_at
             FROM trajectory_log ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let intent_id: i64 = row.get(1)?;
            let set_id: i64 = row.get(2)?;
            let calls = row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
            let corrupt = |reason: &str| -> Result<PolicyError, rusqlite::Error> {
                Ok(PolicyError::CorruptTrajectory {
                    request_id: row.get(0)?,
                    reason: reason.to_owned(),
                })
            };
            let (Some(intent), Some(&size)) = (intents.get(&intent_id), set_sizes.get(&set_id))
            else {
                return Err(corrupt("unknown intent or module set")?.into());
            };
            let answered: Option<u8> = row.get(10)?;
            if calls
                .iter()
                .chain(answered.iter())
                .any(|&i| usize::from(i) >= size)
            {
                return Err(corrupt("a module index is outside its module set")?.into());
            }
            // Ingest stores only positions within the calls (validation); anything else was
            // written by hand, and folding it would give a checkpoint no ingest could.
            let answered_at = match row.get::<_, Option<i64>>(11)? {
                None => None,
                Some(at) => match u32::try_from(at) {
                    Ok(at) if at as usize <= calls.len() => Some(at),
                    _ => return Err(corrupt("answered_at is beyond its calls")?.into()),
                },
            };
            let state = states
                .entry((intent_id, set_id))
                .or_insert_with(|| CombinationState::new(size));
            let r_cost = store.config.cost.r_cost(intent, row.get(4)?)?;
            state.observe(
                &Observation {
                    calls,
                    correct: row.get(5)?,
                    r_cost,
                    timestamp_ms: row.get(6)?,
                    served: row.get(7)?,
                    policy_budget: row.get(8)?,
                    order_explored: row.get::<_, Option<bool>>(9)?.unwrap_or(false),
                    answered_by: answered,
                    answered_at,
                },
                &store.config,
            )?;
            trajectories += 1;
        }
        drop(rows);
        drop(stmt);
        tx.execute("DELETE FROM policy_checkpoints", [])?;
        for ((intent_id, set_id), state) in &states {
            save_checkpoint(store, tx, *intent_id, *set_id, state)?;
        }
        Ok(RebuildReport {
            trajectories,
            checkpoints: states.len() as u64,
        })
    })
}
