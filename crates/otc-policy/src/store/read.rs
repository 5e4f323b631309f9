//! Reads: recommend (with its fallback), list checkpoints, export the trajectory log.
//!
//! # Fallback of `recommend` for a combination never seen
//!
//! 1. **Exact**: the checkpoint of (intent, module set).
//! 2. **Intent fallback**: the intent was seen with other module sets. The budget is the
//!    `optimal_n` of the intent's most confident checkpoint (ties: more samples, then canonical
//!    order), its confidence multiplied by [`FALLBACK_DISCOUNT`]; each requested module is
//!    ranked with its arms pooled over the intent's checkpoints (sums and pulls added), and a
//!    module the intent never used is unexplored (ranked first).
//! 3. **Unseen**: no budget, confidence 0, every module unexplored, in canonical order.
//!
//! # Corrupt checkpoints
//!
//! A checkpoint whose BLOB does not decode is [`PolicyError::CorruptCheckpoint`] when it is the
//! one asked for (exact match), when listing checkpoints, and when ingesting into it: there is
//! no honest answer from it, and the error names `rebuild` as the repair. The intent fallback
//! is different: it serves *other* combinations, and one unreadable sibling must not take the
//! advice for all of them down (the orchestrator asks on its request path), so corrupt siblings
//! are skipped and the advice comes from the readable ones. Only when the intent has
//! checkpoints and none of them is readable does the fallback fail, since answering `unseen`
//! would then be false.

use super::{PolicyStore, blob};
use crate::arms::{Arm, Arms};
use crate::backend::RewardEvent;
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::estimate::CallHistogram;
use crate::reward::Score;
use crate::state::{ArmView, Checkpoint, Recommendation, RecommendationSource, rank_arms};
use crate::trajectory::{ModuleSet, Trajectory};
use rusqlite::OptionalExtension;

/// Factor applied to the confidence of a budget borrowed from another module set.
pub const FALLBACK_DISCOUNT: f64 = 0.5;

/// A stored checkpoint row, decoded.
struct Row {
    modules: ModuleSet,
    optimal_n: Option<u32>,
    samples: u64,
    correct_samples: u64,
    confidence: f64,
    arms: Arms,
    updated_ms: i64,
}

fn decode_row(intent: &str, row: &rusqlite::Row<'_>) -> Result<Row, PolicyError> {
    let modules = ModuleSet::from_canonical(&row.get::<_, String>(0)?);
    let bytes: Vec<u8> = row.get(5)?;
    let (arms, _hist): (Arms, CallHistogram) = blob::decode(&bytes, modules.names().len())
        .map_err(|e| PolicyError::CorruptCheckpoint {
            intent: intent.to_owned(),
            modules: modules.canonical(),
            reason: e.to_string(),
        })?;
    Ok(Row {
        optimal_n: row.get(1)?,
        samples: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
        correct_samples: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
        confidence: row.get(4)?,
        updated_ms: row.get(6)?,
        modules,
        arms,
    })
}

fn ranked(arms: Arms, names: &[String], store: &PolicyStore) -> Vec<ArmView> {
    rank_arms(&arms, names, store.config.reward_range())
}

