//! Request-level errors: the whole request is refused and nothing is written. Each
//! endpoint renders them in its own dialect (see [`crate::http::dialect`]).

use http::StatusCode;

use crate::auth::AuthError;
use crate::domain::UserInputError;
use crate::domain::json::BodyError;

/// Why a request was refused as a whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No token, or one that does not verify.
    #[error("Log In")]
    Unauthenticated(AuthError),
    /// A valid token without the admin role.
    #[error("Administrator rights required")]
    Forbidden,
    /// A structural problem with the body (texts fixed by the contract).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// An item with `auth_factors: []` (the upsert's own text).
    #[error("auth_factors must contain at least one item")]
    EmptyAuthFactors,
    /// An empty list of items (the contract's text).
    #[error("List cannot be empty")]
    EmptyList,
    /// More items than the configured limit.
    #[error("List cannot contain more than {max} items")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
    /// A body larger than the configured limit.
    #[error("Request body cannot be larger than {max} bytes")]
    BodyTooLarge {
        /// The limit.
        max: usize,
    },
    /// A bad filter query (delete by filter): no filter, an unknown parameter or a bad
    /// value.
    #[error(transparent)]
    Filter(#[from] crate::domain::filter::FilterError),
    /// The one user the request names does not exist (the filter delete's `user_id`).
    #[error("Object not found")]
    NotFound,
    /// A body in a format the endpoint does not read (its dialect names the formats).
    #[error("Unsupported content type")]
    UnsupportedMediaType,
    /// A request with an `Idempotency-Key` that cannot run (see [`crate::http::idempotency::refusal`]).
    #[error(transparent)]
    Idempotency(#[from] crate::http::idempotency::refusal::Refusal),
    /// The store failed before anything was written; the client may retry.
    #[error("Service temporarily unavailable, try again later")]
    Unavailable,
    /// A SCIM request refused for what it says: its status, SCIM `scimType` (RFC 7644
    /// §3.12) and `detail` (only the SCIM dialect produces it).
    #[error("{detail}")]
    Scim {
        /// The HTTP status.
        status: u16,
        /// `invalidFilter`, `uniqueness`, `invalidValue`, ...
        scim_type: Option<&'static str>,
        /// For people.
        detail: String,
    },
}

impl RequestError {
    /// The HTTP status of the error in every dialect.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            RequestError::Forbidden => StatusCode::FORBIDDEN,
            RequestError::NotFound => StatusCode::NOT_FOUND,
            RequestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestError::Idempotency(r) => r.status(),
            RequestError::Scim { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<UserInputError> for RequestError {
    fn from(e: UserInputError) -> Self {
        match e {
            UserInputError::Body(b) => RequestError::Body(b),
            UserInputError::EmptyAuthFactors => RequestError::EmptyAuthFactors,
        }
    }
}
