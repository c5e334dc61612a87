//! The scheduled clean-up (EventBridge): read the rule's input, run
//! [`shared::service::cleanup::run_cleanup`], log one structured summary and one metrics
//! document (`cleanup_remaining` is 1 while work is left for the next run) and return it.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::app::App;
use shared::deadline::Deadline;
use shared::metrics::Metrics;
use shared::service::cleanup::{CleanupInput, run_cleanup};

/// Handles one scheduled event. A misconfigured saved filter or an unusable
/// `retention_days` fails the invocation (after the rest of the work is done and logged)
/// so that it shows in the function's errors.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let config = &app.config;
    let deadline = Deadline::for_invocation(
        event.context.deadline,
        config.deadline_margin,
        config.default_budget,
    );
    let input = CleanupInput::from_event(&event.payload)?;
    let (summary, calls) = app
        .counted(run_cleanup(
            &app.store,
            &input,
            config.soft_delete_retention,
            config.limits.max_items,
            deadline,
        ))
        .await;
    let mut metrics = Metrics::new("cleanup");
    metrics.dynamodb(&calls);
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => {
            app.metrics.emit(metrics.add("cleanup_failed_runs", 1));
            return Err(e.into());
        }
    };
    let filters_deleted: usize = summary.filters.iter().map(|f| f.deleted).sum();
    let remaining = summary.remaining || summary.filters.iter().any(|f| f.remaining);
    metrics
        .add_count("cleanup_found", summary.found)
        .add_count("cleanup_purged", summary.purged)
        .add_count("cleanup_not_purged", summary.failed)
        .add_count("cleanup_filter_deleted", filters_deleted)
        .add("cleanup_remaining", u64::from(remaining))
        .add("cleanup_failed_runs", u64::from(summary.has_errors()));
    app.metrics.emit(&metrics);
    tracing::info!(
        found = summary.found,
        purged = summary.purged,
        failed = summary.failed,
        remaining = summary.remaining,
        filters = summary.filters.len(),
        filters_deleted,
        dynamodb_calls = %calls,
        "cleanup summary"
    );
    let body = serde_json::to_value(&summary)?;
    if summary.has_errors() {
        return Err(format!("cleanup ran with invalid input: {body}").into());
    }
    Ok(body)
}
