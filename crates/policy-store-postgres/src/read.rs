//! Reads: recommend (with its fallback), checkpoint pages, reward events, the export of the
//! log; and the context a decision is made from ([`context`]). Each read of several statements
//! runs on one snapshot (`postgres_kit::read_tx`).
//!
//! Where advice comes from and how corrupt checkpoints are treated is the SQLite backend's rule
//! (`policy-store-sqlite/src/read.rs` says why): the exact checkpoint, a corrupt one an error;
//! else readable siblings, corrupt ones skipped unless none is readable; else the cold start.

use crate::{Fail, PostgresPolicyStore};
use otc_policy::advice::Context;
use otc_policy::blob;
use otc_policy::config::PolicyConfig;
use otc_policy::decision::Sibling;
use otc_policy::reward::Score;
use otc_policy::state::{Checkpoint, CombinationState, Recommendation};
use otc_policy::trajectory::{ModuleSet, Trajectory};
use policy_store::{CheckpointPage, PolicyError, RewardEvent};
use postgres::types::Type;
use postgres::{GenericClient, Transaction};

/// The columns [`decode_row`] reads, in its order.
const ROW_COLUMNS: &str = "m.modules, c.samples, c.correct_samples, c.arm_weights, c.updated_ms";

/// Rows fetched at a time when a read streams the log.
pub(crate) const FETCH_ROWS: i32 = 1000;

/// A stored checkpoint row, decoded.
pub(crate) struct Row {
    pub modules: ModuleSet,
    pub state: CombinationState,
}

/// A checkpoint's stored columns as a state; a BLOB that does not decode (or a negative count)
/// is [`PolicyError::CorruptCheckpoint`] naming the combination.
pub(crate) fn decode_state(
    intent: &str,
    modules: &ModuleSet,
    samples: i64,
    correct_samples: i64,
    bytes: &[u8],
    updated_ms: i64,
) -> Result<CombinationState, PolicyError> {
    let corrupt = |reason: String| PolicyError::CorruptCheckpoint {
        intent: intent.to_owned(),
        modules: modules.canonical(),
        reason,
    };
    let decoded = blob::decode(bytes, modules.names().len()).map_err(|e| corrupt(e.to_string()))?;
    let count = |n: i64| u64::try_from(n).map_err(|e| corrupt(e.to_string()));
    Ok(CombinationState {
        samples: count(samples)?,
        correct_samples: count(correct_samples)?,
        hist: decoded.hist,
        arms: decoded.arms,
        budget: decoded.budget,
        updated_ms,
    })
}

/// A row of [`ROW_COLUMNS`], decoded.
fn decode_row(intent: &str, row: &postgres::Row) -> Result<Row, Fail> {
    let modules = ModuleSet::from_canonical(row.get(0));
    let state = decode_state(
        intent,
        &modules,
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
    )?;
    Ok(Row { modules, state })
}

/// The checkpoint of the asked combination and, when it is thin (too few pulls to stand on
/// its own), its intent's other checkpoints to borrow from. One statement when the exact
/// checkpoint is enough (the common case: one round trip, no transaction); else a second
/// statement reads every checkpoint of the intent, the exact one included, so the exact state
/// and its siblings come from one snapshot. Both statements are sent with their parameter
/// types (`query_typed`), so neither needs a separate prepare round trip.
pub(crate) fn context(
    db: &mut impl GenericClient,
    intent: &str,
    set: &ModuleSet,
) -> Result<(Option<CombinationState>, Vec<Row>), Fail> {
    let exact = db
        .query_typed_opt(
            &format!(
                "SELECT {ROW_COLUMNS}
                 FROM policy_checkpoints c JOIN module_sets m ON m.id = c.module_set_id
                 WHERE c.intent_id = (SELECT id FROM intent_classes WHERE name = $1)
                   AND c.module_set_id = (SELECT id FROM module_sets WHERE fingerprint = $2)"
            ),
            &[(&intent, Type::TEXT), (&set.fingerprint(), Type::INT8)],
        )?
        .map(|row| decode_row(intent, &row))
        .transpose()?
        .filter(|row| row.modules == *set);
    let thin = exact
        .as_ref()
        .is_none_or(|row| row.state.arms.total_pulls() < otc_policy::advice::LOAN_ARMS_UNTIL);
    if !thin {
        return Ok((exact.map(|row| row.state), Vec::new()));
    }
    let (exact, siblings): (Vec<Row>, Vec<Row>) = intent_rows(db, intent)?
        .into_iter()
        .partition(|row| row.modules == *set);
    Ok((exact.into_iter().next().map(|row| row.state), siblings))
}

