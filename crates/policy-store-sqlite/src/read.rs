//! Reads: recommend (with its fallback), list checkpoints, export the trajectory log; and the
//! context a decision is made from ([`context`]).
//!
//! # Where advice comes from
//!
//! The exact checkpoint; else the intent's other module sets that share modules with the asked
//! one lend their budget and arms in proportion to the overlap; else the cold start. The rules
//! are in [`otc_policy::advice`] and [`otc_policy::decision`]; this module only loads the states.
//!
//! # Corrupt checkpoints
//!
//! A checkpoint whose BLOB does not decode is [`PolicyError::CorruptCheckpoint`] when it is the
//! one asked for (exact match), when it is on a page of listed checkpoints, and when ingesting into it: there is
//! no honest answer from it, and the error names `rebuild` as the repair. Siblings are
//! different: they serve *other* combinations, and one unreadable sibling must not take the
//! advice for all of them down (the orchestrator asks on its request path), so corrupt siblings
//! are skipped and the advice comes from the readable ones. Only when the intent has
//! checkpoints and none of them is readable does the fallback fail, since answering from the
//! cold start would then be false.

use crate::{Fail, Store};
use otc_policy::advice::Context;
use otc_policy::blob;
use otc_policy::config::PolicyConfig;
use otc_policy::decision::Sibling;
use otc_policy::reward::Score;
use otc_policy::state::{Checkpoint, CombinationState, Recommendation};
use otc_policy::trajectory::{ModuleSet, Trajectory};
use policy_store::PolicyError;
use policy_store::{CheckpointPage, RewardEvent};
use rusqlite::{Connection, OptionalExtension};

const ROW_COLUMNS: &str = "m.modules, c.samples, c.correct_samples, c.arm_weights, c.updated_ms";

/// A stored checkpoint row, decoded.
pub(super) struct Row {
    pub modules: ModuleSet,
    pub state: CombinationState,
}

fn decode_row(intent: &str, row: &rusqlite::Row<'_>) -> Result<Row, Fail> {
    let modules = ModuleSet::from_canonical(&row.get::<_, String>(0)?);
    let bytes: Vec<u8> = row.get(3)?;
    let corrupt = |reason: String| PolicyError::CorruptCheckpoint {
        intent: intent.to_owned(),
        modules: modules.canonical(),
        reason,
    };
    let decoded =
        blob::decode(&bytes, modules.names().len()).map_err(|e| corrupt(e.to_string()))?;
    let count = |i: usize| -> Result<u64, Fail> {
        u64::try_from(row.get::<_, i64>(i)?).map_err(|e| Fail(corrupt(e.to_string())))
    };
    Ok(Row {
        state: CombinationState {
            samples: count(1)?,
            correct_samples: count(2)?,
            hist: decoded.hist,
            arms: decoded.arms,
            budget: decoded.budget,
            updated_ms: row.get(4)?,
        },
        modules,
    })
}

/// The exact checkpoint of (intent, set), if any, and when there is none the intent's other
/// readable checkpoints (ordered by canonical module set).
pub(super) fn context(
    conn: &Connection,
    intent: &str,
    set: &ModuleSet,
) -> Result<(Option<CombinationState>, Vec<Row>), Fail> {
    let exact = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}
             FROM policy_checkpoints c JOIN module_sets m ON m.id = c.module_set_id
             WHERE c.intent_id = (SELECT id FROM intent_classes WHERE name = ?1)
               AND c.module_set_id = (SELECT id FROM module_sets WHERE fingerprint = ?2)"
        ))?
        .query_row(rusqlite::params![intent, set.fingerprint()], |row| {
            Ok(decode_row(intent, row))
        })
        .optional()?
        .transpose()?
        .filter(|row| row.modules == *set);
    // Siblings only matter without an exact state, or while its arms are thin (see
    // `advice::LOAN_ARMS_UNTIL`); otherwise the intent's other checkpoints are not read.
    let thin = exact
        .as_ref()
        .is_none_or(|row| row.state.arms.total_pulls() < otc_policy::advice::LOAN_ARMS_UNTIL);
    let siblings = if thin {
        intent_rows(conn, intent)?
            .into_iter()
            .filter(|row| row.modules != *set)
            .collect()
    } else {
        Vec::new()
    };
    Ok((exact.map(|row| row.state), siblings))
}

/// Borrows the loaded states as an advice context.
pub(super) fn as_context<'a>(
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

pub(super) fn recommend(
    store: &Store,
    intent: &str,
    modules: &[String],
) -> Result<Recommendation, Fail> {
    otc_policy::trajectory::check_names(intent, modules)?;
    let set = ModuleSet::new(modules)?;
    // The version is asked before the checkpoints are read, so a write committed in between
    // keeps this answer out of the cache (see `advice_cache`).
    let lookup = store.advice.lookup(intent, set.names());
    if let Some(recommendation) = lookup.hit {
        return Ok(recommendation);
    }
    let conn = store.reader();
    let (exact, siblings) = context(&conn, intent, &set)?;
    drop(conn);
    let recommendation = otc_policy::advice::recommend(
        intent,
        &as_context(&set, exact.as_ref(), &siblings),
        &store.config,
    );
    store.advice.keep(lookup.version, &recommendation);
    Ok(recommendation)
}

