//! `admin-api`: serves the admin API (`serve`), prints its OpenAPI document (`openapi`), or
//! drops old months of the PostgreSQL logs (`retention`).

use admin_api::{AppState, ServerConfig};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The orchestrator's admin API server.
#[derive(Debug, Parser)]
#[command(name = "admin-api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the admin API. Creates the data directory (SQLite files, token and key files) on
    /// first start. Prints `admin-api listening on http://ADDR` once it accepts connections.
    Serve(Box<ServerConfig>),
    /// Print the OpenAPI document (regenerate the committed copy with
    /// `admin-api openapi > crates/admin-api/openapi.json`).
    Openapi,
    /// Drop the months of the PostgreSQL logs before a date (trajectories, reward events,
    /// decisions, meter events), keeping checkpoints, roll-ups and quotas exact. Prints what
    /// went as JSON. Run it beside serving replicas, e.g. monthly.
    Retention(admin_api::retention::RetentionArgs),
}

/// Runs the command; a failure is one line on stderr (`admin-api: error: …` with its causes)
/// and exit status 1. Returning `anyhow::Result` from `main` would print its `Debug` form
/// instead: several lines, and a backtrace whenever `RUST_BACKTRACE` is set.
fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Openapi => {
            print!("{}", admin_api::openapi_document());
            Ok(())
        }
        Command::Serve(config) => serve(*config),
        Command::Retention(args) => admin_api::retention::run(&args)
            .map(|report| println!("{report:#}"))
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("admin-api: error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by `: `, each cause once: some library errors repeat
/// their source in their own message, and that text is not shown a second time.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn serve(config: ServerConfig) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log).context("invalid --log filter")?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let state = AppState::open(&config).context("starting admin-api")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        println!("admin-api listening on http://{addr}");
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "admin-api started");
        admin_api::server::run(listener, state, admin_api::server::shutdown_signal()).await?;
        tracing::info!("admin-api stopped");
        anyhow::Ok(())
    })
}