/// Borrows the loaded states as an advice context.
pub(crate) fn as_context<'a>(
    set: &'a ModuleSet,
    exact: Option<&'a CombinationState>,
    siblings: &'a [Row],
) -> Context<'a> {
    Context {
        modules: set.names(),
        exact,
        siblings: siblings
            .iter()
            .map(|row| Sibling {
                modules: row.modules.names(),
                budget: &row.state.budget,
                arms: &row.state.arms,
            })
            .collect(),
    }
}

pub(crate) fn recommend(
    store: &PostgresPolicyStore,
    intent: &str,
    modules: &[String],
) -> Result<Recommendation, Fail> {
    otc_policy::trajectory::check_names(intent, modules)?;
    let set = ModuleSet::new(modules)?;
    let mut conn = store.pool.get()?;
    // The version first: the answer is then at least as new as its tag (`memory.rs`).
    // No version row (a hand-edited schema): nothing is held, the answer is still given.
    let version: Option<i64> = conn
        .query_typed_opt(crate::memory::READ_VERSION, &[])?
        .map(|row| row.get(0));
    let (exact, siblings) = context(&mut *conn, intent, &set)?;
    drop(conn);
    let answer = otc_policy::advice::recommend(
        intent,
        &as_context(&set, exact.as_ref(), &siblings),
        &store.config,
    );
    if let Some(version) = version {
        store.memory.hold(intent, modules, version, &answer);
    }
    Ok(answer)
}

/// The intent's readable checkpoints; an error only when it has some and none is readable.
fn intent_rows(db: &mut impl GenericClient, intent: &str) -> Result<Vec<Row>, Fail> {
    let rows = db.query_typed(
        &format!(
            "SELECT {ROW_COLUMNS}
             FROM policy_checkpoints c JOIN module_sets m ON m.id = c.module_set_id
             WHERE c.intent_id = (SELECT id FROM intent_classes WHERE name = $1)
             ORDER BY m.modules"
        ),
        &[(&intent, Type::TEXT)],
    )?;
    let mut out = Vec::new();
    let mut first_corrupt = None;
    for row in &rows {
        match decode_row(intent, row) {
            Ok(decoded) => out.push(decoded),
            Err(Fail(err @ PolicyError::CorruptCheckpoint { .. })) => {
                first_corrupt.get_or_insert(err);
            }
            Err(other) => return Err(other),
        }
    }
    match first_corrupt {
        Some(err) if out.is_empty() => Err(Fail(err)),
        _ => Ok(out),
    }
}

pub(crate) fn reward_event(
    store: &PostgresPolicyStore,
    request_id: &str,
) -> Result<Option<RewardEvent>, Fail> {
    let mut conn = store.pool.get()?;
    let row = conn.query_opt(
        "SELECT length(t.calls), e.n_used, e.r_tool, e.r_correctness, e.r_cost, e.composite,
                c.config_json
         FROM trajectory_keys k
         JOIN trajectory_log t ON t.id = k.trajectory_id AND t.logged_ms = k.logged_ms
         JOIN reward_events e ON e.trajectory_id = t.id AND e.logged_ms = t.logged_ms
         JOIN reward_configs c ON c.id = e.config_id
         WHERE k.request_id = $1",
        &[&request_id],
    )?;
    drop(conn);
    let Some(row) = row else {
        return Ok(None);
    };
    let corrupt = |reason: String| PolicyError::CorruptTrajectory {
        request_id: request_id.to_owned(),
        reason,
    };
    let calls = u32::try_from(row.get::<_, i32>(0)).map_err(|e| corrupt(e.to_string()))?;
    let policy_config: PolicyConfig = serde_json::from_str(row.get(6))
        .map_err(|e| corrupt(format!("its reward config does not parse: {e}")))?;
    Ok(Some(RewardEvent {
        request_id: request_id.to_owned(),
        score: Score {
            calls,
            optimal: row.get(1),
            r_tool: row.get(2),
            r_correctness: row.get(3),
            r_cost: row.get(4),
            composite: row.get(5),
            config: policy_config.reward,
        },
        policy_config,
    }))
}

