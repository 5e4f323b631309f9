//! Decisions: choose what to serve one request and log it, in one transaction under the writer
//! lock. The id (and with it every random draw, see [`otc_policy::decision`]) is the next value
//! of `decision_counter`, taken and logged in that transaction: two replicas never give the
//! same id, a decision that fails gives its id back (as SQLite's AUTOINCREMENT does), and a
//! pruned decision's id is never given again.

use crate::ids::{self, Ids};
use crate::ingest::{EXPLORED_ORDER, log_head};
use crate::{Fail, PostgresPolicyStore, read};
use otc_policy::advice::{Decision, decide as choose};
use otc_policy::state::RecommendationSource;
use otc_policy::trajectory::ModuleSet;
use policy_store::PolicyError;

/// Bits of `decisions.explored`.
const EXPLORED_UP: i16 = 1;
const EXPLORED_DOWN: i16 = 2;

pub(crate) fn decide(
    store: &PostgresPolicyStore,
    intent: &str,
    modules: &[String],
) -> Result<Decision, Fail> {
    otc_policy::trajectory::check_names(intent, modules)?;
    let set = ModuleSet::new(modules)?;
    let mut new_ids = Ids::default();
    let now = store.now();
    let decision = store.write_logged(&["decisions"], now, |tx| {
        let (exact, siblings) = read::context(tx, intent, &set)?;
        let intent_id = ids::intents(&store.ids, tx, &mut new_ids, [intent])?[intent];
        let set_id = ids::sets(&store.ids, tx, &mut new_ids, [&set])?[&set.fingerprint()];
        let last: i64 = tx
            .query_one("SELECT last_id FROM decision_counter", &[])?
            .get(0);
        let id = last
            .checked_add(1)
            .ok_or(PolicyError::DecisionIdsExhausted)?;
        // Only a combination that is probing can be held back by a probe in flight.
        let probing = exact.as_ref().is_some_and(|s| s.budget.probing);
        let probe_pending = probing
            && tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM decisions d
                     WHERE d.intent_id = $1 AND d.module_set_id = $2 AND d.decided_ms >= $3
                       AND d.explored & 2 != 0
                       AND NOT EXISTS (SELECT 1 FROM trajectory_keys k WHERE k.decision_id = d.id))",
                    &[
                        &intent_id,
                        &set_id,
                        &(now - otc_policy::advice::PROBE_PENDING_MS),
                    ],
                )?
                .get::<_, bool>(0);
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
            EXPLORED_ORDER
        } else {
            0
        };
        let first = decision
            .order
            .first()
            .and_then(|m| set.index_of(m))
            .and_then(|i| i16::try_from(i).ok());
        let source: i16 = match decision.source {
            RecommendationSource::Exact => 0,
            RecommendationSource::IntentFallback => 1,
            RecommendationSource::Unseen => 2,
        };
        let log_position = log_head(tx)?.last_id;
        tx.execute(
            "WITH counted AS (UPDATE decision_counter SET last_id = $1)
             INSERT INTO decisions (id, intent_id, module_set_id, budget, policy_budget,
                 explored, first_module, propensity, source, config_id, decided_ms,
                 log_position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &id,
                &intent_id,
                &set_id,
                &i64::from(decision.budget),
                &i64::from(decision.policy_budget),
                &explored,
                &first,
                &decision.propensity,
                &source,
                &store.config_id,
                &decision.decided_ms,
                &log_position,
            ],
        )?;
        Ok(decision)
    })?;
    store.ids.remember(new_ids);
    Ok(decision)
}

/// Deletes decisions decided before `before_ms` that no trajectory refers to (requests that
/// never reported back); returns how many.
pub(crate) fn prune(store: &PostgresPolicyStore, before_ms: i64) -> Result<u64, Fail> {
    store.write(|tx| {
        Ok(tx.execute(
            "DELETE FROM decisions d
             WHERE d.decided_ms < $1
               AND NOT EXISTS (SELECT 1 FROM trajectory_keys k WHERE k.decision_id = d.id)",
            &[&before_ms],
        )?)
    })
}
