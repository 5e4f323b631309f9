//! The usage store's schema as ordered, embedded migrations (applied by `sqlite_kit`).
//!
//! * `meter_events`: the append-only log, one row per metered tool call; triggers refuse
//!   `UPDATE` and `DELETE`. Idempotency is the `UNIQUE (tenant, idempotency_key)` constraint.
//!   Run-units are integer micro-units. Only two indexes beyond the primary key: the unique
//!   key and `request_id` (per-request totals); no `(tenant, ts_ms)` index, because no query
//!   scans raw events by time: the roll-ups answer those.
//! * `usage_hourly` / `usage_daily`: roll-ups per `(tenant, bucket start, module)`, updated in
//!   the same transaction as the event insert, so they are always exactly the log's sums.
//!   History reads them (a 30-day daily history is at most 30 × modules rows, whatever the
//!   log's size); quota checks sum at most 31 daily rows per module.
//! * `quotas`: one row per tenant with a quota.
//! * `quota_overages`: one row per event that went past a soft quota, with how far.

use sqlite_kit::Migration;

/// The migrations, in order. Never edit a released step: append a new one.
pub const MIGRATIONS: [Migration; 1] = [Migration {
    version: 1,
    sql: r#"
CREATE TABLE meter_events (
    id              INTEGER PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    request_id      TEXT    NOT NULL,
    module          TEXT    NOT NULL,
    tool            TEXT    NOT NULL,
    micro_units     INTEGER NOT NULL CHECK (micro_units >= 0),
    ts_ms           INTEGER NOT NULL,
    recorded_ms     INTEGER NOT NULL,
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX meter_events_by_request ON meter_events (request_id);
CREATE TRIGGER meter_events_no_update BEFORE UPDATE ON meter_events
BEGIN SELECT RAISE(ABORT, 'meter_events is append-only'); END;
CREATE TRIGGER meter_events_no_delete BEFORE DELETE ON meter_events
BEGIN SELECT RAISE(ABORT, 'meter_events is append-only'); END;

CREATE TABLE usage_hourly (
    tenant      TEXT    NOT NULL,
    bucket_ms   INTEGER NOT NULL,
    module      TEXT    NOT NULL,
    micro_units INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (tenant, bucket_ms, module)
) WITHOUT ROWID;

CREATE TABLE usage_daily (
    tenant      TEXT    NOT NULL,
    bucket_ms   INTEGER NOT NULL,
    module      TEXT    NOT NULL,
    micro_units INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (tenant, bucket_ms, module)
) WITHOUT ROWID;

CREATE TABLE quotas (
    tenant      TEXT    NOT NULL PRIMARY KEY,
    limit_micro INTEGER NOT NULL CHECK (limit_micro >= 0),
    period      TEXT    NOT NULL CHECK (period IN ('day', 'month')),
    kind        TEXT    NOT NULL CHECK (kind IN ('hard', 'soft')),
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE quota_overages (
    event_id        INTEGER NOT NULL PRIMARY KEY REFERENCES meter_events (id),
    tenant          TEXT    NOT NULL,
    period_start_ms INTEGER NOT NULL,
    limit_micro     INTEGER NOT NULL,
    over_micro      INTEGER NOT NULL CHECK (over_micro > 0)
);
CREATE INDEX quota_overages_by_tenant ON quota_overages (tenant, period_start_ms);
"#,
}];
