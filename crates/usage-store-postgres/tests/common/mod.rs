//! Helpers of the partitioned-log tests (`upgrade.rs`, `retention.rs`): a raw session on the
//! store's schema, row dumps that compare two states exactly, and events.

use postgres_kit::testing::TestSchema;
use usage_store::{MeterEvent, MeterOutcome};

/// A session outside the store, on the store's schema, for reading (and abusing) its tables.
pub fn raw(schema: &TestSchema) -> postgres::Client {
    schema.client()
}

pub fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// Every row of `sql`'s result, each as its columns' text, so two states compare exactly.
pub fn dump(client: &mut postgres::Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect()
}

/// The tables retention must never touch, row by row.
pub fn billing_tables(client: &mut postgres::Client) -> Vec<String> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT * FROM usage_hourly ORDER BY tenant, bucket_ms, module",
        "SELECT * FROM usage_daily ORDER BY tenant, bucket_ms, module",
        "SELECT * FROM quotas ORDER BY tenant",
        "SELECT * FROM quota_overages ORDER BY event_id",
    ] {
        rows.push(sql.to_owned());
        rows.extend(dump(client, sql));
    }
    rows
}

pub fn event(tenant: &str, key: &str, request: &str, units: f64, ts_ms: i64) -> MeterEvent {
    MeterEvent {
        tenant: tenant.into(),
        request_id: request.into(),
        module: if key.len().is_multiple_of(2) {
            "search"
        } else {
            "llm"
        }
        .into(),
        tool: "tool".into(),
        run_units: units,
        timestamp_ms: ts_ms,
        idempotency_key: key.into(),
    }
}

pub fn event_id(outcome: MeterOutcome) -> i64 {
    match outcome {
        MeterOutcome::Recorded { event_id, .. } | MeterOutcome::Duplicate { event_id } => event_id,
    }
}
