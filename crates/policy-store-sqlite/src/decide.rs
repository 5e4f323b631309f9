//! Decisions: choose what to serve one request and log it, in one `BEGIN IMMEDIATE`
//! transaction, so the decision id (and with it every random draw, see [`otc_policy::decision`]) is
//! assigned under the write lock and two processes sharing the file never give the same id.

use crate::ingest::{NewIds, intent_id, set_id};
use crate::{Fail, Store, read};
use otc_policy::advice::{Decision, decide as choose};
use otc_policy::state::RecommendationSource;
use otc_policy::trajectory::ModuleSet;
use policy_store::PolicyError;
use rusqlite::params;

/// Bits of `decisions.explored`.
const EXPLORED_UP: i64 = 1;
const EXPLORED_DOWN: i64 = 2;

pub(super) fn decide(store: &Store, intent: &str, modules: &[String]) -> Result<Decision, Fail> {
    otc_policy::trajectory::check_names(intent, modules)?;
    let set = ModuleSet::new(modules)?;
    let mut new_ids = NewIds::default();
    let mut conn = store.writer();
    let decision = sqlite_kit::write_tx(&mut conn, |tx| {
        let (exact, siblings) = read::context(tx, intent, &set)?;
        let intent_id = intent_id(store, tx, &mut new_ids, intent)?;
        let set_id = set_id(store, tx, &mut new_ids, &set)?;
        // AUTOINCREMENT's counter, not MAX(id): an id is never reused after pruning.
        let last: i64 = tx
            .prepare_cached(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'decisions'), 0)",
            )?
            .query_row([], |row| row.get(0))?;
        let id = last
            .checked_add(1)
            .ok_or(PolicyError::DecisionIdsExhausted)?;
        let now = jiff::Timestamp::now().as_millisecond();
        // Only a combination that is probing can be held back by a probe in flight.
        let probing = exact.as_ref().is_some_and(|s| s.budget.probing);
        let probe_pending = probing
            && tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM decisions d
                     WHERE d.intent_id = ?1 AND d.module_set_id = ?2 AND d.decided_ms >= ?3
                       AND d.explored & 2 != 0
                       AND NOT EXISTS (SELECT 1 FROM trajectory_log t WHERE t.decision_id = d.id))",
                )?
                .query_row(
                    params![
                        intent_id,
                        set_id,
                        now - otc_policy::advice::PROBE_PENDING_MS
                    ],
                    |row| row.get(0),
                )?;
        let decision = choose(
            intent,
            &read::as_context(&set, exact.as_ref(), &siblings),
            &store.config,
            u64::try_from(id).map_err(|_| PolicyError::DecisionIdsExhausted)?,
            now,
            probe_pending,
        );
        let explored = match decision.explored.budget {
            Some(otc_policy::budget::Direction::Up) => EXPLORED_UP,
            Some(otc_policy::budget::Direction::Down) => EXPLORED_DOWN,
            None => 0,
        } | if decision.explored.order {
            crate::ingest::EXPLORED_ORDER
        } else {
            0
        };
        let first = decision
            .order
            .first()
            .and_then(|m| set.index_of(m))
            .and_then(|i| i64::try_from(i).ok());
        let source = match decision.source {
            RecommendationSource::Exact => 0,
            RecommendationSource::IntentFallback => 1,
            RecommendationSource::Unseen => 2,
        };
        // The log this decision was taken from ends here (see schema version 5).
        let log_position: i64 = tx
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM trajectory_log")?
            .query_row([], |row| row.get(0))?;
        tx.prepare_cached(
            "INSERT INTO decisions (id, intent_id, module_set_id, budget, policy_budget,
                 explored, first_module, propensity, source, config_id, decided_ms, log_position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            id,
            intent_id,
            set_id,
            decision.budget,
            decision.policy_budget,
            explored,
            first,
            decision.propensity,
            source,
            store.config_id,
            decision.decided_ms,
            log_position,
        ])?;
        Ok::<_, Fail>(decision)
    })?;
    drop(conn);
    store.remember(new_ids.intents, new_ids.sets);
    Ok(decision)
}

/// Deletes decisions decided before `before_ms` that no trajectory refers to (requests that
/// never reported back); returns how many.
pub(super) fn prune(store: &Store, before_ms: i64) -> Result<u64, Fail> {
    let mut conn = store.writer();
    let deleted = sqlite_kit::write_tx(&mut conn, |tx| {
        tx.execute(
            "DELETE FROM decisions
             WHERE decided_ms < ?1
               AND NOT EXISTS (SELECT 1 FROM trajectory_log t WHERE t.decision_id = decisions.id)",
            [before_ms],
        )
    })?;
    Ok(deleted as u64)
}
