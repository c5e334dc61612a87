//! What happens to a filter delete (docs/contracts.md#delete-by-filter): candidates are
//! found page by page (keys, an index, or a parallel scan; see
//! [`crate::service::filter_plan`]), and each page goes through the same removal core as
//! a hard delete, conditioned on the filter at the moment of deletion. Work stops at the
//! deadline; what is left is reported as remaining, and running the same request again
//! carries on (whatever was deleted no longer matches). A scan also reports where each of
//! its segments stopped ([`FilterRun::resume`]): given back, the next run continues from
//! there instead of scanning again what it already looked at, so a table of any size is
//! covered run by run.

use std::sync::Mutex;

use futures::StreamExt;
use futures::stream;

use crate::deadline::Deadline;
use crate::domain::LinkId;
use crate::domain::filter::FilterRequest;
use crate::service::filter_plan::{self, QueryPlan};
use crate::service::read::Segment;
use crate::service::removal::{Removal, RemovalOutcome, apply_removal_to};
use crate::store::batch::READ_CHUNK;
use crate::store::find::{Cursor, PAGE, Page};
use crate::store::read::{Key, Users};
use crate::store::records::UserRecord;
use crate::store::{Store, StoreError};

/// Ids a dry run lists at most.
pub const DRY_RUN_SAMPLE: usize = 1000;

/// Users one run deletes at most: the answer lists them (39 bytes each in JSON), and a
/// Lambda answer holds at most 6 MB. A run that reaches it stops like one at its
/// deadline (`remaining`, and a cursor for a scan).
pub const MAX_DELETED_PER_RUN: usize = 100_000;

/// What a filter delete did (or, for a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterRun {
    /// Whether nothing was deleted on purpose.
    pub dry_run: bool,
    /// Live users found matching in this run.
    pub matched: usize,
    /// Ids deleted (empty for a dry run), in the order deleted.
    pub deleted: Vec<LinkId>,
    /// Matched users not deleted: changed meanwhile and no longer matching, deleted by
    /// someone else, or not processed before the deadline.
    pub not_deleted: usize,
    /// Of those, not confirmed before the deadline (the rest changed meanwhile).
    pub not_processed: usize,
    /// Dry run: the matched ids, at most [`DRY_RUN_SAMPLE`].
    pub sample: Vec<LinkId>,
    /// More users may match: the run stopped at its deadline. Send the same request again.
    pub remaining: bool,
    /// Where each scan segment stopped, when a scan stopped before covering the table:
    /// the start of the next run. A segment stops before a page whose users it could not
    /// all settle, so none is skipped.
    pub resume: Option<Vec<Segment>>,
    /// `resume`, sealed for the client (set by the HTTP function).
    pub cursor: Option<String>,
    /// DynamoDB did not answer some of the run's requests before the deadline (it was
    /// unreachable, stalled or kept throttling): with nothing deleted (for a dry run,
    /// nothing matched), the answer is a 503, not an empty success.
    pub unanswered: bool,
}

impl FilterRun {
    /// Nothing was done because DynamoDB could not be reached: no user deleted (for a
    /// dry run: none matched) and some request unanswered.
    pub fn failed_outright(&self) -> bool {
        let nothing = if self.dry_run {
            self.matched == 0
        } else {
            self.deleted.is_empty()
        };
        self.unanswered && nothing
    }
}

/// Why a filter delete answers without a run.
#[derive(Debug, thiserror::Error)]
pub enum FilterDeleteError {
    /// `user_id` names no user (the filter delete's 404).
    #[error("user not found")]
    UserNotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Segments of a filter delete's scan (at most the store's concurrency).
const SEGMENTS: usize = 4;

