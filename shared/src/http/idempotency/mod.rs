//! `Idempotency-Key`: a client that did not get an answer (a timeout, a dropped
//! connection) sends the same request again with the same key and gets the first answer
//! back instead of applying the request twice.
//!
//! The key is scoped to the endpoint and the caller (the token's `sub`). The first
//! request with a key claims it in the store (leased until the invocation's deadline)
//! before doing anything, and stores its answer when it succeeds; records expire after
//! [`RETENTION`] (see [`crate::store::idempotency`]). A request with a key that is
//!
//! - done, with the same request (method, path, query, content type, `Accept`, body):
//!   answered with the stored answer and `Idempotent-Replayed: true`, nothing applied;
//! - done or pending, with a different request: refused ([`Refusal::Mismatch`], 422);
//! - pending, with the same request: refused ([`Refusal::InProgress`], 409); retry later.
//!
//! Only successful answers are kept: after a refused request (401/403/400 come before the
//! key is claimed) or a failure before anything was written (503), the key is released
//! and the same request may simply be sent again. Without the header nothing changes and
//! no request is added.

pub mod refusal;

use std::future::Future;

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::deadline::Deadline;
use crate::http::error::RequestError;
use crate::store::idempotency::{Claimed, KeyClaim, StoredAnswer};
pub use crate::store::idempotency::{MAX_STORED_BODY, RETENTION};
use crate::store::{Store, StoreError};

pub use self::refusal::{MAX_KEY_LEN, Refusal};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The answer header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// What [`begin`] decided.
#[derive(Debug)]
pub enum Begin {
    /// No key: run the request as usual.
    NoKey,
    /// The key is ours: run the request, then [`Claim::finish`].
    Claimed(Claim),
    /// The key was used for this request before: send this answer.
    Replay(Response<Body>),
}

/// Why [`begin`] did not let the request run.
#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    /// Refused (see [`Refusal`]).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store failed; nothing was done.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key this request holds.
#[derive(Debug)]
pub struct Claim(KeyClaim);

/// The request's `Idempotency-Key`, if it has one; refused when empty, longer than
/// [`MAX_KEY_LEN`] or not visible ASCII.
pub fn key(req: &Request) -> Result<Option<&str>, Refusal> {
    let Some(key) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = key.to_str().map_err(|_| Refusal::Invalid)?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if key.trim().is_empty() || key.len() > MAX_KEY_LEN || !visible {
        return Err(Refusal::Invalid);
    }
    Ok(Some(key))
}

/// Reads the key and claims it, or finds the earlier answer. `operation` names the
/// endpoint (keys of different endpoints never meet), `subject` the caller.
pub async fn begin(
    store: &Store,
    req: &Request,
    operation: &str,
    subject: &str,
    deadline: &Deadline,
) -> Result<Begin, BeginError> {
    let Some(key) = key(req)? else {
        return Ok(Begin::NoKey);
    };
    let claim = KeyClaim::new(operation, subject, key, fingerprint(req));
    match store.claim_key(&claim, deadline).await? {
        // Free, or our own claim written by an attempt whose answer was lost.
        Claimed::Claimed | Claimed::OurEarlierClaim => Ok(Begin::Claimed(Claim(claim))),
        Claimed::Done(answer) => Ok(Begin::Replay(replay(answer))),
        Claimed::Pending => Err(Refusal::InProgress.into()),
        Claimed::Mismatch => Err(Refusal::Mismatch.into()),
    }
}

impl Claim {
    /// Keeps a successful answer for the key's retries; releases the key after any
    /// other answer (or one too large to keep), so the request can be sent again.
    pub async fn finish(self, store: &Store, response: &Response<Body>, deadline: &Deadline) {
        let body: &[u8] = response.body().as_ref();
        let keep = response.status().is_success() && body.len() <= MAX_STORED_BODY;
        let deadline = deadline.for_answer();
        let result = if keep {
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json");
            let answer = StoredAnswer {
                status: response.status().as_u16(),
                content_type: Some(content_type.to_owned()),
                body: body.to_vec(),
            };
            store.keep_answer(&self.0, answer, &deadline).await
        } else {
            store.release_key(&self.0, &deadline).await
        };
        if let Err(e) = result {
            // The answer still goes out; a retry with this key finds it pending until
            // the lease ends, then runs again.
            tracing::error!(error = ?e, kept = keep, "idempotency record could not be written");
        }
    }
}

/// Runs `run` at most once per `Idempotency-Key` of the caller `subject` on
/// `operation`: answers a retry with the stored answer, refuses a reused or busy key
/// with `refuse` (the endpoint's dialect), and runs `run` as usual without a key.
pub async fn once<F, Fut>(
    store: &Store,
    req: &Request,
    operation: &str,
    subject: &str,
    deadline: &Deadline,
    refuse: impl FnOnce(&RequestError) -> Response<Body>,
    run: F,
) -> Response<Body>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    match begin(store, req, operation, subject, deadline).await {
        Ok(Begin::NoKey) => run().await,
        Ok(Begin::Claimed(claim)) => {
            let response = run().await;
            claim.finish(store, &response, deadline).await;
            response
        }
        Ok(Begin::Replay(response)) => {
            tracing::info!(operation, "{operation} answered from its Idempotency-Key");
            response
        }
        Err(BeginError::Refused(r)) => refuse(&RequestError::Idempotency(r)),
        Err(BeginError::Store(e)) => {
            tracing::error!(operation, error = ?e, "Idempotency-Key could not be claimed");
            refuse(&RequestError::Unavailable)
        }
    }
}

/// The answer kept for a key, sent again and marked as a replay.
fn replay(answer: StoredAnswer) -> Response<Body> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = Response::new(match String::from_utf8(answer.body) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = answer.content_type.as_deref().map(HeaderValue::from_str);
    if let Some(Ok(ct)) = content_type {
        headers.insert(http::header::CONTENT_TYPE, ct);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// What makes two requests the same request.
fn fingerprint(req: &Request) -> String {
    let header = |name| {
        req.headers()
            .get(name)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default()
    };
    let mut h = Sha256::new();
    for part in [
        req.method().as_str().as_bytes(),
        req.uri().path().as_bytes(),
        req.uri().query().unwrap_or_default().as_bytes(),
        header(http::header::CONTENT_TYPE),
        header(http::header::ACCEPT),
        req.body().as_ref(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, body: &str) -> Request {
        http::Request::builder()
            .method("POST")
            .uri(format!("/api/v1/users/bulk{query}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    #[test]
    fn the_fingerprint_covers_query_and_body() {
        let a = fingerprint(&request("", "{}"));
        assert_eq!(a, fingerprint(&request("", "{}")));
        assert_ne!(a, fingerprint(&request("?x=1", "{}")));
        assert_ne!(a, fingerprint(&request("", "{ }")));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_stored_answer_comes_back_marked_as_replayed() {
        let r = replay(StoredAnswer {
            status: 200,
            content_type: Some("application/xml".into()),
            body: b"<Result/>".to_vec(),
        });
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/xml");
        assert_eq!(r.headers()[REPLAYED], "true");
        assert_eq!(r.body().as_ref(), b"<Result/>");
    }
}
