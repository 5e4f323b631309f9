//! The showroom: starts the real `admin-api` binary on a free port with a fresh data directory,
//! walks through every endpoint group as a user would, and prints a readable transcript
//! (request, status, the part of the answer that matters). Every step ends in a `PASS` or `FAIL`
//! line; the last line is `showroom: N passed, M failed`, and the exit status is non-zero on any
//! unexpected answer. The server is always stopped, even when a step panics.
//!
//! Run it with `cargo xtask showroom` (or as part of `cargo xtask verify`). `ADMIN_API_BIN`
//! names the binary to start; without it the binary is built with cargo. With
//! `SHOWROOM_DATABASE_URL` the server keeps its stores in that PostgreSQL database, in schemas
//! of its own that are dropped at the end (the gate's postgres step runs it so).

mod policy;
mod tour;
mod walk;

use std::process::ExitCode;
use suites::admin::{TestServer, temp_dir};

/// The PostgreSQL schemas of a showroom pass, dropped when this is dropped.
struct Schemas {
    url: String,
    prefix: String,
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.url, postgres::NoTls).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{p}admin\", \"{p}usage\", \"{p}policy\" CASCADE",
                p = self.prefix
            ))
        });
        if let Err(e) = dropped {
            println!("FAIL dropping the showroom's schemas {}*: {e}", self.prefix);
        }
    }
}

fn main() -> ExitCode {
    let data = temp_dir();
    let schemas = std::env::var("SHOWROOM_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .map(|url| Schemas {
            url,
            prefix: format!("otc_showroom_{}_{}_", std::process::id(), suites::now_ms()),
        });
    let mut args: Vec<String> = Vec::new();
    match &schemas {
        Some(s) => {
            println!(
                "showroom: the stores are in PostgreSQL (schemas {}*)",
                s.prefix
            );
            args.extend([
                "--database-url".into(),
                s.url.clone(),
                "--database-schema-prefix".into(),
                s.prefix.clone(),
            ]);
        }
        None => println!(
            "showroom: starting admin-api with a fresh data directory {}",
            data.path().display()
        ),
    }
    let outcome = std::panic::catch_unwind(|| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = TestServer::binary(data.path(), &args);
        println!("showroom: admin-api is listening on {}\n", server.base);
        let mut walk = walk::Walk::new(&server);
        tour::run(&mut walk, &server);
        let counts = (walk.passed, walk.failed);
        // Stopping is part of the tour: a server that will not stop on SIGTERM is a failure.
        server.stop();
        counts
    });
    let (passed, failed) = match outcome {
        Ok(counts) => counts,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            println!("FAIL showroom aborted: {why}");
            (0, 1)
        }
    };
    drop(schemas);
    println!("\nshowroom: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
