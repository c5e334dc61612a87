//! The push: the file read a second time, cut into chunks, sent `--concurrency` at a time.
//!
//! A reader thread streams the file into chunks through a channel of one, so at most
//! `concurrency + 2` chunks are in memory whatever the file's size. Chunks confirmed by an
//! earlier run (`--resume`) are counted, not sent. When the run stops (Ctrl-C, SIGTERM,
//! 401/403, the server unreachable) no new chunk starts, requests in flight get
//! [`GRACE`] to finish, and the rest is abandoned: their keys make a resumed run safe.

use std::collections::HashSet;
use std::path::Path;
use std::pin::pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::chunk::{Chunk, ChunkLimits, Chunker, Item, UPSERT};
use crate::input::{InputSpec, Next, RowSource};
use crate::progress::Progress;
use crate::report::{Failure, Tally};
use crate::send::{ChunkRun, Endpoint, ItemOutcome, Sender};
use crate::state::{ChunkRecord, State};
use crate::stop::{Stop, StopReason};

/// How long requests in flight may still finish once the run stops.
pub const GRACE: Duration = Duration::from_secs(5);

/// Polls `events` to the end, handing each to `handle`; once `stop` is given, for at most
/// [`GRACE`] more.
pub async fn drain<S, T>(events: S, stop: &Stop, mut handle: impl FnMut(T))
where
    S: Stream<Item = T>,
{
    let mut events = pin!(events);
    let mut deadline: Option<Instant> = None;
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, events.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => tokio::select! {
                next = events.next() => next,
                () = stop.wait() => {
                    deadline = Some(Instant::now() + GRACE);
                    continue;
                }
            },
        };
        match next {
            Some(event) => handle(event),
            None => break,
        }
    }
}

/// What the reader thread hands over.
#[derive(Debug)]
enum Produced {
    /// A chunk to send.
    Chunk(Chunk),
    /// A chunk an earlier run confirmed: its index and rows.
    Skipped { index: u32, rows: u64 },
    /// A row too large for any request.
    TooLarge(Failure),
    /// The input cannot be read as it was validated.
    Failed(String),
    /// The end, with the file's SHA-256.
    End(String),
}

/// The `link_id` and `name` of an item's JSON, for the report.
pub fn item_identity(json: &str) -> (Option<String>, Option<String>) {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(o)) => (
            o.get("link_id").and_then(Value::as_str).map(str::to_owned),
            o.get("name").and_then(Value::as_str).map(str::to_owned),
        ),
        Ok(Value::String(id)) => (Some(id), None),
        _ => (None, None),
    }
}

/// The counts and failures of one chunk's run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkAccount {
    /// Created.
    pub created: u64,
    /// Updated.
    pub updated: u64,
    /// Deleted.
    pub deleted: u64,
    /// Items with a final outcome.
    pub done: u64,
    /// Failures.
    pub failures: Vec<Failure>,
}

/// Counts a chunk's outcomes and turns its failures into report entries.
pub fn account(chunk: &Chunk, run: &ChunkRun) -> ChunkAccount {
    let mut acc = ChunkAccount::default();
    for (item, outcome) in chunk.items.iter().zip(&run.outcomes) {
        let Some(outcome) = outcome else {
            continue;
        };
        acc.done += 1;
        let (info, answered_id) = match outcome {
            ItemOutcome::Created => {
                acc.created += 1;
                continue;
            }
            ItemOutcome::Updated => {
                acc.updated += 1;
                continue;
            }
            ItemOutcome::Deleted => {
                acc.deleted += 1;
                continue;
            }
            ItemOutcome::NotProcessed => ("not_processed".to_owned(), None),
            ItemOutcome::Failed { info, link_id } => (info.clone(), link_id.clone()),
        };
        let (link_id, name) = item_identity(&item.json);
        acc.failures.push(Failure {
            row: item.row,
            link_id: answered_id.or(link_id),
            name,
            extended_info: info,
        });
    }
    acc
}