/// Runs a filter delete; a scan starts where `resume` (a previous run's
/// [`FilterRun::resume`] of the same filter) says, or at the start of the table.
pub async fn delete_by_filter(
    store: &Store,
    request: &FilterRequest,
    resume: Option<Vec<Segment>>,
    actor: &str,
    deadline: Deadline,
) -> Result<FilterRun, FilterDeleteError> {
    let run = Mutex::new(FilterRun {
        dry_run: request.dry_run,
        ..FilterRun::default()
    });
    let segments = resume
        .filter(|s| (1..=SEGMENTS).contains(&s.len()))
        .unwrap_or_else(|| vec![Segment::Start; store.concurrency().clamp(1, SEGMENTS)]);
    // Boxed: the paging loops below nest the removal core's futures deep enough that
    // the unboxed future of a caller (the clean-up) outgrows the compiler's layout depth.
    let result = Box::pin(filter_pages(
        store, request, segments, actor, deadline, &run,
    ))
    .await;
    let mut r = run.into_inner().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok(()) => {}
        // A failure after some users were deleted is not the whole answer: what was
        // deleted is reported, and the rest is left for the next run.
        Err(FilterDeleteError::Store(e)) if !r.deleted.is_empty() => {
            tracing::error!(error = ?e, deleted = r.deleted.len(), "filter delete cut short by a DynamoDB failure");
            r.remaining = true;
            r.unanswered = true;
        }
        Err(e) => return Err(e),
    }
    if deadline.expired() && !r.remaining && r.not_deleted > 0 {
        r.remaining = true;
    }
    Ok(r)
}

