//! `Idempotency-Key`: a client that did not get an answer (a timeout, a dropped
//! connection) sends the same request again with the same key and gets the first answer
//! back instead of applying the request twice.
//!
//! The key is scoped to the endpoint and the caller (the token's `sub`). The first
//! request with a key claims it with a conditional `PutItem` (`IDEMPOTENCY#...`, state
//! `pending`, leased until the invocation's deadline) before doing anything, and stores
//! its answer when it succeeds; records expire after [`RETENTION`] (the table's TTL
//! attribute `expires_at`). A request with a key that is
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

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::deadline::Deadline;
use crate::http::error::RequestError;
use crate::store::keys::key_item;
use crate::store::{Item, Store, StoreError, bounded, request_error};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The answer header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key and its answer are kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// Answers larger than this are not kept (DynamoDB items hold at most 400 KB); the key
/// is released instead and a retry applies the request again.
pub const MAX_STORED_BODY: usize = 350_000;

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
pub struct Claim {
    pk: String,
    fingerprint: String,
    /// Drawn per claim: a condition failing on a record that carries it is our own
    /// claim, written by an attempt whose answer was lost.
    holder: String,
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
    let Some(key) = req.headers().get(HEADER) else {
        return Ok(Begin::NoKey);
    };
    let key = key.to_str().map_err(|_| Refusal::Invalid)?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if key.trim().is_empty() || key.len() > MAX_KEY_LEN || !visible {
        return Err(Refusal::Invalid.into());
    }
    let claim = Claim {
        pk: format!(
            "IDEMPOTENCY#{operation}#{}",
            hex(&Sha256::digest(format!("{subject}\n{key}")))
        ),
        fingerprint: fingerprint(req),
        holder: uuid::Uuid::new_v4().simple().to_string(),
    };
    let now = epoch_millis();
    let remaining_ms = u64::try_from(deadline.remaining().as_millis()).unwrap_or(u64::MAX);
    let lease_until = now.saturating_add(remaining_ms).saturating_add(1000);
    let mut item = key_item(&claim.pk);
    item.insert("state".into(), s("pending"));
    item.insert("fingerprint".into(), s(&claim.fingerprint));
    item.insert("holder".into(), s(&claim.holder));
    item.insert("lease_until".into(), n(lease_until));
    item.insert("expires_at".into(), n(now / 1000 + RETENTION.as_secs()));
    let request = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression(
            "attribute_not_exists(pk) OR expires_at < :now_s \
             OR (#state = :pending AND lease_until < :now_ms)",
        )
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":now_s", n(now / 1000))
        .expression_attribute_values(":now_ms", n(now))
        .expression_attribute_values(":pending", s("pending"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send();
    let sent = bounded(deadline, request)
        .await
        .ok_or(StoreError::Unanswered("PutItem"))?;
    let old = match sent {
        Ok(_) => return Ok(Begin::Claimed(claim)),
        Err(e) => match e.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(c)) => {
                c.item().cloned().unwrap_or_default()
            }
            _ => return Err(request_error("PutItem", e).into()),
        },
    };
    if text(&old, "holder") == Some(claim.holder.as_str()) {
        // Our own claim: an attempt whose answer was lost had written it.
        return Ok(Begin::Claimed(claim));
    }
    if text(&old, "fingerprint") != Some(claim.fingerprint.as_str()) {
        return Err(Refusal::Mismatch.into());
    }
    if text(&old, "state") != Some("done") {
        return Err(Refusal::InProgress.into());
    }
    Ok(Begin::Replay(stored_answer(&old)))
}

impl Claim {
    /// Keeps a successful answer for the key's retries; releases the key after any
    /// other answer (or one too large to keep), so the request can be sent again.
    pub async fn finish(self, store: &Store, response: &Response<Body>, deadline: &Deadline) {
        let body: &[u8] = response.body().as_ref();
        let keep = response.status().is_success() && body.len() <= MAX_STORED_BODY;
        let mut item = key_item(&self.pk);
        item.insert("fingerprint".into(), s(&self.fingerprint));
        if keep {
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json");
            item.insert("state".into(), s("done"));
            item.insert("status".into(), n(u64::from(response.status().as_u16())));
            item.insert("content_type".into(), s(content_type));
            item.insert("body".into(), AttributeValue::B(Blob::new(body)));
            let expires = epoch_millis() / 1000 + RETENTION.as_secs();
            item.insert("expires_at".into(), n(expires));
        } else {
            // Released: expired at once, so the next request with the key claims it
            // (one PutItem either way; the TTL removes it).
            item.insert("state".into(), s("released"));
            item.insert("expires_at".into(), n(0));
        }
        let request = store
            .client()
            .put_item()
            .table_name(store.table())
            .set_item(Some(item))
            .send();
        let result = match bounded(&deadline.for_answer(), request).await {
            Some(sent) => sent.map_err(|e| request_error("PutItem", e)),
            None => Err(StoreError::Unanswered("PutItem")),
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

fn stored_answer(item: &Item) -> Response<Body> {
    let body = match item.get("body") {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        _ => Vec::new(),
    };
    let status = item
        .get("status")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u16>().ok())
        .and_then(|v| StatusCode::from_u16(v).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = Response::new(match String::from_utf8(body) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(ct) = text(item, "content_type").and_then(|v| HeaderValue::from_str(v).ok()) {
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

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
        let mut item = key_item("IDEMPOTENCY#x");
        item.insert("status".into(), n(200));
        item.insert("content_type".into(), s("application/xml"));
        item.insert("body".into(), AttributeValue::B(Blob::new("<Result/>")));
        let r = stored_answer(&item);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/xml");
        assert_eq!(r.headers()[REPLAYED], "true");
        assert_eq!(r.body().as_ref(), b"<Result/>");
    }
}
