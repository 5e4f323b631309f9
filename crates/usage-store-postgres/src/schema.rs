//! The usage store's PostgreSQL schema: one ordered list, applied by `postgres_kit::open` in
//! the store's own PostgreSQL schema (namespace).
//!
//! The tables are those of the SQLite backend (`usage-store-sqlite/src/schema.rs`, where each
//! is explained) in PostgreSQL's types: run-units as `BIGINT` micro-units, times as `BIGINT`
//! Unix ms. A new migration is one appended entry with the next version number; never edit an
//! entry that has shipped.

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
];
