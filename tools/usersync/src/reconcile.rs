//! `--delete-missing`: delete the users of the scope whose `link_id` is not in the export.
//!
//! The listing (`GET /api/v1/users?limit=1000&<scope>&cursor=...`, live users only) and
//! the `--max-delete` check run *before* the push: a refusal sends nothing at all (exit
//! 2). The export's ids are kept as a set of 128-bit UUIDs from the validation pass; the
//! users to delete as UUIDs. After the push, they are deleted in chunks (soft delete by
//! default, restorable; `--hard-delete` for good), with the push's retries and keys.

use std::fmt;
use std::str::FromStr;

use futures::StreamExt;
use serde::Deserialize;
use uuid::Uuid;

use crate::chunk::{ChunkLimits, Chunker, Item};
use crate::client::{Client, Request, SendError, Verb};
use crate::error::Error;
use crate::progress::Progress;
use crate::push::{account, drain};
use crate::report::Tally;
use crate::send::{Endpoint, Sender};
use crate::stop::Stop;
use crate::validate::LinkIds;

/// The read API's filter parameters, the ones `--scope` may use.
pub const SCOPE_KEYS: [&str; 13] = [
    "active",
    "is_online",
    "create_time_gt",
    "create_time_lt",
    "last_login_time_gt",
    "last_login_time_lt",
    "email",
    "name",
    "role_id",
    "user_type",
    "login_ip",
    "user_id",
    "user_id_in",
];

/// Reads `--scope KEY=VALUE` options, in order (the listing's cursor is bound to them).
pub fn parse_scope(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("--scope {arg}: expected KEY=VALUE, e.g. user_type=employee"))?;
        let key = key.trim();
        if !SCOPE_KEYS.contains(&key) {
            return Err(format!(
                "--scope {arg}: `{key}` is not a filter of the read API (one of {})",
                SCOPE_KEYS.join(", ")
            ));
        }
        if key != "user_id_in" && out.iter().any(|(k, _)| k == key) {
            return Err(format!("--scope: `{key}` given more than once"));
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// `--max-delete`: a count, or a share of the users in scope.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxDelete {
    /// At most this many users.
    Count(u64),
    /// At most this percentage of the users in scope, rounded down.
    Percent(f64),
}

impl FromStr for MaxDelete {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("--max-delete {s}: expected a count (50) or a percentage (5%)");
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !p.is_finite() || !(0.0..=100.0).contains(&p) {
                return Err(format!("--max-delete {s}: a percentage from 0% to 100%"));
            }
            return Ok(MaxDelete::Percent(p));
        }
        s.parse().map(MaxDelete::Count).map_err(|_| bad())
    }
}

impl fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxDelete::Count(n) => write!(f, "{n}"),
            MaxDelete::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl MaxDelete {
    /// How many users may be deleted when `in_scope` users are in scope.
    pub fn allowed(&self, in_scope: u64) -> u64 {
        match self {
            MaxDelete::Count(n) => *n,
            MaxDelete::Percent(p) => ((in_scope as f64) * p / 100.0).floor() as u64,
        }
    }

    /// The safety check: `Err` with the reason when `to_delete` is over the limit.
    pub fn check(&self, to_delete: u64, in_scope: u64) -> Result<(), String> {
        let allowed = self.allowed(in_scope);
        if to_delete > allowed {
            return Err(format!(
                "--delete-missing would delete {to_delete} of the {in_scope} users in scope, more than --max-delete {self} allows ({allowed}); nothing was sent or deleted"
            ));
        }
        Ok(())
    }
}

/// The users the listing found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Live users in scope.
    pub in_scope: u64,
    /// Those whose id is not in the export.
    pub missing: Vec<Uuid>,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<Listed>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    link_id: Option<String>,
}

/// Lists the users of `scope` and keeps those not in `export`.
pub async fn list_missing(
    client: &Client,
    scope: &[(String, String)],
    export: &LinkIds,
) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit".to_owned(), "1000".to_owned())];
        query.extend(scope.iter().cloned());
        if let Some(c) = &cursor {
            query.push(("cursor".to_owned(), c.clone()));
        }
        let request = Request {
            verb: Verb::Get,
            path: "/api/v1/users",
            query: &query,
            body: None,
            key: None,
        };
        let answer = client.send(&request).await.map_err(|e| match e {
            SendError::Auth { .. } => Error::Auth(e.to_string()),
            SendError::Connect(text) | SendError::GaveUp(text) => Error::Connect(text),
            SendError::Refused { .. } => Error::Usage(format!(
                "the listing of the users in scope was refused: {e}"
            )),
            SendError::Stopped => Error::Interrupted,
        })?;
        let page: Page = serde_json::from_slice(&answer.body)
            .map_err(|e| Error::Connect(format!("unexpected listing answer: {e}")))?;
        for user in page.items {
            plan.in_scope += 1;
            let Some(id) = user
                .link_id
                .as_deref()
                .and_then(|s| Uuid::try_parse(s).ok())
            else {
                continue;
            };
            if !export.contains(id.as_u128()) {
                plan.missing.push(id);
            }
        }
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => return Ok(plan),
        }
    }
}

