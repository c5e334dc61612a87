//! Reading the directory back (docs/contracts.md#read-users): one user by id, and pages
//! of the users a filter finds, in a stable order.
//!
//! A listing uses the filter delete's query plan: ids are read by key (batched), an
//! e-mail through `email-index`, a name through its registry, anything else by a
//! parallel scan. A page ends at `limit` users, at a byte budget (face images), or at the
//! deadline; its [`Position`] says where the next page starts — after the last user
//! looked at, so no user is skipped or returned twice while the table does not change.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::deadline::Deadline;
use crate::domain::LinkId;
use crate::domain::filter::Filter;
use crate::service::filter_plan::{QueryPlan, Scope, expression_in, matches_in, query_plan};
use crate::store::find::{Cursor, PAGE, Page};
use crate::store::read::Key;
use crate::store::records::UserRecord;
use crate::store::{Store, StoreError};

/// Users per page unless the client asks for another number.
pub const DEFAULT_LIMIT: usize = 100;
/// The most users one page holds.
pub const MAX_LIMIT: usize = 1000;
/// Stored bytes one page may carry (face images dominate): about 5.4 MB as base64 JSON,
/// under Lambda's 6 MB answer limit. A page holds at least one user whatever its size.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// What a user without images is counted as against [`MAX_PAGE_BYTES`].
const USER_BYTES: usize = 2048;
/// Scan segments of a listing that scans (fixed by its first page).
const SEGMENTS: usize = 4;

/// A listing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// Which users.
    pub filter: Filter,
    /// Live users only, or soft-deleted ones too.
    pub scope: Scope,
    /// Users per page, 1 to [`MAX_LIMIT`].
    pub limit: usize,
    /// Whether face images are returned (they count against [`MAX_PAGE_BYTES`]).
    pub with_faces: bool,
    /// Where this page starts; `None`: the first page.
    pub start: Option<Position>,
}

/// Where a page starts: after the last user the previous page looked at, in the terms
/// of the listing's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum Position {
    /// The ids of `user_id`/`user_id_in` from this index on.
    Ids {
        /// Index into the requested ids (repeats removed).
        next: usize,
    },
    /// The name's registry members (in id order) after this one.
    Name {
        /// The last member looked at.
        after: Option<LinkId>,
    },
    /// The e-mail's index entries after this user's.
    Email {
        /// The last user looked at.
        after: Option<LinkId>,
    },
    /// Each scan segment's position.
    Scan {
        /// One per segment.
        segments: Vec<Segment>,
    },
}

/// Where one scan segment stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Not scanned yet.
    Start,
    /// Continues after the item with this key (store-defined, opaque here).
    After(String),
    /// Scanned to its end.
    Done,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct ListPage {
    /// The users, in the listing's order.
    pub users: Vec<UserRecord>,
    /// Where the next page starts; `None`: this is the last page.
    pub next: Option<Position>,
}

/// Why a listing could not run.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The position is not one of this listing's plan (a cursor of another listing).
    #[error("the position belongs to another listing")]
    ForeignPosition,
    /// The store failed, or did not answer, before anything was read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user with this id, soft-deleted or not; `None`: no such user. One read.
pub async fn get_user(
    store: &Store,
    id: LinkId,
    deadline: &Deadline,
) -> Result<Option<UserRecord>, StoreError> {
    let read = store.read_users(&[id], deadline).await?;
    if read.incomplete {
        return Err(StoreError::Unanswered("BatchGetItem"));
    }
    Ok(read.users.into_iter().next())
}

/// Where the candidates of a listing come from: the filter delete's plan, but the name
/// registry holds live users only, so a name listing that includes soft-deleted users
/// scans.
pub fn listing_plan(filter: &Filter, scope: Scope) -> QueryPlan {
    match query_plan(filter) {
        QueryPlan::Name(_) if scope == Scope::WithDeleted => QueryPlan::Scan,
        plan => plan,
    }
}