pub(super) fn recommend(
    store: &PolicyStore,
    intent: &str,
    modules: &[String],
) -> Result<Recommendation, PolicyError> {
    crate::trajectory::check_names(intent, modules)?;
    let set = ModuleSet::new(modules)?;
    let conn = store.reader();
    let exact = conn
        .prepare_cached(
            "SELECT m.modules, c.optimal_n, c.samples, c.correct_samples, c.confidence,
                    c.arm_weights, c.updated_ms
             FROM policy_checkpoints c JOIN module_sets m ON m.id = c.module_set_id
             WHERE c.intent_id = (SELECT id FROM intent_classes WHERE name = ?1)
               AND c.module_set_id = (SELECT id FROM module_sets WHERE fingerprint = ?2)",
        )?
        .query_row(rusqlite::params![intent, set.fingerprint()], |row| {
            Ok(decode_row(intent, row))
        })
        .optional()?
        .transpose()?;
    if let Some(row) = exact.filter(|row| row.modules == set) {
        return Ok(Recommendation {
            intent: intent.to_owned(),
            budget: row.optimal_n,
            confidence: row.confidence,
            source: RecommendationSource::Exact,
            ranked: ranked(row.arms, set.names(), store),
            modules: set.names().to_vec(),
        });
    }
    let rows = intent_rows(&conn, intent)?;
    drop(conn);
    if rows.is_empty() {
        return Ok(Recommendation {
            intent: intent.to_owned(),
            budget: None,
            confidence: 0.0,
            source: RecommendationSource::Unseen,
            ranked: ranked(Arms::new(set.names().len()), set.names(), store),
            modules: set.names().to_vec(),
        });
    }
    let best = rows
        .iter()
        .filter(|r| r.optimal_n.is_some())
        .max_by(|a, b| {
            a.confidence
                .total_cmp(&b.confidence)
                .then(a.samples.cmp(&b.samples))
                .then(b.modules.canonical().cmp(&a.modules.canonical()))
        });
    let mut pooled = vec![Arm::default(); set.names().len()];
    let mut total = 0.0;
    for row in &rows {
        total += row.arms.total();
        for (name, arm) in row.modules.names().iter().zip(row.arms.arms()) {
            if let Some(i) = set.index_of(name) {
                pooled[i].reward_sum += arm.reward_sum;
                pooled[i].pulls += arm.pulls;
            }
        }
    }
    let arms = Arms::from_parts(pooled, total).unwrap_or_else(|| Arms::new(set.names().len()));
    Ok(Recommendation {
        intent: intent.to_owned(),
        budget: best.and_then(|r| r.optimal_n),
        confidence: best.map_or(0.0, |r| r.confidence * FALLBACK_DISCOUNT),
        source: RecommendationSource::IntentFallback,
        ranked: ranked(arms, set.names(), store),
        modules: set.names().to_vec(),
    })
}

/// The intent's readable checkpoints (see "Corrupt checkpoints" above).
fn intent_rows(conn: &rusqlite::Connection, intent: &str) -> Result<Vec<Row>, PolicyError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.modules, c.optimal_n, c.samples, c.correct_samples, c.confidence,
                c.arm_weights, c.updated_ms
         FROM policy_checkpoints c JOIN module_sets m ON m.id = c.module_set_id
         WHERE c.intent_id = (SELECT id FROM intent_classes WHERE name = ?1)
         ORDER BY m.modules",
    )?;
    let mut rows = stmt.query([intent])?;
    let mut out = Vec::new();
    let mut first_corrupt = None;
    while let Some(row) = rows.next()? {
        match decode_row(intent, row) {
            Ok(decoded) => out.push(decoded),
            Err(err @ PolicyError::CorruptCheckpoint { .. }) => {
                first_corrupt.get_or_insert(err);
            }
            Err(other) => return Err(other),
        }
    }
    match first_corrupt {
        Some(err) if out.is_empty() => Err(err),
        _ => Ok(out),
    }
}

pub(super) fn reward_event(
    store: &PolicyStore,
    request_id: &str,
) -> Result<Option<RewardEvent>, PolicyError> {
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

pub(super) fn checkpoints(store: &PolicyStore) -> Result<Vec<Checkpoint>, PolicyError> {
    let conn = store.reader();
    let mut stmt = conn.prepare_cached(
        "SELECT m.modules, c.optimal_n, c.samples, c.correct_samples, c.confidence,
                c.arm_weights, c.updated_ms, i.name
         FROM policy_checkpoints c
         JOIN module_sets m ON m.id = c.module_set_id
         JOIN intent_classes i ON i.id = c.intent_id
         ORDER BY i.name, m.modules",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let intent: String = row.get(7)?;
        let decoded = decode_row(&intent, row)?;
        out.push(Checkpoint {
            arms: ranked(decoded.arms, decoded.modules.names(), store),
            modules: decoded.modules.names().to_vec(),
            intent,
            optimal_n: decoded.optimal_n,
            samples: decoded.samples,
            correct_samples: decoded.correct_samples,
            confidence: decoded.confidence,
            updated_ms: decoded.updated_ms,
        });
    }
    Ok(out)
}

pub(super) fn export(
    store: &PolicyStore,
    visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
) -> Result<u64, PolicyError> {
    let conn = store.reader();
    let mut stmt = conn.prepare(
        "SELECT t.request_id, i.name, m.modules, t.calls, t.run_units, t.correct, t.latency_ms,
                t.timestamp_ms
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
        };
        visit(&trajectory)?;
        count += 1;
    }
    Ok(count)
}
