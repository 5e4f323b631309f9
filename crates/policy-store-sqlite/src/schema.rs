//! The policy store's schema as ordered, embedded migrations (applied by `sqlite_kit::migrate`
//! through `PRAGMA user_version`). Never edit a released step: append a new one.

use sqlite_kit::Migration;

/// Version 1: the six tables.
///
/// * `reward_configs` is the sixth table: each distinct [`otc_policy::PolicyConfig`] (reward weights,
///   cost normaliser, estimator) is stored once and every reward event points at it, so each
///   score stays explainable while an event row holds a small integer instead of a ~200-byte
///   JSON document.
/// * `trajectory_log.calls` holds one byte per call: the module's index in the canonical
///   (sorted) module set, which `module_sets.modules` spells out.
/// * `policy_checkpoints.arm_weights` is a msgpack BLOB with a version tag (see `otc_policy::blob`).
const V1: &str = "
CREATE TABLE intent_classes (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE module_sets (
    id          INTEGER PRIMARY KEY,
    fingerprint INTEGER NOT NULL UNIQUE,
    modules     TEXT NOT NULL
);
CREATE TABLE reward_configs (
    id          INTEGER PRIMARY KEY,
    config_json TEXT NOT NULL UNIQUE
);
CREATE TABLE trajectory_log (
    id            INTEGER PRIMARY KEY,
    request_id    TEXT NOT NULL UNIQUE,
    intent_id     INTEGER NOT NULL REFERENCES intent_classes(id),
    module_set_id INTEGER NOT NULL REFERENCES module_sets(id),
    calls         BLOB NOT NULL,
    run_units     REAL NOT NULL,
    correct       INTEGER NOT NULL CHECK (correct IN (0, 1)),
    latency_ms    REAL NOT NULL,
    timestamp_ms  INTEGER NOT NULL
);
CREATE TABLE reward_events (
    trajectory_id INTEGER PRIMARY KEY REFERENCES trajectory_log(id),
    config_id     INTEGER NOT NULL REFERENCES reward_configs(id),
    n_used        REAL,
    r_tool        REAL,
    r_correctness REAL NOT NULL,
    r_cost        REAL NOT NULL,
    composite     REAL NOT NULL
);
CREATE TABLE policy_checkpoints (
    intent_id       INTEGER NOT NULL REFERENCES intent_classes(id),
    module_set_id   INTEGER NOT NULL REFERENCES module_sets(id),
    optimal_n       INTEGER,
    samples         INTEGER NOT NULL,
    correct_samples INTEGER NOT NULL,
    confidence      REAL NOT NULL,
    arm_weights     BLOB NOT NULL,
    updated_ms      INTEGER NOT NULL,
    PRIMARY KEY (intent_id, module_set_id)
) WITHOUT ROWID;
";

/// Version 2: the logs become append-only in the database itself, not just by convention.
const V2: &str = "
CREATE TRIGGER trajectory_log_no_update BEFORE UPDATE ON trajectory_log
BEGIN SELECT RAISE(ABORT, 'trajectory_log is append-only'); END;
CREATE TRIGGER trajectory_log_no_delete BEFORE DELETE ON trajectory_log
BEGIN SELECT RAISE(ABORT, 'trajectory_log is append-only'); END;
CREATE TRIGGER reward_events_no_update BEFORE UPDATE ON reward_events
BEGIN SELECT RAISE(ABORT, 'reward_events is append-only'); END;
CREATE TRIGGER reward_events_no_delete BEFORE DELETE ON reward_events
BEGIN SELECT RAISE(ABORT, 'reward_events is append-only'); END;
";

/// Version 3: the closed-loop policy.
///
/// * `decisions` logs every decision served (`POST /admin/otc/decisions`): what was served
///   (budget, the policy's budget, what was explored, the first module as its index in the
///   canonical set), its propensity, where the budget came from (0 exact, 1 borrowed from
///   siblings, 2 cold start) and the policy version (`reward_configs.id`). About 40 B a row.
///   Append-only; a decision no trajectory refers to may be deleted (see
///   `SqlitePolicyStore::prune_decisions`), one that a trajectory refers to cannot (foreign key).
///   `AUTOINCREMENT` so that an id is never given twice, even after its row was pruned.
/// * `trajectory_log` gains the decision it answers (unique: one request per decision), the
///   budget it was served, the policy's budget and whether the order was explored (copied from
///   the decision, so a rebuild needs only the log), and the module that answered (its index in
///   the canonical set), when the orchestrator said.
/// * Checkpoints change their BLOB (answer credit and the budget state); the old rows are
///   dropped here and the store rebuilds them from the log when it opens an upgraded file.
const V3: &str = "
CREATE TABLE decisions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_id      INTEGER NOT NULL REFERENCES intent_classes(id),
    module_set_id  INTEGER NOT NULL REFERENCES module_sets(id),
    budget         INTEGER NOT NULL,
    policy_budget  INTEGER NOT NULL,
    explored       INTEGER NOT NULL,
    first_module   INTEGER,
    propensity     REAL NOT NULL,
    source         INTEGER NOT NULL,
    config_id      INTEGER NOT NULL REFERENCES reward_configs(id),
    decided_ms     INTEGER NOT NULL
);
CREATE INDEX decisions_by_combination ON decisions(intent_id, module_set_id, decided_ms);
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions is append-only'); END;
ALTER TABLE trajectory_log ADD COLUMN decision_id INTEGER REFERENCES decisions(id);
ALTER TABLE trajectory_log ADD COLUMN served INTEGER;
ALTER TABLE trajectory_log ADD COLUMN policy_budget INTEGER;
ALTER TABLE trajectory_log ADD COLUMN order_explored INTEGER;
ALTER TABLE trajectory_log ADD COLUMN answered INTEGER;
CREATE UNIQUE INDEX trajectory_log_decision ON trajectory_log(decision_id)
    WHERE decision_id IS NOT NULL;
DELETE FROM policy_checkpoints;
";

/// Version 4: `trajectory_log.answered_at`, which call's result the answer used (counted from
/// 1; 0: the answer used no tool result), when the orchestrator said. A row written before has
/// NULL, "not said", which the policy folds exactly as it did, so the checkpoints stay valid
/// and nothing is rebuilt.
const V4: &str = "
ALTER TABLE trajectory_log ADD COLUMN answered_at INTEGER;
";

/// Version 5: `decisions.log_position`, the last trajectory id in the log when the decision
/// was taken (read under the same write lock), so that an off-policy evaluation replays each
/// decision from exactly the state it was taken from. Decisions logged before have NULL and
/// are replayed just before their own trajectory (approximately where they were).
const V5: &str = "
ALTER TABLE decisions ADD COLUMN log_position INTEGER;
";

/// Every schema step, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
    },
    Migration {
        version: 2,
        sql: V2,
    },
    Migration {
        version: 3,
        sql: V3,
    },
    Migration {
        version: 4,
        sql: V4,
    },
    Migration {
        version: 5,
        sql: V5,
    },
];