/// A page of checkpoints, ordered by intent then canonical module set (byte order, see the
/// schema's collations): `LIMIT`/`OFFSET` in SQL, so only the page is read and decoded; the
/// total comes from the same snapshot.
pub(crate) fn checkpoint_page(
    store: &PostgresPolicyStore,
    intent: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<CheckpointPage, Fail> {
    // PostgreSQL's integers are i64; a larger offset or limit means "all of them" all the same.
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (total, rows) = store.read(|tx| {
        let total: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM policy_checkpoints c
                 WHERE $1::text IS NULL
                    OR c.intent_id = (SELECT id FROM intent_classes WHERE name = $1)",
                &[&intent],
            )?
            .get(0);
        let rows = tx.query(
            &format!(
                "SELECT {ROW_COLUMNS}, i.name
                 FROM policy_checkpoints c
                 JOIN module_sets m ON m.id = c.module_set_id
                 JOIN intent_classes i ON i.id = c.intent_id
                 WHERE $1::text IS NULL OR i.name = $1
                 ORDER BY i.name, m.modules
                 LIMIT $2 OFFSET $3"
            ),
            &[&intent, &limit, &offset],
        )?;
        Ok((total, rows))
    })?;
    let mut checkpoints = Vec::with_capacity(rows.len());
    for row in &rows {
        let intent: String = row.get(5);
        let decoded = decode_row(&intent, row)?;
        checkpoints.push(checkpoint_view(intent, &decoded, &store.config));
    }
    Ok(CheckpointPage {
        total: u64::try_from(total).unwrap_or(0),
        checkpoints,
    })
}

fn checkpoint_view(intent: String, row: &Row, config: &PolicyConfig) -> Checkpoint {
    let state = &row.state;
    Checkpoint {
        arms: state.ranked_arms(row.modules.names()),
        modules: row.modules.names().to_vec(),
        intent,
        budget: state.budget.policy_budget(&config.budget),
        optimal_n: state.optimal_n(config),
        samples: state.samples,
        correct_samples: state.correct_samples,
        confidence: state.confidence(config),
        evidence: state.budget.evidence(&config.budget),
        updated_ms: state.updated_ms,
    }
}

/// Visits the log in ingest order, [`FETCH_ROWS`] rows at a time from one snapshot (a
/// cursor), so an export of any size holds one chunk in memory.
pub(crate) fn export(
    store: &PostgresPolicyStore,
    visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
) -> Result<u64, Fail> {
    store.read(|tx| {
        let mut count = 0;
        for_each_row(
            tx,
            "SELECT t.request_id, i.name, m.modules, t.calls, t.run_units, t.correct,
                    t.latency_ms, t.timestamp_ms, t.decision_id, t.answered, t.answered_at
             FROM trajectory_log t
             JOIN intent_classes i ON i.id = t.intent_id
             JOIN module_sets m ON m.id = t.module_set_id
             ORDER BY t.id",
            |row| {
                visit(&trajectory(row)?)?;
                count += 1;
                Ok(())
            },
        )?;
        Ok(count)
    })
}

/// One exported row as the trajectory it stores (an `answered` index outside the set, or an
/// `answered_at` out of `u32`'s range, is dropped, as the SQLite backend does).
fn trajectory(row: &postgres::Row) -> Result<Trajectory, PolicyError> {
    let request_id: String = row.get(0);
    let set = ModuleSet::from_canonical(row.get(2));
    let calls = set
        .decode_calls(row.get(3))
        .ok_or_else(|| PolicyError::CorruptTrajectory {
            request_id: request_id.clone(),
            reason: "a call index is outside its module set".into(),
        })?;
    Ok(Trajectory {
        intent: row.get(1),
        modules: set.names().to_vec(),
        calls,
        run_units: row.get(4),
        correct: row.get(5),
        latency_ms: row.get(6),
        timestamp_ms: row.get(7),
        decision_id: row
            .get::<_, Option<i64>>(8)
            .and_then(|d| u64::try_from(d).ok()),
        answered_by: row
            .get::<_, Option<i16>>(9)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| set.names().get(i).cloned()),
        answered_at: row
            .get::<_, Option<i64>>(10)
            .and_then(|at| u32::try_from(at).ok()),
        request_id,
    })
}

/// Reads the transaction's rows of `query` [`FETCH_ROWS`] at a time (used by rebuild).
pub(crate) fn for_each_row(
    tx: &mut Transaction<'_>,
    query: &str,
    mut each: impl FnMut(&postgres::Row) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let portal = tx.bind(query, &[])?;
    loop {
        let rows = tx.query_portal(&portal, FETCH_ROWS)?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            each(row)?;
        }
    }
}
