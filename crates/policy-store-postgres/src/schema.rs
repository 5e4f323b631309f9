//! The policy store's PostgreSQL schema: one ordered list, applied by `postgres_kit::open` in
//! the store's own PostgreSQL schema (namespace).
//!
//! A new migration is one appended entry with the next version number; never edit an entry
//! that has shipped (databases in the field already recorded its version). The tables are
//! those of the SQLite backend at its schema 5 (`policy-store-sqlite/src/schema.rs`, which
//! explains each column), in PostgreSQL's types; what differs, and why, is said beside it:
//! above all v4, which partitions the logs by month and keeps request ids unique in a table
//! of their own (`trajectory_keys`).

use postgres_kit::Migration;

/// Every schema step of the policy store, in order.
pub const MIGRATIONS: &[Migration] = &[
    // v1: everything the SQLite backend has at its schema 3.
    //
    // * `write_lock` never holds a row: `LOCK TABLE` on it orders the writers of every replica
    //   (see `lib.rs`).
    // * Names and module sets are `COLLATE "C"`: checkpoint pages are ordered by them, byte by
    //   byte as SQLite and Rust order strings, whatever the database's default collation.
    // * `trajectory_log.id` is the log order, assigned by the store under the write lock
    //   (`MAX(id) + 1`, in batch order), as SQLite assigns its rowid: rebuild folds in this
    //   order, so it must be the order in which ingests folded.
    // * `decisions.id` comes from the one-row `decision_counter`, also under the write lock and
    //   inside the transaction that logs the decision: a rolled-back decision gives its id back
    //   (a sequence would skip it), and a pruned one never returns (SQLite's AUTOINCREMENT).
    // * Budgets are BIGINT (the driver maps `u32` to `oid`, not to an integer column);
    //   `arm_weights` is BYTEA holding exactly the bytes of `otc_policy::blob`.
    // * Triggers keep the logs append-only in the database itself, as SQLite's do.
    Migration {
        version: 1,
        sql: r#"
        CREATE TABLE write_lock ();
        CREATE TABLE intent_classes (
            id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL UNIQUE
        );
        CREATE TABLE module_sets (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            fingerprint BIGINT NOT NULL UNIQUE,     -- 64-bit FNV-1a of the canonical set
            modules     TEXT COLLATE "C" NOT NULL  -- canonical: sorted, comma-separated
        );
        CREATE TABLE reward_configs (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            config_json TEXT NOT NULL UNIQUE
        );
        CREATE TABLE decision_counter (
            only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
            last_id  BIGINT NOT NULL                -- the last decision id given
        );
        INSERT INTO decision_counter (last_id) VALUES (0);
        CREATE TABLE decisions (
            id            BIGINT PRIMARY KEY,       -- from decision_counter, never reused
            intent_id     BIGINT NOT NULL REFERENCES intent_classes(id),
            module_set_id BIGINT NOT NULL REFERENCES module_sets(id),
            budget        BIGINT NOT NULL,
            policy_budget BIGINT NOT NULL,
            explored      SMALLINT NOT NULL,        -- bits: 1 up, 2 down, 4 module order
            first_module  SMALLINT,                 -- index in the canonical set
            propensity    DOUBLE PRECISION NOT NULL,
            source        SMALLINT NOT NULL,        -- 0 exact, 1 borrowed, 2 cold start
            config_id     BIGINT NOT NULL REFERENCES reward_configs(id),
            decided_ms    BIGINT NOT NULL
        );
        CREATE INDEX decisions_by_combination ON decisions (intent_id, module_set_id, decided_ms);
        CREATE TABLE trajectory_log (
            id             BIGINT PRIMARY KEY,      -- log order, see above
            request_id     TEXT NOT NULL UNIQUE,
            intent_id      BIGINT NOT NULL REFERENCES intent_classes(id),
            module_set_id  BIGINT NOT NULL REFERENCES module_sets(id),
            calls          BYTEA NOT NULL,          -- one byte a call: index in the set
            run_units      DOUBLE PRECISION NOT NULL,
            correct        BOOLEAN NOT NULL,
            latency_ms     DOUBLE PRECISION NOT NULL,
            timestamp_ms   BIGINT NOT NULL,
            decision_id    BIGINT UNIQUE REFERENCES decisions(id),
            served         BIGINT,                  -- copied from the decision
            policy_budget  BIGINT,
            order_explored BOOLEAN,
            answered       SMALLINT                 -- index in the set
        );
        CREATE TABLE reward_events (
            trajectory_id BIGINT PRIMARY KEY REFERENCES trajectory_log(id),
            config_id     BIGINT NOT NULL REFERENCES reward_configs(id),
            n_used        DOUBLE PRECISION,
            r_tool        DOUBLE PRECISION,
            r_correctness DOUBLE PRECISION NOT NULL,
            r_cost        DOUBLE PRECISION NOT NULL,
            composite     DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE policy_checkpoints (
            intent_id       BIGINT NOT NULL REFERENCES intent_classes(id),
            module_set_id   BIGINT NOT NULL REFERENCES module_sets(id),
            optimal_n       BIGINT,
            samples         BIGINT NOT NULL,
            correct_samples BIGINT NOT NULL,
            confidence      DOUBLE PRECISION NOT NULL,
            arm_weights     BYTEA NOT NULL,         -- otc_policy::blob, versioned msgpack
            updated_ms      BIGINT NOT NULL,
            PRIMARY KEY (intent_id, module_set_id)
        );
        CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
        END $$;
        CREATE TRIGGER trajectory_log_append_only BEFORE UPDATE OR DELETE ON trajectory_log
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER trajectory_log_no_truncate BEFORE TRUNCATE ON trajectory_log
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER reward_events_append_only BEFORE UPDATE OR DELETE ON reward_events
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER reward_events_no_truncate BEFORE TRUNCATE ON reward_events
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        "#,
    },
    // v2: the SQLite backend's schema 4, `trajectory_log.answered_at`: which call's result the
    // answer used (counted from 1; 0: no tool result), when the orchestrator said. BIGINT like
    // the budgets (the driver maps `u32` to `oid`). Rows written before have NULL, "not said",
    // which the policy folds exactly as it did, so their checkpoints stay valid.
    Migration {
        version: 2,
        sql: "ALTER TABLE trajectory_log ADD COLUMN answered_at BIGINT;",
    },
    // v3: the SQLite backend's schema 5, `decisions.log_position`: the last trajectory id in
    // the log when the decision was taken (read under the writer lock), so that an off-policy
    // evaluation replays each decision from the state it was taken from. Decisions logged
    // before have NULL and are replayed just before their own trajectory.
    Migration {
        version: 3,
        sql: "ALTER TABLE decisions ADD COLUMN log_position BIGINT;",
    },
    // v4: time partitions, for logs past 100M rows (issue: PostgreSQL backends).
    //
    // * `trajectory_log` and `reward_events` are partitioned by `logged_ms`, the server's time
    //   of the ingest that logged the row (kept monotone with the log order by the store, see
    //   `ingest`), `decisions` by `decided_ms`; one partition per UTC month, made by
    //   postgres-kit's `ensure_month_partition`. Retention drops whole partitions (`retention`).
    // * A unique key of a partitioned table must contain the partition key, and a retried
    //   request arrives at another time, so request ids (and "a decision serves one request")
    //   are kept unique in `trajectory_keys`, a plain table: one row per logged trajectory,
    //   its id, partition time and decision. It is also how a request id finds its row.
    // * `log_base` and `checkpoint_base`: what retention folded away. The checkpoints of the
    //   log up to `through_id` (the last trajectory retention dropped), so a rebuild starts from
    //   them and still equals the incremental checkpoints (0: nothing dropped yet).
    // * The logs carry no foreign keys. Keys into the log and decisions would have to name the
    //   partition key, and retention drops the rows they point at; keys from the log to the
    //   name tables (intents, module sets, configs) cost a lookup and a row lock per inserted
    //   row, which measured as the larger part of a batch ingest. The store writes only ids it
    //   read or created in the same transaction under the writer lock, and rebuild refuses a
    //   row naming an unknown intent or module set (`CorruptTrajectory`).
    // * Rows logged before this upgrade get `logged_ms` = the upgrade's time: their true
    //   ingest time was never stored, and one value keeps `logged_ms` monotone with the ids.
    Migration {
        version: 4,
        sql: r#"
        ALTER TABLE reward_events RENAME TO reward_events_v3;
        ALTER INDEX reward_events_pkey RENAME TO reward_events_v3_pkey;
        ALTER TABLE trajectory_log RENAME TO trajectory_log_v3;
        ALTER INDEX trajectory_log_pkey RENAME TO trajectory_log_v3_pkey;
        ALTER INDEX trajectory_log_request_id_key RENAME TO trajectory_log_v3_request_id_key;
        ALTER INDEX trajectory_log_decision_id_key RENAME TO trajectory_log_v3_decision_id_key;
        ALTER TABLE decisions RENAME TO decisions_v3;
        ALTER INDEX decisions_pkey RENAME TO decisions_v3_pkey;
        ALTER INDEX decisions_by_combination RENAME TO decisions_v3_by_combination;

        CREATE TABLE decisions (
            id            BIGINT NOT NULL,          -- from decision_counter, never reused
            intent_id     BIGINT NOT NULL,
            module_set_id BIGINT NOT NULL,
            budget        BIGINT NOT NULL,
            policy_budget BIGINT NOT NULL,
            explored      SMALLINT NOT NULL,
            first_module  SMALLINT,
            propensity    DOUBLE PRECISION NOT NULL,
            source        SMALLINT NOT NULL,
            config_id     BIGINT NOT NULL,
            decided_ms    BIGINT NOT NULL,
            log_position  BIGINT,
            PRIMARY KEY (id, decided_ms)
        ) PARTITION BY RANGE (decided_ms);
        CREATE INDEX decisions_by_combination ON decisions (intent_id, module_set_id, decided_ms);
        CREATE TABLE trajectory_log (
            id             BIGINT NOT NULL,         -- log order
            request_id     TEXT NOT NULL,           -- unique through trajectory_keys
            intent_id      BIGINT NOT NULL,
            module_set_id  BIGINT NOT NULL,
            calls          BYTEA NOT NULL,
            run_units      DOUBLE PRECISION NOT NULL,
            correct        BOOLEAN NOT NULL,
            latency_ms     DOUBLE PRECISION NOT NULL,
            timestamp_ms   BIGINT NOT NULL,
            decision_id    BIGINT,
            served         BIGINT,
            policy_budget  BIGINT,
            order_explored BOOLEAN,
            answered       SMALLINT,
            answered_at    BIGINT,
            logged_ms      BIGINT NOT NULL,
            PRIMARY KEY (id, logged_ms)
        ) PARTITION BY RANGE (logged_ms);
        CREATE TABLE reward_events (
            trajectory_id BIGINT NOT NULL,
            logged_ms     BIGINT NOT NULL,          -- its trajectory's
            config_id     BIGINT NOT NULL,
            n_used        DOUBLE PRECISION,
            r_tool        DOUBLE PRECISION,
            r_correctness DOUBLE PRECISION NOT NULL,
            r_cost        DOUBLE PRECISION NOT NULL,
            composite     DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (trajectory_id, logged_ms)
        ) PARTITION BY RANGE (logged_ms);
        CREATE TABLE trajectory_keys (
            request_id    TEXT PRIMARY KEY,
            trajectory_id BIGINT NOT NULL UNIQUE,
            logged_ms     BIGINT NOT NULL,
            decision_id   BIGINT
        );
        -- Partial: most trajectories name no decision, and their NULLs need no index entry.
        CREATE UNIQUE INDEX trajectory_keys_by_decision ON trajectory_keys (decision_id)
            WHERE decision_id IS NOT NULL;
        CREATE TABLE log_base (
            only_row   BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
            through_id BIGINT NOT NULL,             -- last trajectory folded into the base
            cut_ms     BIGINT NOT NULL,             -- every dropped row was logged before this
            config_id  BIGINT REFERENCES reward_configs(id)  -- the config it was folded with
        );
        INSERT INTO log_base (through_id, cut_ms) VALUES (0, 0);
        CREATE TABLE checkpoint_base (
            intent_id       BIGINT NOT NULL REFERENCES intent_classes(id),
            module_set_id   BIGINT NOT NULL REFERENCES module_sets(id),
            samples         BIGINT NOT NULL,
            correct_samples BIGINT NOT NULL,
            arm_weights     BYTEA NOT NULL,
            updated_ms      BIGINT NOT NULL,
            PRIMARY KEY (intent_id, module_set_id)
        );

        SELECT ensure_month_partition('decisions', day)
        FROM (SELECT DISTINCT decided_ms / 86400000 * 86400000 AS day FROM decisions_v3) days;
        INSERT INTO decisions SELECT id, intent_id, module_set_id, budget, policy_budget,
            explored, first_module, propensity, source, config_id, decided_ms, log_position
        FROM decisions_v3;
        CREATE TEMPORARY TABLE upgrade_time ON COMMIT DROP AS
            SELECT (extract(epoch FROM now()) * 1000)::bigint AS ms;
        SELECT ensure_month_partition('trajectory_log', ms) FROM upgrade_time;
        SELECT ensure_month_partition('reward_events', ms) FROM upgrade_time;
        INSERT INTO trajectory_log SELECT t.id, t.request_id, t.intent_id, t.module_set_id,
            t.calls, t.run_units, t.correct, t.latency_ms, t.timestamp_ms, t.decision_id,
            t.served, t.policy_budget, t.order_explored, t.answered, t.answered_at, u.ms
        FROM trajectory_log_v3 t, upgrade_time u;
        INSERT INTO reward_events SELECT r.trajectory_id, u.ms, r.config_id, r.n_used,
            r.r_tool, r.r_correctness, r.r_cost, r.composite
        FROM reward_events_v3 r, upgrade_time u;
        INSERT INTO trajectory_keys SELECT t.request_id, t.id, u.ms, t.decision_id
        FROM trajectory_log_v3 t, upgrade_time u;
        DROP TABLE reward_events_v3, trajectory_log_v3, decisions_v3;

        CREATE TRIGGER trajectory_log_append_only BEFORE UPDATE OR DELETE ON trajectory_log
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER trajectory_log_no_truncate BEFORE TRUNCATE ON trajectory_log
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER reward_events_append_only BEFORE UPDATE OR DELETE ON reward_events
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER reward_events_no_truncate BEFORE TRUNCATE ON reward_events
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER trajectory_keys_no_update BEFORE UPDATE ON trajectory_keys
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        "#,
    },
    // v5: a version of the checkpoints, bumped by every statement that changes them (ingest,
    // rebuild, retention's base, a hand edit alike), so a replica can tell with one tiny read
    // whether an answer it holds in memory is still the answer (`memory.rs`). The function
    // keeps the schema it was made in (`SET search_path FROM CURRENT`), so an edit from a
    // session with another search path still bumps this schema's version.
    Migration {
        version: 5,
        sql: r#"
        CREATE TABLE policy_epoch (
            only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
            version  BIGINT NOT NULL
        );
        INSERT INTO policy_epoch (version) VALUES (0);
        CREATE FUNCTION bump_policy_epoch() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            UPDATE policy_epoch SET version = version + 1;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER policy_checkpoints_epoch
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON policy_checkpoints
            FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_epoch();
        -- The version only ever grows: a row deleted and made again could bring back an old
        -- version, and an answer held under it would look current.
        CREATE TRIGGER policy_epoch_no_delete BEFORE DELETE ON policy_epoch
            FOR EACH ROW EXECUTE FUNCTION refuse_change();
        CREATE TRIGGER policy_epoch_no_truncate BEFORE TRUNCATE ON policy_epoch
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
        "#,
    },
];
