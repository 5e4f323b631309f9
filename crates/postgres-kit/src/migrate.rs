//! Ordered, embedded schema migrations, versioned per store in its schema's
//! `schema_migrations` table (one row per applied step).

use crate::KitError;
use postgres::Client;

/// The table, in each store's schema, that records which migrations were applied.
pub const MIGRATIONS_TABLE: &str = "schema_migrations";

/// One schema step. `version` starts at 1 and increases by one per step; `sql` may hold
/// several statements and runs inside one transaction together with its `schema_migrations`
/// row. Unqualified names land in the store's schema (the session's `search_path`).
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version this step produces.
    pub version: i64,
    /// The statements of the step.
    pub sql: &'static str,
}

/// Refuses a migration list whose versions are not 1, 2, 3, ... in order.
pub(crate) fn check_list(migrations: &[Migration]) -> Result<(), KitError> {
    for (index, step) in migrations.iter().enumerate() {
        let expected = index as i64 + 1;
        if step.version != expected {
            return Err(KitError::BadMigrationList {
                expected,
                found: step.version,
            });
        }
    }
    Ok(())
}

/// The highest version recorded in the session's store schema (0 when none was applied).
pub fn schema_version(client: &mut impl postgres::GenericClient) -> Result<i64, KitError> {
    let row = client.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        &[],
    )?;
    Ok(row.get(0))
}

/// Creates the schema and its `schema_migrations` table if needed, then applies, in order,
/// every migration newer than the recorded version, each in its own transaction together with
/// its row, so a crash mid-upgrade leaves the schema at the last complete version.
///
/// Every transaction first takes a transaction-level advisory lock named after the schema,
/// so replicas starting at once migrate one after another (the others find the work done),
/// and `CREATE SCHEMA IF NOT EXISTS` cannot race itself.
pub fn migrate(
    client: &mut Client,
    schema: &str,
    migrations: &[Migration],
) -> Result<(), KitError> {
    check_list(migrations)?;
    crate::check_schema_name(schema)?;
    let key = lock_key(schema);
    let known = migrations.len() as i64;
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );"
    ))?;
    // Replaced at every start, so a newer build's version of the function wins; migrations
    // may call it (a partitioned table's first partitions).
    tx.batch_execute(crate::partitions::ENSURE_FUNCTION)?;
    let found = schema_version(&mut tx)?;
    tx.commit()?;
    if found > known {
        return Err(KitError::NewerSchema {
            schema: schema.to_owned(),
            found,
            known,
        });
    }
    for step in &migrations[found as usize..] {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
        // Another replica may have migrated while we waited for the lock.
        if schema_version(&mut tx)? >= step.version {
            continue;
        }
        tx.batch_execute(step.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&step.version],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The advisory lock key of a schema's migrations: [`crate::advisory_lock_key`] of a fixed
/// prefix and the schema name.
fn lock_key(schema: &str) -> i64 {
    crate::advisory_lock_key(&format!("postgres-kit migrate {schema}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_migration_list_is_refused() {
        let v2 = Migration {
            version: 2,
            sql: "",
        };
        assert!(matches!(
            check_list(&[v2]),
            Err(KitError::BadMigrationList {
                expected: 1,
                found: 2
            })
        ));
    }

    #[test]
    fn lock_keys_are_stable_and_per_schema() {
        assert_eq!(lock_key("otc_admin"), lock_key("otc_admin"));
        assert_ne!(lock_key("otc_admin"), lock_key("otc_usage"));
        // Pinned (checked against an independent FNV-1a): replicas of different builds must
        // agree on the key.
        assert_eq!(lock_key(""), 0xee3a_db84_751f_b4b6_u64 as i64);
    }
}
