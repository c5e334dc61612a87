//! The scheduled clean-up: purge users soft-deleted longer than the retention, then run
//! the saved filter deletes given in the schedule rule's input, with the same core as
//! `DELETE /api/v1/users?<filter>`.
//!
//! Every user is removed by one conditional transaction, so a run cut short by its
//! deadline leaves nothing half-done; the next run finds what is left (the purge through
//! the sparse `deleted-index`, the filters by matching again) and carries on.

mod purge;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::MAX_RETENTION_DAYS;
use crate::deadline::Deadline;
use crate::domain::Timestamp;
use crate::domain::filter::{FilterRequest, pairs_digest};
use crate::service::filter_delete::{FilterDeleteError, delete_by_filter};
use crate::service::read::Segment;
use crate::store::{Store, StoreError};

pub use self::purge::{PurgeRun, purge_soft_deleted};

/// What a run does, from the rule's input (or defaults for a plain scheduled event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanupInput {
    /// Purge soft-deleted users (default true).
    pub purge: bool,
    /// Overrides the configured retention.
    pub retention_days: Option<u64>,
    /// Saved filters: the query parameters of the filter endpoint, e.g.
    /// `{"active": "false", "last_login_time_lt": "now-365d"}`.
    pub filters: Vec<BTreeMap<String, String>>,
}

/// Why a rule input cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid clean-up input: {0}")]
pub struct InputError(String);

/// The purge's cut-off: users soft-deleted before it are purged. The rule input's
/// `retention_days`, when given, overrides the configured retention; more than
/// [`MAX_RETENTION_DAYS`] is refused (the same bound as `SOFT_DELETE_RETENTION_DAYS`), and
/// so is any retention that would reach before the year 0000, so no input can overflow.
pub fn purge_cutoff(
    now: Timestamp,
    configured: Duration,
    retention_days: Option<u64>,
) -> Result<Timestamp, InputError> {
    let too_long = || {
        InputError(format!(
            "`retention_days` must be at most {MAX_RETENTION_DAYS} (100 years)"
        ))
    };
    let retention = match retention_days {
        None => configured,
        Some(days) if days > MAX_RETENTION_DAYS => return Err(too_long()),
        Some(days) => Duration::from_secs(days.checked_mul(86_400).ok_or_else(too_long)?),
    };
    now.checked_sub(retention).ok_or_else(too_long)
}

impl CleanupInput {
    /// Reads the event: an EventBridge scheduled event (its `detail` holds the input, and
    /// is usually empty) or the constant JSON a rule passes as its `Input`.
    pub fn from_event(event: &Value) -> Result<Self, InputError> {
        let input = if event.get("detail-type").is_some() {
            event.get("detail").cloned().unwrap_or(Value::Null)
        } else {
            event.clone()
        };
        let obj = match &input {
            Value::Null => return Ok(Self::default()),
            Value::Object(map) => map,
            _ => return Err(InputError("expected a JSON object".into())),
        };
        let purge = match obj.get("purge") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(InputError("`purge` must be a boolean".into())),
        };
        let retention_days = match obj.get("retention_days") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| InputError("`retention_days` must be a whole number".into()))?,
            ),
        };
        let mut filters = Vec::new();
        if let Some(list) = obj.get("filters") {
            let list = list
                .as_array()
                .ok_or_else(|| InputError("`filters` must be a list".into()))?;
            for (i, f) in list.iter().enumerate() {
                let map = f
                    .as_object()
                    .ok_or_else(|| InputError(format!("`filters[{i}]` must be an object")))?;
                let mut params = BTreeMap::new();
                for (k, v) in map {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Bool(_) | Value::Number(_) => v.to_string(),
                        _ => {
                            return Err(InputError(format!(
                                "`filters[{i}].{k}` must be a string, number or boolean"
                            )));
                        }
                    };
                    params.insert(k.clone(), v);
                }
                filters.push(params);
            }
        }
        Ok(Self {
            purge,
            retention_days,
            filters,
        })
    }
}

impl Default for CleanupInput {
    fn default() -> Self {
        Self {
            purge: true,
            retention_days: None,
            filters: Vec::new(),
        }
    }
}

/// One saved filter's result.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FilterSummary {
    /// The filter as given.
    pub filter: BTreeMap<String, String>,
    /// Users found matching.
    pub matched: usize,
    /// Users deleted.
    pub deleted: usize,
    /// Matched but not deleted (changed meanwhile or not processed).
    pub failed: usize,
    /// More may match; the next run carries on.
    pub remaining: bool,
    /// Why the filter did not run, if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The structured summary of one run (logged once, and returned).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CleanupSummary {
    /// Soft-deleted users found past the retention.
    pub found: usize,
    /// Purged.
    pub purged: usize,
    /// Not purged (restored meanwhile, or not processed before the deadline).
    pub failed: usize,
    /// More work is due: the run stopped at its deadline.
    pub remaining: bool,
    /// The retention cut-off used (stored time form).
    pub purged_before: Option<String>,
    /// Why the purge did not run (an unusable `retention_days`), if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_error: Option<String>,
    /// Each saved filter's result.
    pub filters: Vec<FilterSummary>,
}

impl CleanupSummary {
    /// Whether part of the rule input could not be used (a misconfigured rule): the purge's
    /// retention or a saved filter.
    pub fn has_errors(&self) -> bool {
        self.purge_error.is_some() || self.filters.iter().any(|f| f.error.is_some())
    }
}

