//! The command line (clap derive). The token is deliberately not an option: a value on the
//! command line is visible to every user of the machine (`ps`) and lands in shell history.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `usersync`: keep the user directory equal to an HR export.
#[derive(Debug, Parser)]
#[command(name = "usersync", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate FILE, then create or update its users (and, with --delete-missing, delete
    /// the users of the scope that are not in it).
    ///
    /// Row numbers in messages and reports: for CSV the 1-based data row (row 1 is the
    /// first row after the header), for JSON Lines the 1-based line of the file.
    /// The token comes from USERSYNC_TOKEN or --token-file, never from the command line.
    /// Exit codes: 0 all applied, 1 some rows failed, 2 usage/validation/safety refusal
    /// (nothing sent), 3 authentication or connectivity failure, 130 interrupted.
    Push(PushArgs),
    /// Validate FILE only (the first pass of `push`), offline: prints the same
    /// `row N, column C: message` lines and exits 0 when the file is valid, 2 when not.
    Check(CheckArgs),
}

/// The input file and how to read it; shared by `push` and `check`.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// The HR export: CSV with a header row, or JSON Lines (one user object per line).
    pub file: PathBuf,

    /// The file's format; by default told by its extension (.csv, .jsonl, .ndjson).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// A JSON object mapping other CSV header names to the user's fields, e.g.
    /// {"Employee ID": "link_id", "Full name": "name", "Badge": "card", "Cost centre": null}
    /// (null: ignore that column).
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
}

/// `usersync check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The input.
    #[command(flatten)]
    pub input: InputArgs,

    /// Check as `push --delete-missing` would: every row must carry a link_id.
    #[arg(long)]
    pub delete_missing: bool,
}

/// `usersync push`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The input.
    #[command(flatten)]
    pub input: InputArgs,

    /// The API's base URL, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "USERSYNC_URL")]
    pub url: String,

    /// A file whose content (trimmed) is the admin token; otherwise USERSYNC_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,

    /// Retries of one request (transport errors, 409, 429, 5xx), and re-sends of items
    /// answered not_processed, before giving up on them.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(0..=30))]
    pub max_retries: u32,

    /// At most N items per request, below the server's own limit (smaller requests:
    /// shorter answers, finer resume points). A resumed run keeps the recorded chunking.
    #[arg(long, env = "USERSYNC_MAX_ITEMS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_items: Option<u64>,

    /// Seconds one HTTP request may take before it is retried.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// Send every request with ?dry_run=true: the server answers what would happen and
    /// writes nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Record progress in STATE (created if missing); a run with the same STATE skips the
    /// chunks already confirmed and refuses when the input file changed.
    #[arg(long, value_name = "STATE")]
    pub resume: Option<PathBuf>,

    /// Write a JSON report: {"dry_run", "interrupted", "summary", "failures"}.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Write the failed input rows, in the input's format, with an `error` column (CSV)
    /// or member (JSON Lines), ready to fix and push again.
    #[arg(long, value_name = "FILE")]
    pub failed_rows: Option<PathBuf>,

    /// No progress on stderr (warnings and errors still print).
    #[arg(long, short)]
    pub quiet: bool,

    /// After the push, delete the users of the scope whose link_id is not in the file
    /// (soft delete, restorable, unless --hard-delete). They are listed, and checked
    /// against --max-delete, before anything is sent. Every row needs a link_id.
    #[arg(long)]
    pub delete_missing: bool,

    /// Limit --delete-missing to the users a read-API filter finds, e.g.
    /// user_type=employee (repeatable; combined with AND).
    #[arg(long, value_name = "KEY=VALUE", requires = "delete_missing")]
    pub scope: Vec<String>,

    /// Refuse the whole deletion (nothing sent, exit 2) when more users than this would be
    /// deleted: a count (N) or a share of the users in scope (P%, rounded down).
    #[arg(
        long,
        value_name = "N|P%",
        default_value = "5%",
        requires = "delete_missing"
    )]
    pub max_delete: String,

    /// Delete for good (DELETE /api/v1/users/bulk) instead of the soft delete.
    #[arg(long, requires = "delete_missing")]
    pub hard_delete: bool,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// CSV with a header row.
    Csv,
    /// JSON Lines: one user object per line.
    Jsonl,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn push_parses_its_options_and_defaults() {
        let cli = Cli::try_parse_from([
            "usersync",
            "push",
            "people.csv",
            "--url",
            "http://127.0.0.1:9000",
            "--delete-missing",
            "--scope",
            "user_type=employee",
            "--scope",
            "active=true",
        ])
        .unwrap();
        let Command::Push(args) = cli.command else {
            panic!("not push")
        };
        assert_eq!(args.concurrency, 4);
        assert_eq!(args.max_retries, 8);
        assert_eq!(args.max_delete, "5%");
        assert_eq!(args.scope, ["user_type=employee", "active=true"]);
        assert!(!args.dry_run);
    }

    #[test]
    fn scope_without_delete_missing_and_a_token_option_are_usage_errors() {
        let e = Cli::try_parse_from([
            "usersync", "push", "a.csv", "--url", "http://x", "--scope", "a=b",
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(Cli::try_parse_from(["usersync", "push", "a.csv", "--url", "http://x"]).is_ok());
        let e = Cli::try_parse_from([
            "usersync", "push", "a.csv", "--url", "http://x", "--token", "t",
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
