//! Sending one chunk until each of its items has a final answer.
//!
//! A chunk's first request carries all its items (round 0). Items answered
//! `not_processed` (upsert, hard delete) or with a code-503 message (soft delete) are sent
//! again, as a new request of just those items with its own key, after a backoff, up to
//! `--max-retries` rounds; then they count as failed (`not_processed`). Each request is
//! itself retried by [`crate::client::Client::send`]. A refused request (400, 413, 422,
//! ...) or one that kept failing fails every item it carried; 401/403 and an unreachable
//! server stop the whole run.

use std::sync::Arc;

use serde::Deserialize;
use uuid::Uuid;

use crate::chunk::{Chunk, Envelope, HARD_DELETE, SOFT_DELETE, UPSERT};
use crate::client::{Client, Request, SendError, Verb};
use crate::key::{KeyParts, Phase, idempotency_key};
use crate::stop::StopReason;

/// The three bulk endpoints this tool writes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /api/v1/users/bulk` with `{"list_items": [...]}`.
    Upsert,
    /// `POST /api/v1/users/bulk/delete` with `{"ids": [...], "deleted": true}`.
    SoftDelete,
    /// `DELETE /api/v1/users/bulk` with `{"link_ids": [...]}`.
    HardDelete,
}

/// The final (or, for `NotProcessed`, provisional) answer for one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    /// `created`.
    Created,
    /// `updated`.
    Updated,
    /// `deleted` (or applied by the soft delete).
    Deleted,
    /// `not_processed` (or a code-503 message): send again.
    NotProcessed,
    /// Any other answer; `info` is the `extended_info` or the error text.
    Failed {
        /// What the server said.
        info: String,
        /// The `link_id` the server named, if any.
        link_id: Option<String>,
    },
}

impl ItemOutcome {
    fn failed(info: impl Into<String>) -> Self {
        ItemOutcome::Failed {
            info: info.into(),
            link_id: None,
        }
    }
}

#[derive(Deserialize)]
struct PerItemAnswer {
    result: Vec<PerItemResult>,
}

#[derive(Deserialize)]
struct PerItemResult {
    #[serde(default)]
    link_id: Option<String>,
    #[serde(default)]
    success: bool,
    #[serde(default)]
    extended_info: Option<String>,
}

#[derive(Deserialize)]
struct ResultAnswer {
    #[serde(default)]
    messages: Vec<ResultMessage>,
}

#[derive(Deserialize)]
struct ResultMessage {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    field: Option<String>,
}

impl Endpoint {
    /// The method.
    pub fn verb(self) -> Verb {
        match self {
            Endpoint::Upsert | Endpoint::SoftDelete => Verb::Post,
            Endpoint::HardDelete => Verb::Delete,
        }
    }

    /// The path.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Upsert | Endpoint::HardDelete => "/api/v1/users/bulk",
            Endpoint::SoftDelete => "/api/v1/users/bulk/delete",
        }
    }

    /// The body's envelope.
    pub fn envelope(self) -> Envelope {
        match self {
            Endpoint::Upsert => UPSERT,
            Endpoint::SoftDelete => SOFT_DELETE,
            Endpoint::HardDelete => HARD_DELETE,
        }
    }

    /// The phase in the `Idempotency-Key`.
    pub fn phase(self) -> Phase {
        match self {
            Endpoint::Upsert => Phase::Upsert,
            Endpoint::SoftDelete => Phase::SoftDelete,
            Endpoint::HardDelete => Phase::HardDelete,
        }
    }

    /// Reads a 200 answer to a request of `count` items into one outcome per item, in
    /// request order.
    pub fn parse(self, body: &[u8], count: usize) -> Result<Vec<ItemOutcome>, String> {
        match self {
            Endpoint::Upsert | Endpoint::HardDelete => {
                let answer: PerItemAnswer =
                    serde_json::from_slice(body).map_err(|e| format!("unexpected answer: {e}"))?;
                if answer.result.len() != count {
                    return Err(format!(
                        "unexpected answer: {} results for {count} items",
                        answer.result.len()
                    ));
                }
                Ok(answer
                    .result
                    .into_iter()
                    .map(|r| {
                        let info = r.extended_info.unwrap_or_default();
                        match (info.as_str(), r.success, self) {
                            ("created", true, Endpoint::Upsert) => ItemOutcome::Created,
                            ("updated", true, Endpoint::Upsert) => ItemOutcome::Updated,
                            ("deleted", true, Endpoint::HardDelete) => ItemOutcome::Deleted,
                            ("not_processed", _, _) => ItemOutcome::NotProcessed,
                            _ => ItemOutcome::Failed {
                                info: if info.is_empty() {
                                    "failed".to_owned()
                                } else {
                                    info
                                },
                                link_id: r.link_id,
                            },
                        }
                    })
                    .collect())
            }
            Endpoint::SoftDelete => {
                let answer: ResultAnswer =
                    serde_json::from_slice(body).map_err(|e| format!("unexpected answer: {e}"))?;
                let mut out = vec![ItemOutcome::Deleted; count];
                for m in answer.messages {
                    let index = m
                        .field
                        .as_deref()
                        .and_then(|f| f.strip_prefix("ids["))
                        .and_then(|f| f.strip_suffix(']'))
                        .and_then(|i| i.parse::<usize>().ok())
                        .filter(|i| *i < count)
                        .ok_or_else(|| {
                            format!("unexpected answer: a message without an id: {}", m.message)
                        })?;
                    out[index] = match m.code {
                        503 => ItemOutcome::NotProcessed,
                        404 => ItemOutcome::failed("not_found"),
                        _ => ItemOutcome::failed(m.message),
                    };
                }
                Ok(out)
            }
        }
    }
}