/// Reads the file into chunks (runs on its own thread).
fn produce(
    spec: &InputSpec,
    limits: ChunkLimits,
    confirmed: &HashSet<u32>,
    tx: &mpsc::Sender<Produced>,
) {
    let send = |p: Produced| tx.blocking_send(p).is_ok();
    let mut input = match spec.open() {
        Ok(i) => i,
        Err(e) => {
            send(Produced::Failed(e.to_string()));
            return;
        }
    };
    let mut chunker = Chunker::new(UPSERT, limits);
    let emit = |chunk: Chunk| {
        if confirmed.contains(&chunk.index) {
            send(Produced::Skipped {
                index: chunk.index,
                rows: chunk.items.len() as u64,
            })
        } else {
            send(Produced::Chunk(chunk))
        }
    };
    loop {
        match input.next_row() {
            Ok(Next::Row(row)) => {
                let item = Item {
                    row: Some(row.row),
                    json: row.to_json(),
                };
                match chunker.push(item) {
                    Ok(Some(chunk)) => {
                        if !emit(chunk) {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(item) => {
                        let (link_id, name) = item_identity(&item.json);
                        let failure = Failure {
                            row: item.row,
                            link_id,
                            name,
                            extended_info: format!(
                                "too large: {} bytes, more than a request may carry ({} bytes)",
                                item.json.len(),
                                limits.max_bytes
                            ),
                        };
                        if !send(Produced::TooLarge(failure)) {
                            return;
                        }
                    }
                }
            }
            Ok(Next::Invalid(e)) => {
                send(Produced::Failed(format!(
                    "the input changed since it was checked: {e}"
                )));
                return;
            }
            Ok(Next::End) => break,
            Err(e) => {
                send(Produced::Failed(e.to_string()));
                return;
            }
        }
    }
    if let Some(chunk) = chunker.finish()
        && !emit(chunk)
    {
        return;
    }
    send(Produced::End(input.sha256_hex()));
}

/// What the push needs.
#[derive(Debug)]
pub struct PushJob<'a> {
    /// The input.
    pub spec: InputSpec,
    /// The input's SHA-256 from the validation pass.
    pub expected_sha256: String,
    /// Requests in flight.
    pub concurrency: usize,
    /// The request sender.
    pub sender: Sender,
    /// Where to record progress (`--resume`), if anywhere.
    pub state_path: Option<&'a Path>,
}

/// One event of the push, in completion order.
enum Event {
    Ran(Chunk, ChunkRun),
    Skipped { index: u32, rows: u64 },
    TooLarge(Failure),
    Failed(String),
    End(String),
}

/// Runs the push: every chunk of the file sent (or skipped), the tally and the state
/// updated as chunks complete. Returns when the file is done or the run stopped.
pub async fn push(
    job: PushJob<'_>,
    state: &mut State,
    tally: &mut Tally,
    progress: &mut Progress,
    stop: &Stop,
) {
    let (tx, rx) = mpsc::channel::<Produced>(1);
    let spec = job.spec.clone();
    let limits = state.limits;
    let confirmed = state.confirmed();
    std::thread::spawn(move || produce(&spec, limits, &confirmed, &tx));

    let source = futures::stream::unfold((rx, stop.clone()), |(mut rx, stop)| async move {
        if stop.is_stopped() {
            return None;
        }
        let next = tokio::select! {
            next = rx.recv() => next,
            () = stop.wait() => None,
        };
        next.map(|p| (p, (rx, stop)))
    });
    let sender = job.sender.clone();
    let events = source
        .map(move |produced| {
            let sender = sender.clone();
            async move {
                match produced {
                    Produced::Chunk(chunk) => {
                        let run = sender.run_chunk(Endpoint::Upsert, &chunk).await;
                        Event::Ran(chunk, run)
                    }
                    Produced::Skipped { index, rows } => Event::Skipped { index, rows },
                    Produced::TooLarge(f) => Event::TooLarge(f),
                    Produced::Failed(e) => Event::Failed(e),
                    Produced::End(sha) => Event::End(sha),
                }
            }
        })
        .buffer_unordered(job.concurrency.max(1));

    let prior: std::collections::HashMap<u32, ChunkRecord> =
        state.chunks.iter().map(|c| (c.index, *c)).collect();
    drain(events, stop, |event| {
        match event {
            Event::Ran(chunk, run) => {
                let acc = account(&chunk, &run);
                tally.counts.created += acc.created;
                tally.counts.updated += acc.updated;
                tally.done_rows += acc.done;
                tally.failures.extend_from_slice(&acc.failures);
                if !run.stopped {
                    state.record(
                        ChunkRecord {
                            index: chunk.index,
                            rows: chunk.items.len() as u64,
                            created: acc.created,
                            updated: acc.updated,
                            failed: acc.failures.len() as u64,
                        },
                        &acc.failures,
                    );
                    if let Some(path) = job.state_path
                        && let Err(e) = state.save(path)
                    {
                        progress.note(&e.to_string());
                    }
                }
            }
            Event::Skipped { index, rows } => {
                let failed = prior.get(&index).map_or(0, |c| c.failed);
                tally.counts.skipped += rows.saturating_sub(failed);
                tally.done_rows += rows;
            }
            Event::TooLarge(f) => {
                tally.done_rows += 1;
                tally.failures.push(f);
            }
            Event::Failed(e) => stop.stop(StopReason::Input(e)),
            Event::End(sha) => {
                if sha != job.expected_sha256 {
                    stop.stop(StopReason::Input(
                        "the input file changed during the run (its SHA-256 differs from the checked one)"
                            .to_owned(),
                    ));
                }
            }
        }
        progress.update(tally.done_rows, &tally.summary());
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_count_outcomes_and_name_failures() {
        let chunk = Chunk {
            index: 0,
            items: vec![
                Item {
                    row: Some(1),
                    json: r#"{"name":"Ann","link_id":"a"}"#.into(),
                },
                Item {
                    row: Some(2),
                    json: r#"{"name":"Bo"}"#.into(),
                },
                Item {
                    row: Some(3),
                    json: r#"{"name":"Cy","link_id":"c"}"#.into(),
                },
                Item {
                    row: Some(4),
                    json: r#"{"name":"Di"}"#.into(),
                },
            ],
        };
        let run = ChunkRun {
            outcomes: vec![
                Some(ItemOutcome::Created),
                Some(ItemOutcome::Failed {
                    info: "has_dublicates".into(),
                    link_id: None,
                }),
                Some(ItemOutcome::Failed {
                    info: "number_taken_by_another_identifier".into(),
                    link_id: Some("c2".into()),
                }),
                None,
            ],
            stopped: true,
        };
        let acc = account(&chunk, &run);
        assert_eq!(acc.created, 1);
        assert_eq!(acc.done, 3);
        assert_eq!(
            acc.failures,
            [
                Failure {
                    row: Some(2),
                    link_id: None,
                    name: Some("Bo".into()),
                    extended_info: "has_dublicates".into()
                },
                Failure {
                    row: Some(3),
                    link_id: Some("c2".into()),
                    name: Some("Cy".into()),
                    extended_info: "number_taken_by_another_identifier".into()
                },
            ]
        );
    }

    #[test]
    fn deletion_items_are_ids() {
        assert_eq!(item_identity("\"abc\""), (Some("abc".into()), None));
    }

    #[tokio::test]
    async fn drain_gives_in_flight_work_a_grace_period_then_abandons_it() {
        tokio::time::pause();
        let stop = Stop::new();
        let events = futures::stream::iter([1u64, 2, 3])
            .map(|n| async move {
                tokio::time::sleep(Duration::from_secs(n * 4)).await;
                n
            })
            .buffer_unordered(3);
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stopper.stop(StopReason::Interrupted);
        });
        let mut seen = Vec::new();
        drain(events, &stop, |n| seen.push(n)).await;
        // Stopped at 1 s: 4 s finishes within the 5 s grace, 8 s and 12 s do not.
        assert_eq!(seen, [1]);
    }
}