/// Runs the clean-up. `actor` is recorded in the logs of the removals.
pub async fn run_cleanup(
    store: &Store,
    input: &CleanupInput,
    retention: Duration,
    max_ids: usize,
    deadline: Deadline,
) -> Result<CleanupSummary, StoreError> {
    const ACTOR: &str = "scheduled-cleanup";
    let now = Timestamp::now();
    let mut summary = CleanupSummary::default();
    if input.purge {
        match purge_cutoff(now, retention, input.retention_days) {
            Err(e) => summary.purge_error = Some(e.to_string()),
            Ok(cutoff) => {
                let PurgeRun {
                    found,
                    purged,
                    skipped,
                    failed,
                    remaining,
                } = purge_soft_deleted(store, cutoff, ACTOR, deadline).await?;
                summary.found = found;
                summary.purged = purged;
                summary.failed = failed + skipped;
                summary.remaining = remaining;
                summary.purged_before = Some(cutoff.to_db_string());
            }
        }
    }
    // Where each saved filter's scan stopped last run: one batched read for them all.
    let ids: Vec<String> = input.filters.iter().map(progress_id).collect();
    let saved = if ids.is_empty() || deadline.expired() {
        HashMap::new()
    } else {
        store.progress(&ids, &deadline).await?
    };
    for (params, id) in input.filters.iter().zip(&ids) {
        let mut result = FilterSummary {
            filter: params.clone(),
            matched: 0,
            deleted: 0,
            failed: 0,
            remaining: false,
            error: None,
        };
        let parsed = FilterRequest::parse(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            now,
            max_ids,
        );
        match parsed {
            Err(e) => result.error = Some(e.to_string()),
            Ok(_) if deadline.expired() => result.remaining = true,
            Ok(request) => {
                let had = saved.get(id);
                let resume = had.and_then(|p| serde_json::from_str::<Vec<Segment>>(p).ok());
                match delete_by_filter(store, &request, resume, ACTOR, deadline).await {
                    Ok(run) => {
                        result.matched = run.matched;
                        result.deleted = run.deleted.len();
                        result.failed = run.not_deleted;
                        result.remaining = run.remaining;
                        // The next run goes on from here (or from the start once the
                        // table was covered). Not kept in time: the next run repeats
                        // part of this one's scan, nothing is skipped.
                        let now_at = run
                            .resume
                            .as_ref()
                            .and_then(|s| serde_json::to_string(s).ok());
                        if now_at.as_ref() != had {
                            let kept = deadline.for_answer();
                            if let Err(e) = store.set_progress(id, now_at.as_deref(), &kept).await {
                                tracing::warn!(error = ?e, filter = id, "clean-up progress not kept");
                            }
                        }
                    }
                    Err(FilterDeleteError::UserNotFound) => {}
                    Err(FilterDeleteError::Store(e)) => return Err(e),
                }
            }
        }
        summary.remaining |= result.remaining;
        summary.filters.push(result);
    }
    Ok(summary)
}

/// The id under which a saved filter's progress is kept: a digest of its parameters
/// (sorted), so a changed filter starts afresh.
fn progress_id(params: &BTreeMap<String, String>) -> String {
    let digest = pairs_digest(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plain_scheduled_event_purges_with_defaults() {
        let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert_eq!(
            CleanupInput::from_event(&event).unwrap(),
            CleanupInput::default()
        );
    }

    #[test]
    fn rule_input_sets_retention_and_filters() {
        let event =
            json!({"retention_days": 7, "filters": [{"active": false, "user_type": "visitor"}]});
        let input = CleanupInput::from_event(&event).unwrap();
        assert_eq!(input.retention_days, Some(7));
        assert_eq!(input.filters[0]["active"], "false");
        assert!(input.purge);
        for bad in [
            json!([1]),
            json!({"filters": {}}),
            json!({"retention_days": "x"}),
            json!({"filters": [{"a": []}]}),
            json!({"retention_days": -1}),
            json!({"retention_days": 1e300}),
        ] {
            assert!(CleanupInput::from_event(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_retention_beyond_100_years_is_refused_not_overflowed() {
        let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        let configured = Duration::from_secs(30 * 86_400);
        for days in [36_501, 999_999_999_999, u64::MAX / 86_400 + 1, u64::MAX] {
            assert_eq!(
                purge_cutoff(now, configured, Some(days))
                    .unwrap_err()
                    .to_string(),
                "invalid clean-up input: `retention_days` must be at most 36500 (100 years)",
                "{days}"
            );
        }
        assert_eq!(
            purge_cutoff(now, configured, None).unwrap().to_db_string(),
            "2026-05-02T00:00:00.000Z"
        );
        assert_eq!(
            purge_cutoff(now, configured, Some(36_500))
                .unwrap()
                .to_db_string(),
            "1926-06-26T00:00:00.000Z"
        );
        assert_eq!(
            purge_cutoff(now, configured, Some(0)).unwrap(),
            now,
            "0 purges everything soft-deleted"
        );
        // The input itself still reads: the run reports the bad value in its summary.
        let input =
            CleanupInput::from_event(&json!({"retention_days": 999_999_999_999u64})).unwrap();
        assert_eq!(input.retention_days, Some(999_999_999_999));
    }

    #[test]
    fn a_summary_with_a_purge_error_has_errors() {
        let mut summary = CleanupSummary::default();
        assert!(!summary.has_errors());
        assert!(
            serde_json::to_value(&summary)
                .unwrap()
                .get("purge_error")
                .is_none()
        );
        summary.purge_error = Some("x".into());
        assert!(summary.has_errors());
        assert_eq!(serde_json::to_value(&summary).unwrap()["purge_error"], "x");
    }
}