/// What [`Sender::run_chunk`] ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRun {
    /// One outcome per item; `None` for items without one because the run stopped.
    pub outcomes: Vec<Option<ItemOutcome>>,
    /// Whether the run stopped before every item had its final outcome.
    pub stopped: bool,
}

/// Everything a chunk's requests need.
#[derive(Clone, Debug)]
pub struct Sender {
    /// The API client.
    pub client: Arc<Client>,
    /// SHA-256 (hex) of the input file.
    pub input_sha256: String,
    /// The run id.
    pub run_id: Uuid,
    /// `?dry_run=true` on every write.
    pub dry_run: bool,
}

impl Sender {
    /// Sends `chunk` to `endpoint` until every item has its final outcome or the run
    /// stops.
    pub async fn run_chunk(&self, endpoint: Endpoint, chunk: &Chunk) -> ChunkRun {
        let count = chunk.items.len();
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; count];
        let mut pending: Vec<usize> = (0..count).collect();
        let query: Vec<(String, String)> = if self.dry_run {
            vec![("dry_run".to_owned(), "true".to_owned())]
        } else {
            Vec::new()
        };
        let policy = self.client.policy();
        let stop = self.client.stop().clone();
        let mut round = 0u32;
        while !pending.is_empty() {
            let body = chunk.body(endpoint.envelope(), &pending);
            let key = idempotency_key(
                KeyParts {
                    input_sha256: &self.input_sha256,
                    run_id: self.run_id,
                    phase: endpoint.phase(),
                    dry_run: self.dry_run,
                    chunk: chunk.index,
                    round,
                },
                &body,
            );
            let request = Request {
                verb: endpoint.verb(),
                path: endpoint.path(),
                query: &query,
                body: Some(&body),
                key: Some(&key),
            };
            let fail_all =
                |outcomes: &mut Vec<Option<ItemOutcome>>, pending: &[usize], info: String| {
                    for p in pending {
                        outcomes[*p] = Some(ItemOutcome::failed(info.clone()));
                    }
                };
            match self.client.send(&request).await {
                Ok(answer) => match endpoint.parse(&answer.body, pending.len()) {
                    Ok(list) => {
                        let mut again = Vec::new();
                        for (p, outcome) in pending.iter().zip(list) {
                            if outcome == ItemOutcome::NotProcessed {
                                again.push(*p);
                            } else {
                                outcomes[*p] = Some(outcome);
                            }
                        }
                        pending = again;
                    }
                    Err(e) => {
                        fail_all(&mut outcomes, &pending, e);
                        pending.clear();
                    }
                },
                Err(e @ (SendError::Refused { .. } | SendError::GaveUp(_))) => {
                    fail_all(&mut outcomes, &pending, e.to_string());
                    pending.clear();
                }
                Err(e @ SendError::Auth { .. }) => {
                    stop.stop(StopReason::Auth(e.to_string()));
                    return ChunkRun {
                        outcomes,
                        stopped: true,
                    };
                }
                Err(SendError::Connect(text)) => {
                    stop.stop(StopReason::Connect(text));
                    return ChunkRun {
                        outcomes,
                        stopped: true,
                    };
                }
                Err(SendError::Stopped) => {
                    return ChunkRun {
                        outcomes,
                        stopped: true,
                    };
                }
            }
            if pending.is_empty() {
                break;
            }
            if round >= policy.max_retries {
                fail_all(&mut outcomes, &pending, "not_processed".to_owned());
                break;
            }
            if !stop.sleep(policy.delay(round, None)).await {
                return ChunkRun {
                    outcomes,
                    stopped: true,
                };
            }
            round += 1;
        }
        ChunkRun {
            outcomes,
            stopped: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_answers_map_to_outcomes_in_order() {
        let body = br#"{"result": [
            {"link_id": "a", "success": true, "extended_info": "created", "has_dublicates": false},
            {"link_id": "b", "success": true, "extended_info": "updated", "has_dublicates": true},
            {"link_id": null, "success": false, "extended_info": "has_dublicates", "has_dublicates": true},
            {"link_id": "d", "success": false, "extended_info": "not_processed", "has_dublicates": false},
            {"link_id": "e", "success": false, "extended_info": "number_taken_by_another_identifier", "has_dublicates": false}
        ]}"#;
        let got = Endpoint::Upsert.parse(body, 5).unwrap();
        assert_eq!(
            got,
            [
                ItemOutcome::Created,
                ItemOutcome::Updated,
                ItemOutcome::Failed {
                    info: "has_dublicates".into(),
                    link_id: None
                },
                ItemOutcome::NotProcessed,
                ItemOutcome::Failed {
                    info: "number_taken_by_another_identifier".into(),
                    link_id: Some("e".into())
                },
            ]
        );
        assert!(Endpoint::Upsert.parse(body, 4).is_err());
        assert!(Endpoint::Upsert.parse(b"{}", 1).is_err());
    }

    #[test]
    fn hard_delete_answers_map_to_outcomes() {
        let body = br#"{"result": [
            {"link_id": "a", "success": true, "extended_info": "deleted"},
            {"link_id": "b", "success": false, "extended_info": "not_found"},
            {"link_id": "c", "success": false, "extended_info": "not_processed"}
        ]}"#;
        let got = Endpoint::HardDelete.parse(body, 3).unwrap();
        assert_eq!(got[0], ItemOutcome::Deleted);
        assert_eq!(
            got[1],
            ItemOutcome::Failed {
                info: "not_found".into(),
                link_id: Some("b".into())
            }
        );
        assert_eq!(got[2], ItemOutcome::NotProcessed);
    }

    #[test]
    fn soft_delete_results_map_messages_to_their_positions() {
        let body = br#"{"messages": [
            {"type": 1, "code": 404, "message": "User x not found", "field": "ids[1]"},
            {"type": 1, "code": 503, "message": "User y was not processed before the deadline; send it again", "field": "ids[2]"}],
            "count_of_errors": 2, "id": null, "name": null,
            "data": {"deleted": true, "ids": ["w"]}, "url": null, "text": "1 of 3 users deleted", "inner_exception": null}"#;
        let got = Endpoint::SoftDelete.parse(body, 3).unwrap();
        assert_eq!(
            got,
            [
                ItemOutcome::Deleted,
                ItemOutcome::failed("not_found"),
                ItemOutcome::NotProcessed
            ]
        );
        let bad = br#"{"messages": [{"type": 1, "code": 404, "message": "?", "field": null}]}"#;
        assert!(Endpoint::SoftDelete.parse(bad, 1).is_err());
    }

    #[test]
    fn endpoints_have_their_methods_paths_and_bodies() {
        assert_eq!(Endpoint::Upsert.verb(), Verb::Post);
        assert_eq!(Endpoint::HardDelete.verb(), Verb::Delete);
        assert_eq!(Endpoint::SoftDelete.path(), "/api/v1/users/bulk/delete");
        assert_eq!(Endpoint::HardDelete.path(), "/api/v1/users/bulk");
    }
}
