//! Test support (feature `testing`): the test server's URL, and a fresh schema per test that
//! is dropped when the test ends, passed or panicked, so tests run in parallel on one
//! database and leave nothing behind.

use crate::{KitError, Options};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming the test database.
pub const DATABASE_URL_VAR: &str = "OTC_TEST_DATABASE_URL";
/// The test database when [`DATABASE_URL_VAR`] is unset: the local server's `test` database.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Every test schema's name starts with this, so one left by a killed run is easy to find.
pub const SCHEMA_PREFIX: &str = "otc_test_";

/// [`DATABASE_URL_VAR`] if set and not empty, else [`DEFAULT_DATABASE_URL`].
pub fn database_url() -> String {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// A schema name no other test (in this process or another) uses: `otc_test_`, the process
/// id, the clock and a counter.
pub fn unique_schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{SCHEMA_PREFIX}{}_{nanos:x}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh schema name in the test database; the schema (created by whoever opens a store
/// in it) is dropped with everything in it when this guard is dropped.
#[derive(Debug)]
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// A new unique schema name in the database at [`database_url`].
    pub fn new() -> Self {
        Self {
            url: database_url(),
            name: unique_schema_name(),
        }
    }

    /// The test database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Options for a store in this schema.
    pub fn options(&self, application_name: &str) -> Options {
        Options::new(&self.url, &self.name, application_name).expect("the test database URL parses")
    }

    /// A plain session on the schema with the stores' session settings, to write and read rows
    /// a store's trait does not expose (and to corrupt them on purpose).
    pub fn client(&self) -> postgres::Client {
        let mut client = self
            .options("otc-test-inspect")
            .config()
            .connect(postgres::NoTls)
            .expect("the test database accepts a session");
        client
            .batch_execute(&crate::session_setup(&self.name).expect("a valid schema name"))
            .expect("the session settings apply");
        client
    }

    /// Drops the schema now (also what `Drop` does).
    pub fn drop_schema(&self) -> Result<(), KitError> {
        let mut client = self
            .options("otc-test-cleanup")
            .config()
            .connect(postgres::NoTls)?;
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))?;
        Ok(())
    }
}

impl Default for TestSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let result = self.drop_schema();
        // A test that passed must not leave its schema behind; one that is already failing
        // keeps its own panic (a second one would abort the test binary).
        if let Err(e) = result
            && !std::thread::panicking()
        {
            panic!("could not drop test schema {}: {e}", self.name);
        }
    }
}