/// The kept answer for (intent, modules) if the file has not changed since it was read: a
/// lookup in memory and the watch's version check (the WAL index's header read from shared
/// memory; a read transaction on the file only where that header cannot be read, which waits
/// only while another connection recovers the WAL after a crash).
pub(super) fn recommend_from_memory(
    store: &Store,
    intent: &str,
    modules: &[String],
) -> Option<Recommendation> {
    otc_policy::trajectory::check_names(intent, modules).ok()?;
    let set = ModuleSet::new(modules).ok()?;
    store.advice.peek(intent, set.names())
}

/// The intent's readable checkpoints (see "Corrupt checkpoints" above).
fn intent_rows(conn: &Connection, intent: &str) -> Result<Vec<Row>, Fail> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS}
         FROM policy_checkpoints c JOIN module_sets m ON m.id = c.module_set_id
         WHERE c.intent_id = (SELECT id FROM intent_classes WHERE name = ?1)
         ORDER BY m.modules"
    ))?;
    let mut rows = stmt.query([intent])?;
    let mut out = Vec::new();
    let mut first_corrupt = None;
    while let Some(row) = rows.next()? {
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

pub(super) fn reward_event(store: &Store, request_id: &str) -> Result<Option<RewardEvent>, Fail> {
    let conn = store.reader();
    let row = conn
        .prepare_cached(
            "SELECT length(t.calls), e.n_used, e.r_tool, e.r_correctness, e.r_cost, e.composite,
                    c.config_json
             FROM trajectory_log t
             JOIN reward_events e ON e.trajectory_id = t.id
             JOIN reward_configs c ON c.id = e.config_id
             WHERE t.request_id = ?1",
        )?
        .query_row([request_id], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, Option<f64>>(1)?,
                r.get::<_, Option<f64>>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, f64>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .optional()?;
    let Some((calls, optimal, r_tool, r_correctness, r_cost, composite, json)) = row else {
        return Ok(None);
    };
    let policy_config: PolicyConfig =
        serde_json::from_str(&json).map_err(|e| PolicyError::CorruptTrajectory {
            request_id: request_id.to_owned(),
            reason: format!("its reward config does not parse: {e}"),
        })?;
    Ok(Some(RewardEvent {
        request_id: request_id.to_owned(),
        score: Score {
            calls,
            optimal,
            r_tool,
            r_correctness,
            r_cost,
            composite,
            config: policy_config.reward,
        },
        policy_config,
    }))
}

/// A page of checkpoints, ordered by intent then canonical module set: `LIMIT`/`OFFSET` in SQL,
/// so only the page is read and decoded; the total is one `COUNT` over the primary key.
pub(super) fn checkpoint_page(
    store: &Store,
    intent: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<CheckpointPage, Fail> {
    // SQLite's integers are i64; a larger offset or limit means "all of them" all the same.
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let conn = store.reader();
    let total: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM policy_checkpoints c
             WHERE ?1 IS NULL OR c.intent_id = (SELECT id FROM intent_classes WHERE name = ?1)",
        )?
        .query_row([intent], |row| row.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS}, i.name
         FROM policy_checkpoints c
         JOIN module_sets m ON m.id = c.module_set_id
         JOIN intent_classes i ON i.id = c.intent_id
         WHERE ?1 IS NULL OR i.name = ?1
         ORDER BY i.name, m.modules
         LIMIT ?2 OFFSET ?3"
    ))?;
    let mut rows = stmt.query(rusqlite::params![intent, limit, offset])?;
    let mut checkpoints = Vec::new();
    while let Some(row) = rows.next()? {
        let intent: String = row.get(5)?;
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

pub(super) fn export(
    store: &Store,
    visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
) -> Result<u64, Fail> {
    let conn = store.reader();
    let mut stmt = conn.prepare(
        "SELECT t.request_id, i.name, m.modules, t.calls, t.run_units, t.correct, t.latency_ms,
                t.timestamp_ms, t.decision_id, t.answered, t.answered_at
         FROM trajectory_log t
         JOIN intent_classes i ON i.id = t.intent_id
         JOIN module_sets m ON m.id = t.module_set_id
         ORDER BY t.id",
    )?;
    let mut rows = stmt.query([])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let request_id: String = row.get(0)?;
        let set = ModuleSet::from_canonical(&row.get::<_, String>(2)?);
        let bytes: Vec<u8> = row.get(3)?;
        let calls = set
            .decode_calls(&bytes)
            .ok_or_else(|| PolicyError::CorruptTrajectory {
                request_id: request_id.clone(),
                reason: "a call index is outside its module set".into(),
            })?;
        let trajectory = Trajectory {
            request_id,
            intent: row.get(1)?,
            modules: set.names().to_vec(),
            calls,
            run_units: row.get(4)?,
            correct: row.get(5)?,
            latency_ms: row.get(6)?,
            timestamp_ms: row.get(7)?,
            decision_id: row
                .get::<_, Option<i64>>(8)?
                .and_then(|d| u64::try_from(d).ok()),
            answered_by: row
                .get::<_, Option<u8>>(9)?
                .and_then(|i| set.names().get(usize::from(i)).cloned()),
            answered_at: row
                .get::<_, Option<i64>>(10)?
                .and_then(|at| u32::try_from(at).ok()),
        };
        visit(&trajectory)?;
        count += 1;
    }
    Ok(count)
}
