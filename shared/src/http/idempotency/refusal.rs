//! Why a request with an `Idempotency-Key` is refused before anything is done; every
//! dialect answers these with the same statuses.

use http::StatusCode;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// Why a request with a key is refused before anything is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Empty, longer than [`MAX_KEY_LEN`], or not visible ASCII.
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    Invalid,
    /// A request with this key is still running.
    #[error("A request with this Idempotency-Key is still in progress; try again later")]
    InProgress,
    /// The key was used for a different request.
    #[error("Idempotency-Key was already used for a different request")]
    Mismatch,
}

impl Refusal {
    /// The HTTP status in every dialect.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Invalid => StatusCode::BAD_REQUEST,
            Refusal::InProgress => StatusCode::CONFLICT,
            Refusal::Mismatch => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}
