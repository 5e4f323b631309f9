//! What every command that prints a report shares: the `--format` choice and plurals.

use clap::ValueEnum;

/// Output format of `otc import` and `otc checkpoints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: a summary line, or an aligned table (`table` is accepted too).
    #[value(alias = "table")]
    Text,
    /// For scripts: JSON.
    Json,
}

/// `1 line`, `2 lines`, `0 lines`.
pub fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}