/// One page of `listing`.
pub async fn list_users(
    store: &Store,
    listing: &Listing,
    deadline: &Deadline,
) -> Result<ListPage, ListError> {
    let mut page = Collector::new(listing);
    let next = match (listing_plan(&listing.filter, listing.scope), &listing.start) {
        (QueryPlan::Ids(ids), None) => by_ids(store, &ids, 0, &mut page, deadline).await?,
        (QueryPlan::Ids(ids), Some(Position::Ids { next })) => {
            by_ids(store, &ids, *next, &mut page, deadline).await?
        }
        (QueryPlan::Name(name), start) => {
            let after = after(start, |p| match p {
                Position::Name { after } => Some(*after),
                _ => None,
            })?;
            by_name(store, &name, after, &mut page, deadline).await?
        }
        (QueryPlan::Email(email), start) => {
            let after = after(start, |p| match p {
                Position::Email { after } => Some(*after),
                _ => None,
            })?;
            by_email(store, &email, after, &mut page, deadline).await?
        }
        (QueryPlan::Scan, start) => {
            let segments = match start {
                None => vec![Segment::Start; SEGMENTS],
                Some(Position::Scan { segments })
                    if !segments.is_empty() && segments.len() <= SEGMENTS =>
                {
                    segments.clone()
                }
                Some(_) => return Err(ListError::ForeignPosition),
            };
            by_scan(store, listing, segments, &mut page, deadline).await?
        }
        (QueryPlan::Ids(_), Some(_)) => return Err(ListError::ForeignPosition),
    };
    Ok(ListPage {
        users: page.users,
        next,
    })
}

/// The last user a listing by name or e-mail looked at: `None` on the first page; a
/// position of another plan is foreign.
fn after(
    start: &Option<Position>,
    of_plan: impl Fn(&Position) -> Option<Option<LinkId>>,
) -> Result<Option<LinkId>, ListError> {
    match start {
        None => Ok(None),
        Some(p) => of_plan(p).ok_or(ListError::ForeignPosition),
    }
}

/// The users of a page as they are found, up to its limit and byte budget.
struct Collector<'a> {
    listing: &'a Listing,
    users: Vec<UserRecord>,
    bytes: usize,
    /// Whether any read was answered (a listing that read nothing at all is a 503).
    answered: bool,
}

impl<'a> Collector<'a> {
    fn new(listing: &'a Listing) -> Self {
        Self {
            listing,
            users: Vec::new(),
            bytes: 0,
            answered: false,
        }
    }

    fn full(&self) -> bool {
        self.users.len() >= self.listing.limit || self.bytes >= MAX_PAGE_BYTES
    }

    /// Users still wanted (at least 1).
    fn wanted(&self) -> usize {
        self.listing.limit.saturating_sub(self.users.len()).max(1)
    }

    /// Keeps `user` if it is in the listing; answers whether the page is now full.
    fn offer(&mut self, user: UserRecord) -> bool {
        if matches_in(self.listing.scope, &self.listing.filter, &user) {
            let faces = if self.listing.with_faces {
                user.face_bytes()
            } else {
                0
            };
            self.bytes += USER_BYTES + faces;
            self.users.push(user);
        }
        self.full()
    }

    /// A read that had no answer before the deadline: the page ends where it is, or,
    /// when nothing was read at all, the listing fails (503: nothing to show).
    fn unanswered<T>(&self, operation: &'static str, here: T) -> Result<T, StoreError> {
        if self.answered {
            Ok(here)
        } else {
            Err(StoreError::Unanswered(operation))
        }
    }
}

/// Reads `ids[from..]` in order until the page is full; answers the index to continue
/// from (`None`: all looked at).
async fn walk_ids(
    store: &Store,
    ids: &[LinkId],
    from: usize,
    page: &mut Collector<'_>,
    deadline: &Deadline,
) -> Result<Option<usize>, StoreError> {
    let mut next = from.min(ids.len());
    while next < ids.len() {
        if page.full() || deadline.expired() {
            return page.unanswered("BatchGetItem", Some(next));
        }
        let chunk = &ids[next..ids.len().min(next + page.wanted())];
        let read = store.read_users(chunk, deadline).await?;
        if read.incomplete {
            return page.unanswered("BatchGetItem", Some(next));
        }
        page.answered = true;
        let mut found: HashMap<LinkId, UserRecord> =
            read.users.into_iter().map(|u| (u.link_id, u)).collect();
        for (i, id) in chunk.iter().enumerate() {
            let full = found.remove(id).is_some_and(|u| page.offer(u));
            if full {
                let after = next + i + 1;
                return Ok((after < ids.len()).then_some(after));
            }
        }
        next += chunk.len();
    }
    Ok(None)
}

