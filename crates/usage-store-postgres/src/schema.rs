//! The usage store's PostgreSQL schema: one ordered list, applied by `postgres_kit::open` in
//! the store's own PostgreSQL schema (namespace).
//!
//! The tables are those of the SQLite backend (`usage-store-sqlite/src/schema.rs`, where each
//! is explained) in PostgreSQL's types: run-units as `BIGINT` micro-units, times as `BIGINT`
//! Unix ms. A new migration is one appended entry with the next version number; never edit an
//! entry that has shipped.
//!
//! Since v2 the event log is partitioned by month of `recorded_ms` (see the comment on v2, and
//! [`crate::retention`] for what dropping a month loses).

use postgres_kit::Migration;

/// Every schema step of the usage store, in order.
pub const MIGRATIONS: &[Migration] = &[
    // v1: the append-only event log (a trigger refuses UPDATE, DELETE and TRUNCATE), the
    // hourly and daily roll-ups, quotas, and the soft-quota audit.
    Migration {
        version: 1,
        sql: "
        CREATE TABLE meter_events (
            id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant          TEXT   NOT NULL,
            idempotency_key TEXT   NOT NULL,
            request_id      TEXT   NOT NULL,
            module          TEXT   NOT NULL,
            tool            TEXT   NOT NULL,
            micro_units     BIGINT NOT NULL CHECK (micro_units >= 0),
            ts_ms           BIGINT NOT NULL,
            recorded_ms     BIGINT NOT NULL,
            UNIQUE (tenant, idempotency_key)
        );
        CREATE INDEX meter_events_by_request ON meter_events (request_id);
        CREATE FUNCTION meter_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'meter_events is append-only';
        END
        $$;
        CREATE TRIGGER meter_events_no_change BEFORE UPDATE OR DELETE ON meter_events
            FOR EACH ROW EXECUTE FUNCTION meter_events_append_only();
        CREATE TRIGGER meter_events_no_truncate BEFORE TRUNCATE ON meter_events
            FOR EACH STATEMENT EXECUTE FUNCTION meter_events_append_only();

        CREATE TABLE usage_hourly (
            tenant      TEXT   NOT NULL,
            bucket_ms   BIGINT NOT NULL,
            module      TEXT   NOT NULL,
            micro_units BIGINT NOT NULL,
            events      BIGINT NOT NULL,
            PRIMARY KEY (tenant, bucket_ms, module)
        );
        CREATE TABLE usage_daily (
            tenant      TEXT   NOT NULL,
            bucket_ms   BIGINT NOT NULL,
            module      TEXT   NOT NULL,
            micro_units BIGINT NOT NULL,
            events      BIGINT NOT NULL,
            PRIMARY KEY (tenant, bucket_ms, module)
        );

        CREATE TABLE quotas (
            tenant      TEXT   PRIMARY KEY,
            limit_micro BIGINT NOT NULL CHECK (limit_micro >= 0),
            period      TEXT   NOT NULL CHECK (period IN ('day', 'month')),
            kind        TEXT   NOT NULL CHECK (kind IN ('hard', 'soft')),
            updated_ms  BIGINT NOT NULL
        );

        CREATE TABLE quota_overages (
            event_id        BIGINT PRIMARY KEY REFERENCES meter_events (id),
            tenant          TEXT   NOT NULL,
            period_start_ms BIGINT NOT NULL,
            limit_micro     BIGINT NOT NULL,
            over_micro      BIGINT NOT NULL CHECK (over_micro > 0)
        );
        CREATE INDEX quota_overages_by_tenant ON quota_overages (tenant, period_start_ms);
        ",
    },
    // v2: the event log partitioned by time, so retention drops whole months
    // (`postgres_kit::partitions`; the rule is in `crate::retention`).
    //
    // * `PARTITION BY RANGE (recorded_ms)`: the server's time of recording, not the event's
    //   `ts_ms`, which the caller chooses and may lie far in the past (a late event): a month
    //   of recording is then closed once it has passed, and retention can count on it.
    // * The primary key must contain the partition key, hence `(id, recorded_ms)`; `id` stays
    //   unique because it comes from one sequence, `meter_event_ids`, started past the old
    //   table's highest id (so old ids are kept and new ones are above them). No identity
    //   column and no default: every event row is written with the id its idempotency key
    //   took, so a row cannot be appended without a key.
    // * Idempotency cannot be a unique constraint of the partitioned table (it would have to
    //   contain `recorded_ms`, and a retry arrives at another time), so it is the primary key
    //   of `meter_keys`, a plain table: one row per (tenant, key) with the event's id and
    //   `recorded_ms` (to find the event in its partition, and for retention to forget keys
    //   of dropped months by the index on `recorded_ms`).
    // * `quota_overages` loses its foreign key to the log: the soft-quota audit is part of
    //   billing and outlives the events' retention.
    // * The old rows are copied with their ids into partitions made for their months, their
    //   keys into `meter_keys`, and the old table dropped. Its indexes are renamed first so
    //   the new table's indexes (`meter_events_pkey`, `meter_events_by_request`, a
    //   partitioned index, one per partition) keep the v1 names.
    // * The append-only triggers are made again on the parent: row triggers of a partitioned
    //   table are cloned onto every partition, present and future; TRUNCATE fires on the
    //   parent. Dropping a partition fires no trigger: that is retention's one way to remove
    //   rows.
    //
    // One transaction (the migration's): a crash leaves v1 intact. It holds the log's lock
    // while it copies, so on a large v1 log the upgrade is a pause of the writers.
    Migration {
        version: 2,
        sql: "
        ALTER TABLE quota_overages DROP CONSTRAINT quota_overages_event_id_fkey;
        ALTER TABLE meter_events RENAME TO meter_events_v1;
        ALTER INDEX meter_events_pkey RENAME TO meter_events_v1_pkey;
        ALTER INDEX meter_events_tenant_idempotency_key_key RENAME TO meter_events_v1_key;
        ALTER INDEX meter_events_by_request RENAME TO meter_events_v1_by_request;

        CREATE SEQUENCE meter_event_ids AS BIGINT;
        SELECT setval('meter_event_ids', COALESCE(MAX(id), 0) + 1, false) FROM meter_events_v1;

        CREATE TABLE meter_events (
            id              BIGINT NOT NULL,
            tenant          TEXT   NOT NULL,
            idempotency_key TEXT   NOT NULL,
            request_id      TEXT   NOT NULL,
            module          TEXT   NOT NULL,
            tool            TEXT   NOT NULL,
            micro_units     BIGINT NOT NULL CHECK (micro_units >= 0),
            ts_ms           BIGINT NOT NULL,
            recorded_ms     BIGINT NOT NULL,
            PRIMARY KEY (id, recorded_ms)
        ) PARTITION BY RANGE (recorded_ms);
        CREATE INDEX meter_events_by_request ON meter_events (request_id);

        CREATE TABLE meter_keys (
            tenant          TEXT   NOT NULL,
            idempotency_key TEXT   NOT NULL,
            event_id        BIGINT NOT NULL,
            recorded_ms     BIGINT NOT NULL,
            PRIMARY KEY (tenant, idempotency_key)
        );
        CREATE INDEX meter_keys_by_recorded ON meter_keys (recorded_ms);

        -- One call per distinct day of recording (not per row); the function finds the month.
        SELECT ensure_month_partition('meter_events', d)
        FROM (SELECT DISTINCT recorded_ms / 86400000 * 86400000 AS d FROM meter_events_v1) days;
        INSERT INTO meter_events
            (id, tenant, idempotency_key, request_id, module, tool, micro_units, ts_ms, recorded_ms)
        SELECT id, tenant, idempotency_key, request_id, module, tool, micro_units, ts_ms, recorded_ms
        FROM meter_events_v1;
        INSERT INTO meter_keys (tenant, idempotency_key, event_id, recorded_ms)
        SELECT tenant, idempotency_key, id, recorded_ms FROM meter_events_v1;
        DROP TABLE meter_events_v1;

        CREATE TRIGGER meter_events_no_change BEFORE UPDATE OR DELETE ON meter_events
            FOR EACH ROW EXECUTE FUNCTION meter_events_append_only();
        CREATE TRIGGER meter_events_no_truncate BEFORE TRUNCATE ON meter_events
            FOR EACH STATEMENT EXECUTE FUNCTION meter_events_append_only();
        ",
    },
];