/// What the deletion needs.
#[derive(Clone, Copy, Debug)]
pub struct DeleteJob<'a> {
    /// Soft or hard delete.
    pub endpoint: Endpoint,
    /// The users to delete.
    pub ids: &'a [Uuid],
    /// The request limits.
    pub limits: ChunkLimits,
    /// Requests in flight.
    pub concurrency: usize,
}

/// Deletes the job's users in chunks, `concurrency` at a time, counting into `tally`.
pub async fn delete(
    sender: &Sender,
    job: DeleteJob<'_>,
    tally: &mut Tally,
    progress: &mut Progress,
    stop: &Stop,
) {
    let DeleteJob {
        endpoint,
        ids,
        limits,
        concurrency,
    } = job;
    let mut chunker = Chunker::new(endpoint.envelope(), limits);
    let mut chunks = Vec::new();
    for id in ids {
        let item = Item {
            row: None,
            json: format!("\"{}\"", id.as_hyphenated()),
        };
        // A 38-byte id always fits a request.
        if let Ok(Some(chunk)) = chunker.push(item) {
            chunks.push(chunk);
        }
    }
    chunks.extend(chunker.finish());
    let events = futures::stream::iter(chunks)
        .take_while(|_| std::future::ready(!stop.is_stopped()))
        .map(|chunk| async move {
            let run = sender.run_chunk(endpoint, &chunk).await;
            (chunk, run)
        })
        .buffer_unordered(concurrency.max(1));
    drain(events, stop, |(chunk, run)| {
        let acc = account(&chunk, &run);
        tally.counts.deleted += acc.deleted;
        tally.failures.extend(acc.failures);
        progress.update(tally.done_rows, &tally.summary());
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_delete_is_a_count_or_a_percentage() {
        assert_eq!("5%".parse::<MaxDelete>().unwrap(), MaxDelete::Percent(5.0));
        assert_eq!(
            " 2.5 % ".parse::<MaxDelete>().unwrap(),
            MaxDelete::Percent(2.5)
        );
        assert_eq!("0".parse::<MaxDelete>().unwrap(), MaxDelete::Count(0));
        assert_eq!("120".parse::<MaxDelete>().unwrap(), MaxDelete::Count(120));
        for bad in ["", "-1", "5%%", "101%", "-1%", "abc", "NaN%", "1.5"] {
            assert!(bad.parse::<MaxDelete>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_percentage_is_of_the_users_in_scope_rounded_down() {
        let five = MaxDelete::Percent(5.0);
        assert_eq!(five.allowed(1000), 50);
        assert_eq!(five.allowed(39), 1);
        assert_eq!(five.allowed(19), 0);
        assert_eq!(MaxDelete::Percent(100.0).allowed(7), 7);
        assert_eq!(MaxDelete::Count(3).allowed(1_000_000), 3);
    }

    #[test]
    fn the_safety_check_refuses_more_than_allowed() {
        let five = MaxDelete::Percent(5.0);
        assert!(five.check(50, 1000).is_ok());
        assert!(five.check(0, 0).is_ok());
        let e = five.check(51, 1000).unwrap_err();
        assert_eq!(
            e,
            "--delete-missing would delete 51 of the 1000 users in scope, more than --max-delete 5% allows (50); nothing was sent or deleted"
        );
        assert!(MaxDelete::Count(0).check(1, 10).is_err());
    }

    #[test]
    fn scopes_are_read_api_filters() {
        let s = parse_scope(&["user_type=employee".into(), "active=true".into()]).unwrap();
        assert_eq!(
            s,
            [
                ("user_type".to_owned(), "employee".to_owned()),
                ("active".to_owned(), "true".to_owned())
            ]
        );
        assert!(parse_scope(&["limit=5".into()]).is_err());
        assert!(parse_scope(&["dry_run=true".into()]).is_err());
        assert!(parse_scope(&["user_type".into()]).is_err());
        assert!(parse_scope(&["name=a".into(), "name=b".into()]).is_err());
        assert!(parse_scope(&["user_id_in=a".into(), "user_id_in=b".into()]).is_ok());
        assert_eq!(parse_scope(&["email=a=b@x".into()]).unwrap()[0].1, "a=b@x");
    }
}