async fn by_ids(
    store: &Store,
    ids: &[LinkId],
    from: usize,
    page: &mut Collector<'_>,
    deadline: &Deadline,
) -> Result<Option<Position>, StoreError> {
    let next = walk_ids(store, ids, from, page, deadline).await?;
    Ok(next.map(|next| Position::Ids { next }))
}

async fn by_name(
    store: &Store,
    name: &str,
    after: Option<LinkId>,
    page: &mut Collector<'_>,
    deadline: &Deadline,
) -> Result<Option<Position>, StoreError> {
    let found = store
        .read(vec![Key::Name(name.to_owned())], deadline)
        .await?;
    let Some(registry) = found.names.get(name) else {
        return page.unanswered("BatchGetItem", Some(Position::Name { after }));
    };
    page.answered = true;
    let members: Vec<LinkId> = registry
        .members()
        .into_iter()
        .filter(|id| after.is_none_or(|a| *id > a))
        .collect();
    let next = walk_ids(store, &members, 0, page, deadline).await?;
    Ok(next.map(|i| Position::Name {
        after: i.checked_sub(1).map(|last| members[last]).or(after),
    }))
}

async fn by_email(
    store: &Store,
    email: &str,
    mut after: Option<LinkId>,
    page: &mut Collector<'_>,
    deadline: &Deadline,
) -> Result<Option<Position>, StoreError> {
    loop {
        if page.full() || deadline.expired() {
            return page.unanswered("Query", Some(Position::Email { after }));
        }
        let wanted = i32::try_from(page.wanted().min(PAGE as usize)).unwrap_or(PAGE);
        let start = after.map(|id| Cursor::after_email_entry(email, &id));
        let Some(Page { items, next }) =
            store.users_by_email(email, wanted, start, deadline).await?
        else {
            return page.unanswered("Query", Some(Position::Email { after }));
        };
        page.answered = true;
        let read = store.read_users(&items, deadline).await?;
        let mut found: HashMap<LinkId, UserRecord> =
            read.users.into_iter().map(|u| (u.link_id, u)).collect();
        for (i, id) in items.iter().enumerate() {
            if read.incomplete && !found.contains_key(id) {
                // Not answered in time (or absent): continue from here on the next page.
                return Ok(Some(Position::Email { after }));
            }
            after = Some(*id);
            let full = found.remove(id).is_some_and(|u| page.offer(u));
            if full {
                let last = i + 1 == items.len() && next.is_none();
                return Ok((!last).then_some(Position::Email { after }));
            }
        }
        match next {
            None => return Ok(None),
            Some(cursor) => after = cursor.user().or(after),
        }
    }
}

