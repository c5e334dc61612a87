//! `usersync`: keep the user directory equal to an HR export.
//!
//! ```text
//! usersync push FILE [--url URL] [--token-file FILE] [--format csv|jsonl] [--map FILE]
//!                    [--concurrency N] [--max-retries N] [--timeout SECS] [--dry-run]
//!                    [--resume STATE] [--report FILE] [--failed-rows FILE] [--quiet]
//!                    [--delete-missing [--scope KEY=VALUE ...] [--max-delete N|P%] [--hard-delete]]
//! usersync check FILE [--format csv|jsonl] [--map FILE] [--delete-missing]
//! ```
//!
//! The server is `--url` or `USERSYNC_URL` (for `make dev`: `http://127.0.0.1:9000`); the
//! admin token is `USERSYNC_TOKEN` or the first line of `--token-file`, never an argument,
//! and is never printed. `cargo build -p usersync` leaves the binary in
//! `target/debug/usersync`; `cargo install --path tools/usersync` installs it.
//!
//! # What `push` does, in order
//!
//! 1. **Validation** (first pass over the file, nothing sent): every row becomes the upsert
//!    item and is read with the server's own parser ([`shared::domain::UserInput::from_json`]),
//!    so the client refuses exactly what the server would; duplicates inside the file are
//!    found (the same `link_id`, the same card number, the same PIN, each kept as a
//!    128-bit fingerprint with its first row, never as the string). Any invalid row: the
//!    `row N, column C: message` lines on stderr, nothing sent, exit 2. `N` is the 1-based
//!    data row of a CSV (the first row after the header is row 1; a quoted cell may span
//!    lines, a row is still one row) and the 1-based line of a JSON Lines file.
//! 2. **Limits** from `GET /scim/v2/ServiceProviderConfig` (`bulk.maxOperations` items and
//!    95 % of `bulk.maxPayloadSize` bytes per request; on a 404, 1000 items and 6,000,000
//!    bytes with a warning).
//! 3. With `--delete-missing`: the **listing** of the users in `--scope` and the
//!    `--max-delete` check, *before* anything is sent: a refusal sends nothing at all
//!    (exit 2).
//! 4. **Push** (second pass, streaming): chunks of `{"list_items": [...]}` sent
//!    `--concurrency` at a time to `POST /api/v1/users/bulk` (`?dry_run=true` with
//!    `--dry-run`), each with an `Idempotency-Key` (see [`key`]); retries and re-sends as in
//!    [`retry`] and [`send`].
//! 5. **Deletion** of the listed users missing from the export: soft delete
//!    (`POST /api/v1/users/bulk/delete`, restorable) or, with `--hard-delete`,
//!    `DELETE /api/v1/users/bulk`; chunked, retried and keyed the same way.
//! 6. The **report** (`--report`), the **failed rows** (`--failed-rows`, in the input's
//!    format with an `error` column or member) and, as the last line of stdout, the
//!    summary ([`report::summary_line`]):
//!    `usersync: 3000 rows: 2990 created, 0 updated, 0 deleted, 10 failed, 0 skipped (dry run)`.
//!
//! # Exit codes
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | everything applied |
//! | 1 | some rows (or deletions) failed; the report says which |
//! | 2 | usage, validation, resume-state or `--max-delete` refusal: nothing sent or deleted |
//! | 3 | authentication (401/403) or connectivity failure |
//! | 130 | interrupted (SIGINT, SIGTERM): the state is recorded, the summary printed |
//!
//! # Running it against the local stack
//!
//! ```text
//! make dev                                   # prints an admin token
//! export USERSYNC_URL=http://127.0.0.1:9000 USERSYNC_TOKEN=...
//! cargo build -p usersync
//! target/debug/usersync push people.csv --report report.json --failed-rows failed.csv
//! ```
//!
//! The README's section "usersync: keep the directory equal to an HR export" has the
//! column list, the mapping file, `--resume` and every choice this tool makes.

pub mod chunk;
pub mod cli;
pub mod client;
pub mod dedup;
pub mod error;
pub mod input;
pub mod key;
pub mod progress;
pub mod push;
pub mod reconcile;
pub mod report;
pub mod retry;
pub mod run;
pub mod send;
pub mod state;
pub mod stop;
pub mod validate;

pub use error::{Error, Exit};

/// Parses the command line, runs the command and turns the outcome into the exit code.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    let exit = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let exit = runtime.block_on(run::run(cli));
            // Do not wait for a reader thread a stop left behind.
            runtime.shutdown_background();
            exit
        }
        Err(e) => {
            eprintln!("usersync: cannot start the async runtime: {e}");
            Exit::Usage
        }
    };
    exit.into()
}
