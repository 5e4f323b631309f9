//! The upgrade of a v1 event log with its data to the partitioned log of v2, on a real server
//! (feature `postgres-tests`): ids, keys, totals and the append-only rule survive it. Each test
//! works in its own schema.

mod common;

use common::{billing_tables, count, dump, event, event_id, raw};
use postgres_kit::partitions;
use postgres_kit::testing::TestSchema;
use usage_store::period::{HOUR_MS, utc_midnight_ms};
use usage_store::{MeterEvent, MeterOutcome, UsageBackend, UsageError};
use usage_store_postgres::schema::MIGRATIONS;
use usage_store_postgres::{APPLICATION_NAME, PostgresUsageStore};

/// A v1 schema with events in three months (and an id far above the others), its roll-ups and
/// a soft-quota audit row, upgraded by opening the store: every event keeps its id and its
/// key, request totals are unchanged, old keys still deduplicate and conflict, new ids are
/// above every old one, and the log is partitioned, append-only, with the v1 index names.
#[test]
fn upgrading_a_v1_log_keeps_every_event_its_id_and_its_key() {
    let schema = TestSchema::new();
    let options = schema.options(APPLICATION_NAME);
    drop(postgres_kit::open(&options, &MIGRATIONS[..1]).expect("a v1 schema"));
    let mut client = raw(&schema);
    let months = [(2025, 11), (2025, 12), (2026, 1)];
    for i in 0..12i64 {
        let (y, m) = months[i as usize % 3];
        let recorded = utc_midnight_ms(y, m, 3) + i * HOUR_MS;
        let id = if i == 11 { "1000" } else { "DEFAULT" };
        client
            .execute(
                &format!(
                    "INSERT INTO meter_events (id, tenant, idempotency_key, request_id, module,
                         tool, micro_units, ts_ms, recorded_ms) OVERRIDING SYSTEM VALUE
                     VALUES ({id}, $1, $2, $3, 'search', 'tool', $4, $5, $6)"
                ),
                &[
                    &if i < 6 { "acme" } else { "beta" },
                    &format!("k{i}"),
                    &format!("req-{}", i % 4),
                    &((i + 1) * 250_000),
                    &(recorded - 1000),
                    &recorded,
                ],
            )
            .unwrap();
    }
    client
        .batch_execute(
            "INSERT INTO usage_daily SELECT tenant, ts_ms / 86400000 * 86400000, module,
                 SUM(micro_units), COUNT(*) FROM meter_events GROUP BY 1, 2, 3;
             INSERT INTO usage_hourly SELECT tenant, ts_ms / 3600000 * 3600000, module,
                 SUM(micro_units), COUNT(*) FROM meter_events GROUP BY 1, 2, 3;
             INSERT INTO quota_overages VALUES (1, 'acme', 0, 1, 1);",
        )
        .unwrap();
    let events_sql = "SELECT id, tenant, idempotency_key, request_id, module, tool, micro_units,
                             ts_ms, recorded_ms FROM meter_events ORDER BY id";
    let before = dump(&mut client, events_sql);
    let totals_sql = "SELECT request_id, SUM(micro_units), COUNT(*) FROM meter_events
                      GROUP BY 1 ORDER BY 1";
    let totals = dump(&mut client, totals_sql);
    let billing = billing_tables(&mut client);

    let store = PostgresUsageStore::open_with(&options).expect("upgrade to v2");
    assert_eq!(
        dump(&mut client, events_sql),
        before,
        "every event, with its id"
    );
    assert_eq!(dump(&mut client, totals_sql), totals);
    assert_eq!(
        billing_tables(&mut client),
        billing,
        "roll-ups and audit kept"
    );
    assert_eq!(
        dump(
            &mut client,
            "SELECT event_id, tenant, idempotency_key, recorded_ms FROM meter_keys ORDER BY 1"
        ),
        dump(
            &mut client,
            "SELECT id, tenant, idempotency_key, recorded_ms FROM meter_events ORDER BY 1"
        ),
        "one key per event"
    );
    for row in dump(&mut client, totals_sql) {
        let cols: Vec<&str> = row.split('|').collect();
        let usage = store.request_usage(cols[0]).unwrap().unwrap();
        assert_eq!(usage.run_units, cols[1].parse::<f64>().unwrap() / 1e6);
        assert_eq!(usage.events, cols[2].parse::<u64>().unwrap());
    }
    // Each old row sits in the partition of its month of recording.
    let placed = dump(
        &mut client,
        "SELECT tableoid::regclass::text, recorded_ms FROM meter_events",
    );
    let listed = partitions::list(&mut client, "meter_events").unwrap();
    for row in placed {
        let (name, recorded) = row.split_once('|').unwrap();
        let holder = listed.iter().find(|p| p.name == name).unwrap();
        let recorded: i64 = recorded.parse().unwrap();
        assert_eq!(Some(holder.from_ms), partitions::month_start_ms(recorded));
    }
    for name in ["p202511", "p202512", "p202601"] {
        assert!(
            listed
                .iter()
                .any(|p| p.name == format!("meter_events_{name}"))
        );
    }

    // Old keys: the same event is a duplicate of its old id, another one a conflict.
    let old = |tool: &str| MeterEvent {
        tenant: "acme".into(),
        request_id: "req-3".into(),
        module: "search".into(),
        tool: tool.into(),
        run_units: 1.0,
        timestamp_ms: utc_midnight_ms(2025, 11, 3) + 3 * HOUR_MS - 1000,
        idempotency_key: "k3".into(),
    };
    let k3: i64 = client
        .query_one(
            "SELECT id FROM meter_events WHERE idempotency_key = 'k3'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        store.meter(&old("tool")).unwrap(),
        MeterOutcome::Duplicate { event_id: k3 }
    );
    let err = store.meter(&old("other-tool")).unwrap_err();
    assert!(
        matches!(err, UsageError::IdempotencyConflict { .. }),
        "{err:?}"
    );
    let new = event("acme", "new", "req-new", 1.0, utc_midnight_ms(2026, 1, 5));
    assert!(
        event_id(store.meter(&new).unwrap()) > 1000,
        "above the old ids"
    );

    // The audit row outlives its event's foreign key; the log is append-only on every
    // partition; the indexes have the v1 names and nothing of the old table is left.
    let fks = "SELECT COUNT(*) FROM pg_constraint
               WHERE contype = 'f' AND conrelid = 'quota_overages'::regclass";
    assert_eq!(count(&mut client, fks), 0);
    for abuse in [
        "UPDATE meter_events SET micro_units = 0",
        "DELETE FROM meter_events_p202511",
        "UPDATE meter_events_p202601 SET micro_units = 0",
        "TRUNCATE meter_events",
    ] {
        let err = client.batch_execute(abuse).unwrap_err();
        assert!(
            err.as_db_error()
                .is_some_and(|e| e.message().contains("append-only")),
            "{abuse}: {err:?}"
        );
    }
    assert_eq!(
        dump(
            &mut client,
            "SELECT relname, relkind FROM pg_class
             WHERE relnamespace = current_schema()::regnamespace
               AND (relname IN ('meter_events_pkey', 'meter_events_by_request')
                    OR relname LIKE 'meter_events_v1%')
             ORDER BY 1"
        ),
        ["meter_events_by_request|I", "meter_events_pkey|I"]
    );
}
