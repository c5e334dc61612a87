//! The `Result` answer as a value: what an answer of the soft delete and restore says,
//! whichever format it is written in (see [`super::json`] and [`super::xml`]).

use std::collections::HashSet;

use crate::domain::LinkId;
use crate::domain::json::BodyError;
use crate::http::error::RequestError;
use crate::http::negotiate::Format;
use crate::service::removal::RemovalOutcome;

/// One entry of `messages`. `kind` is rendered as "type" (a Rust keyword).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultMessage {
    /// The contract's message `type`; always [`MESSAGE_ERROR`] here.
    pub kind: i32,
    /// The HTTP status number of the problem, so clients can branch on it per message.
    pub code: i32,
    /// Human-readable text; for body errors the same texts as the JSON dialect.
    pub message: String,
    /// The offending field as a JSON path (`ids[1]`), when there is one.
    pub field: Option<String>,
}

/// What `data` holds: the operation and the ids it applied to (in request order, once each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultData {
    /// `true` when the ids were deleted, `false` when restored.
    pub deleted: bool,
    /// The ids the operation applied to.
    pub ids: Vec<LinkId>,
}

/// The `Result` object. `id`, `name`, `url` and `inner_exception` are always null here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultBody {
    /// One entry per problem.
    pub messages: Vec<ResultMessage>,
    /// How many of `messages` are errors (the contract's `count_of_errors`).
    pub count_of_errors: usize,
    /// The outcome, or null when nothing was done.
    pub data: Option<ResultData>,
    /// A free summary for people.
    pub text: Option<String>,
}

impl ResultBody {
    /// No id was applied and every message is a 503 (not processed): DynamoDB could not
    /// be reached or kept throttling for the whole request, so the request is answered
    /// 503 as a whole.
    pub fn nothing_confirmed(&self) -> bool {
        let applied = self.data.as_ref().is_some_and(|d| !d.ids.is_empty());
        !applied && !self.messages.is_empty() && self.messages.iter().all(|m| m.code == 503)
    }
}

/// `type` of every message this service emits (an error).
pub const MESSAGE_ERROR: i32 = 1;

/// The `messages` entry of a request-level error, for a body read as `body`.
///
/// Body errors use the JSON dialect's texts with the format's name ("Wrong XML body: no
/// value for `ids`") and name the field; list errors name `ids`; the others are the
/// error's own text without a field.
pub fn error_message(err: &RequestError, body: Format) -> ResultMessage {
    let name = match body {
        Format::Json => "JSON",
        Format::Xml => "XML",
    };
    let (message, field) = match err {
        RequestError::Body(BodyError::Malformed) => (format!("Wrong {name} body"), None),
        RequestError::Body(BodyError::Missing(p)) => (
            format!("Wrong {name} body: no value for `{p}`"),
            Some(p.to_string()),
        ),
        RequestError::Body(BodyError::WrongType(p)) => (
            format!("Wrong {name} body: value `{p}` was of the wrong type"),
            Some(p.to_string()),
        ),
        RequestError::EmptyList | RequestError::TooManyItems { .. } => {
            (err.to_string(), Some("ids".to_owned()))
        }
        RequestError::Unauthenticated(_)
        | RequestError::Forbidden
        | RequestError::EmptyAuthFactors
        | RequestError::BodyTooLarge { .. }
        | RequestError::UnsupportedMediaType
        | RequestError::Filter(_)
        | RequestError::NotFound
        | RequestError::Unavailable
        | RequestError::Scim { .. } => (err.to_string(), None),
        RequestError::Idempotency(_) => (err.to_string(), Some("Idempotency-Key".to_owned())),
    };
    ResultMessage {
        kind: MESSAGE_ERROR,
        code: i32::from(err.status().as_u16()),
        message,
        field,
    }
}

/// The `Result` of a soft delete or restore: one message per id that was not applied
/// (`code` 404 not found, 503 not processed; `field` `ids[i]`), `data` holding the
/// operation and the ids applied (each once, in request order), `text` a summary.
pub fn removal_result(ids: &[LinkId], outcomes: &[RemovalOutcome], deleted: bool) -> ResultBody {
    let mut messages = Vec::new();
    let mut applied = Vec::new();
    let mut seen = HashSet::new();
    for (i, (id, outcome)) in ids.iter().zip(outcomes).enumerate() {
        let (code, message) = match outcome {
            RemovalOutcome::Applied => {
                if seen.insert(*id) {
                    applied.push(*id);
                }
                continue;
            }
            RemovalOutcome::NotFound | RemovalOutcome::Skipped => {
                (404, format!("User {id} not found"))
            }
            RemovalOutcome::NotProcessed => (
                503,
                format!("User {id} was not processed before the deadline; send it again"),
            ),
        };
        messages.push(ResultMessage {
            kind: MESSAGE_ERROR,
            code,
            message,
            field: Some(format!("ids[{i}]")),
        });
    }
    let verb = if deleted { "deleted" } else { "restored" };
    ResultBody {
        count_of_errors: messages.len(),
        text: Some(format!(
            "{} of {} users {verb}",
            applied.len(),
            seen_count(ids)
        )),
        messages,
        data: Some(ResultData {
            deleted,
            ids: applied,
        }),
    }
}

fn seen_count(ids: &[LinkId]) -> usize {
    ids.iter().collect::<HashSet<_>>().len()
}
