//! Exit codes and the errors that end a run before or outside the per-row accounting.

use std::process::ExitCode;

/// How a run ends, as the process exit code scripts test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: everything applied.
    Success,
    /// 1: some rows or deletions failed (the report says which).
    RowsFailed,
    /// 2: usage, validation, resume-state or safety refusal; nothing was sent or deleted.
    Usage,
    /// 3: the server refused the token (401/403) or could not be reached.
    AuthOrConnect,
    /// 130: interrupted by SIGINT or SIGTERM.
    Interrupted,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::RowsFailed => 1,
            Exit::Usage => 2,
            Exit::AuthOrConnect => 3,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// A failure that ends the run as a whole (per-row failures are counted, not raised).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad option, an unreadable or malformed input, mapping or state file.
    #[error("{0}")]
    Usage(String),
    /// The input does not validate: the messages were printed, nothing was sent.
    #[error("{0} invalid rows; nothing was sent")]
    Invalid(u64),
    /// `--max-delete` would be exceeded: nothing was sent or deleted.
    #[error("{0}")]
    Safety(String),
    /// 401 or 403: the token is missing its rights or is not accepted.
    #[error("authentication failed: {0} (check USERSYNC_TOKEN or --token-file)")]
    Auth(String),
    /// The server could not be reached (after the retries).
    #[error("cannot reach the server: {0}")]
    Connect(String),
    /// SIGINT or SIGTERM before anything was sent.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The exit code this failure ends the run with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) | Error::Invalid(_) | Error::Safety(_) => Exit::Usage,
            Error::Auth(_) | Error::Connect(_) => Exit::AuthOrConnect,
            Error::Interrupted => Exit::Interrupted,
        }
    }
}

impl From<crate::input::InputError> for Error {
    fn from(e: crate::input::InputError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<crate::state::StateError> for Error {
    fn from(e: crate::state::StateError) -> Self {
        Error::Usage(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::RowsFailed.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::AuthOrConnect.code(), 3);
        assert_eq!(Exit::Interrupted.code(), 130);
        assert_eq!(Error::Safety("x".into()).exit(), Exit::Usage);
        assert_eq!(Error::Auth("x".into()).exit(), Exit::AuthOrConnect);
        assert_eq!(Error::Connect("x".into()).exit(), Exit::AuthOrConnect);
    }
}
