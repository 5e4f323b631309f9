//! `admin-api`: serves the admin API (`serve`) or prints its OpenAPI document (`openapi`).

use admin_api::{AppState, ServerConfig};
use anyhow::Context;
use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Openapi => {
            print!("{}", admin_api::openapi_document());
            Ok(())
        }
        Command::Serve(config) => serve(*config),
    }
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