async fn filter_pages(
    store: &Store,
    request: &FilterRequest,
    mut segments: Vec<Segment>,
    actor: &str,
    deadline: Deadline,
    run: &Mutex<FilterRun>,
) -> Result<(), FilterDeleteError> {
    let filter = &request.filter;
    // Settles one page of candidates; `Ok(false)` when some could not be settled (not
    // read, or not processed before the deadline).
    let process = |read: Users| async move {
        let settled = !read.incomplete;
        if read.incomplete {
            let mut r = lock(run);
            r.remaining = true;
            r.unanswered = true;
        }
        let users: Vec<UserRecord> = read
            .users
            .into_iter()
            .filter(|u| filter_plan::matches(filter, u))
            .collect();
        if users.is_empty() {
            return Ok::<_, StoreError>(settled);
        }
        if request.dry_run {
            let mut r = lock(run);
            r.matched += users.len();
            let room = DRY_RUN_SAMPLE.saturating_sub(r.sample.len());
            r.sample.extend(users.iter().take(room).map(|u| u.link_id));
            return Ok(settled);
        }
        let ids: Vec<LinkId> = users.iter().map(|u| u.link_id).collect();
        let removal = Removal::DeleteMatching(filter);
        let outcomes = apply_removal_to(store, &ids, users, removal, actor, deadline).await?;
        let mut r = lock(run);
        r.matched += ids.len();
        let mut settled = settled;
        for (id, outcome) in ids.into_iter().zip(outcomes) {
            match outcome {
                RemovalOutcome::Applied => r.deleted.push(id),
                RemovalOutcome::NotProcessed => {
                    r.not_deleted += 1;
                    r.not_processed += 1;
                    r.remaining = true;
                    r.unanswered = true;
                    settled = false;
                }
                RemovalOutcome::NotFound | RemovalOutcome::Skipped => r.not_deleted += 1,
            }
        }
        Ok(settled)
    };
    match filter_plan::query_plan(filter) {
        QueryPlan::Ids(ids) => {
            let read = store.read_users(&ids, &deadline).await?;
            if let Some(id) = filter.user_id
                && !read.incomplete
                && !read.users.iter().any(|u| u.link_id == id)
            {
                return Err(FilterDeleteError::UserNotFound);
            }
            process(read).await?;
        }
        QueryPlan::Name(name) => {
            let found = store.read(vec![Key::Name(name.clone())], &deadline).await?;
            if found.unresolved > 0 {
                let mut r = lock(run);
                r.remaining = true;
                r.unanswered = true;
            }
            let ids: Vec<LinkId> = found
                .names
                .get(&name)
                .map(|registry| registry.members().into_iter().collect())
                .unwrap_or_default();
            process(store.read_users(&ids, &deadline).await?).await?;
        }
        QueryPlan::Email(email) => {
            // Pages of keys: while one page's users are read and deleted (in up to four
            // lanes, as the scan's segments, each a whole number of BatchGetItem calls),
            // the next page is already being queried.
            let lanes = store.concurrency().clamp(1, 4);
            let mut page = store.users_by_email(&email, PAGE, None, &deadline).await?;
            loop {
                let Some(Page { items, next }) = page else {
                    let mut r = lock(run);
                    r.remaining = true;
                    r.unanswered = true;
                    break;
                };
                let lane = items
                    .len()
                    .div_ceil(lanes)
                    .next_multiple_of(READ_CHUNK)
                    .max(READ_CHUNK);
                let process = &process;
                let work =
                    stream::iter(items.chunks(lane).map(<[_]>::to_vec))
                        .map(|ids| async move {
                            process(store.read_users(&ids, &deadline).await?).await
                        })
                        .buffer_unordered(lanes)
                        .collect::<Vec<Result<bool, StoreError>>>();
                let prefetch = async {
                    match &next {
                        Some(start) if !deadline.expired() && !full(run) => store
                            .users_by_email(&email, PAGE, Some(start.clone()), &deadline)
                            .await
                            .map(Some),
                        _ => Ok(None),
                    }
                };
                let (done, fetched) = futures::join!(work, prefetch);
                done.into_iter().collect::<Result<Vec<bool>, _>>()?;
                if next.is_none() {
                    break;
                }
                match fetched? {
                    Some(p) if !deadline.expired() && !full(run) => page = p,
                    _ => {
                        lock(run).remaining = true;
                        break;
                    }
                }
            }
        }
        QueryPlan::Scan => {
            let expression = filter_plan::expression(filter);
            let total = i32::try_from(segments.len()).unwrap_or(1);
            let starts: Vec<(usize, Option<Cursor>)> = segments
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s {
                    Segment::Done => None,
                    Segment::Start => Some((i, None)),
                    Segment::After(key) => Some((i, Some(Cursor::after_key(key)))),
                })
                .collect();
            let scans = starts.into_iter().map(|(i, mut start)| {
                let expression = &expression;
                let process = &process;
                async move {
                    let segment = i32::try_from(i).unwrap_or(0);
                    loop {
                        let page = store
                            .scan_users(
                                expression,
                                (segment, total),
                                PAGE,
                                start.clone(),
                                &deadline,
                            )
                            .await?;
                        let Some(Page { items, next }) = page else {
                            let mut r = lock(run);
                            r.remaining = true;
                            r.unanswered = true;
                            return Ok::<_, StoreError>((i, at(&start)));
                        };
                        let settled = process(Users {
                            users: items,
                            incomplete: false,
                        })
                        .await?;
                        if !settled {
                            // Stays before this page: its unsettled users are looked
                            // at again by the next run.
                            lock(run).remaining = true;
                            return Ok((i, at(&start)));
                        }
                        start = next;
                        if start.is_none() {
                            return Ok((i, Segment::Done));
                        }
                        if deadline.expired() || full(run) {
                            lock(run).remaining = true;
                            return Ok((i, at(&start)));
                        }
                    }
                }
            });
            let results: Vec<Result<(usize, Segment), StoreError>> = stream::iter(scans)
                .buffer_unordered(SEGMENTS)
                .collect()
                .await;
            for result in results {
                let (i, stands) = result?;
                segments[i] = stands;
            }
            if segments.iter().any(|s| *s != Segment::Done) {
                lock(run).resume = Some(segments);
            }
        }
    }
    Ok(())
}

/// Where a scan segment stands: before the page it would read next.
fn at(start: &Option<Cursor>) -> Segment {
    match start.as_ref().and_then(Cursor::key) {
        Some(key) => Segment::After(key.to_owned()),
        None => Segment::Start,
    }
}

/// Whether the run deleted as many users as one answer lists.
fn full(run: &Mutex<FilterRun>) -> bool {
    lock(run).deleted.len() >= MAX_DELETED_PER_RUN
}

fn lock(run: &Mutex<FilterRun>) -> std::sync::MutexGuard<'_, FilterRun> {
    run.lock().unwrap_or_else(|p| p.into_inner())
}
