//! Why the server could not start: what `AppState::open` and the bootstrap steps report.

use admin_store::AdminError;
use std::path::PathBuf;

/// Failures while opening the state at startup (never seen by HTTP clients).
///
/// A variant with a cause does not repeat it in its own message: the cause is its `source()`,
/// so a printer walking the chain (`{:#}` of anyhow) shows it exactly once.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file or directory could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The admin store could not be opened, migrated or seeded.
    #[error("admin database")]
    Admin(#[from] AdminError),
    /// A store (usage, policy) could not be opened.
    #[error("{0}")]
    Store(String),
    /// A configuration value or default file is invalid.
    #[error("{0}")]
    Config(String),
}