async fn by_scan(
    store: &Store,
    listing: &Listing,
    mut segments: Vec<Segment>,
    page: &mut Collector<'_>,
    deadline: &Deadline,
) -> Result<Option<Position>, StoreError> {
    let expression = expression_in(listing.scope, &listing.filter);
    let total = i32::try_from(segments.len()).unwrap_or(1);
    let mut round = 0u32;
    loop {
        let active: Vec<usize> = (0..segments.len())
            .filter(|s| segments[*s] != Segment::Done)
            .collect();
        if active.is_empty() {
            return Ok(None);
        }
        if page.full() || deadline.expired() {
            return page.unanswered("Scan", Some(Position::Scan { segments }));
        }
        // Each segment looks at its share of what is still wanted; when the filter drops
        // most items, later rounds look further (doubling, up to a full page).
        let share = page.wanted().div_ceil(active.len());
        let look = (share << round.min(10)).min(PAGE as usize);
        let look = i32::try_from(look).unwrap_or(PAGE);
        let scans = active.iter().map(|s| {
            let start = match &segments[*s] {
                Segment::After(key) => Some(Cursor::after_key(key)),
                _ => None,
            };
            let segment = i32::try_from(*s).unwrap_or(0);
            store.scan_users(&expression, (segment, total), look, start, deadline)
        });
        let results = futures::future::join_all(scans).await;
        let mut any = false;
        for (s, result) in active.into_iter().zip(results) {
            let Some(Page { items, next }) = result? else {
                continue;
            };
            any = true;
            page.answered = true;
            if page.full() {
                // Found beyond the end of the page: this segment stays where it was.
                continue;
            }
            let mut cut = false;
            for user in items {
                let key = Cursor::after_user(&user.link_id);
                let full = page.offer(user);
                segments[s] = Segment::After(key.key().unwrap_or_default().to_owned());
                if full {
                    cut = true;
                    break;
                }
            }
            if !cut {
                segments[s] = match next.as_ref().and_then(Cursor::key) {
                    Some(key) => Segment::After(key.to_owned()),
                    None => Segment::Done,
                };
            }
        }
        if !any {
            return page.unanswered("Scan", Some(Position::Scan { segments }));
        }
        round += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::FilterRequest;

    fn filter(q: &str) -> Filter {
        let pairs = crate::domain::filter::query_pairs(q);
        FilterRequest::parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            crate::domain::Timestamp::now(),
            10,
        )
        .unwrap()
        .filter
    }

    #[test]
    fn a_name_listing_with_soft_deleted_users_scans_since_the_registry_holds_live_users() {
        let f = filter("name=Ann");
        assert_eq!(listing_plan(&f, Scope::Live), QueryPlan::Name("Ann".into()));
        assert_eq!(listing_plan(&f, Scope::WithDeleted), QueryPlan::Scan);
        let f = filter("email=a@b.c");
        assert_eq!(
            listing_plan(&f, Scope::WithDeleted),
            QueryPlan::Email("a@b.c".into())
        );
        assert_eq!(
            listing_plan(&Filter::default(), Scope::Live),
            QueryPlan::Scan
        );
    }

    #[test]
    fn positions_are_tagged_by_plan() {
        let p = Position::Scan {
            segments: vec![
                Segment::Start,
                Segment::After("USER#x".into()),
                Segment::Done,
            ],
        };
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"{"plan":"scan","segments":["start",{"after":"USER#x"},"done"]}"#
        );
        assert_eq!(serde_json::from_str::<Position>(&text).unwrap(), p);
        let p = Position::Ids { next: 3 };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"plan":"ids","next":3}"#
        );
    }

    #[test]
    fn a_page_is_full_at_its_limit_or_its_byte_budget() {
        let listing = Listing {
            filter: Filter::default(),
            scope: Scope::Live,
            limit: 2,
            with_faces: true,
            start: None,
        };
        let mut page = Collector::new(&listing);
        let user = |bytes: usize| {
            let mut u = UserRecord::for_tests(LinkId::new_random(), "Ann", Vec::new());
            u.auth_factors = vec![crate::store::records::StoredFactor::Face {
                image: vec![0; bytes],
            }];
            u
        };
        assert!(!page.offer(user(10)));
        assert_eq!(page.wanted(), 1);
        assert!(page.offer(user(10)), "two users: the limit");
        let mut page = Collector::new(&listing);
        assert!(page.offer(user(MAX_PAGE_BYTES)), "one user over the budget");
        let mut deleted = user(1);
        deleted.deleted_at = Some("2026-01-01T00:00:00.000Z".into());
        let mut page = Collector::new(&listing);
        assert!(!page.offer(deleted.clone()));
        assert!(page.users.is_empty(), "soft-deleted users are not listed");
        let with_deleted = Listing {
            scope: Scope::WithDeleted,
            ..listing.clone()
        };
        let mut page = Collector::new(&with_deleted);
        page.offer(deleted);
        assert_eq!(page.users.len(), 1);
    }
}
