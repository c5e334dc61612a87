//! What an operator watches: each invocation writes one metrics document (CloudWatch
//! embedded metric format) with the answer's status class, the items per outcome, the
//! DynamoDB requests and the SDK's retries among them; the clean-up says whether work is
//! left. The alarms in `template.yaml` watch these names.

use std::time::Duration;

use api_tests::faults::LostAnswers;
use api_tests::{Options, TestApp, list, new_id, user};
use serde_json::{Value, json};

/// The last document, checked against the EMF structure the alarms rely on.
fn last(app: &TestApp) -> Value {
    let doc = app.metrics().pop().expect("a metrics document");
    let directive = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "BulkUserApi");
    assert_eq!(
        directive["Dimensions"],
        json!([["Service", "Operation"], ["Service"]])
    );
    for name in directive["Metrics"].as_array().expect("metrics") {
        let name = name["Name"].as_str().expect("name");
        assert!(doc[name].is_u64(), "{name} is a count at the root: {doc}");
    }
    doc
}

#[tokio::test]
async fn an_upsert_publishes_its_outcomes_requests_and_retries() {
    let base = TestApp::new().await;
    let (status, _) = base.upsert(&list(vec![user(None, "Owner", "7")])).await;
    assert_eq!(status, 200);

    // The first BatchGetItem answer is lost on the way back: the SDK retries it.
    let lost = LostAnswers::new("BatchGetItem", 1);
    let app = base
        .sibling(Options {
            interceptor: Some(aws_sdk_dynamodb::config::SharedInterceptor::new(
                lost.clone(),
            )),
            ..Options::default()
        })
        .await;
    let before = app.calls.snapshot();
    let (status, _) = app
        .upsert(&list(vec![
            user(Some(&new_id()), "Ann", "1"),
            user(Some(&new_id()), "Bo", "2"),
            user(Some(&new_id()), "Cy", "7"),
        ]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(lost.dropped(), 1);
    let calls = app.calls_since(&before);
    let doc = last(&app);
    assert_eq!(doc["Operation"], "upsert");
    assert_eq!(doc["Service"], "bulk-user-api");
    assert_eq!(doc["requests"], 1);
    assert_eq!(doc["responses_4xx"], 0);
    assert_eq!(doc["responses_5xx"], 0);
    assert_eq!(doc["items"], 3);
    assert_eq!(doc["items_created"], 2);
    assert_eq!(doc["items_number_taken_by_another_identifier"], 1);
    assert_eq!(doc["items_not_processed"], 0, "published as 0 too");
    assert_eq!(doc["dynamodb_requests"], json!(calls.total()));
    assert_eq!(doc["dynamodb_retries"], 1, "{calls}");
}

#[tokio::test]
async fn refusals_removals_reads_and_filter_deletes_publish_their_counts() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&a), "Ann", "1"),
        user(Some(&b), "Bo", "2"),
    ]))
    .await;

    let (status, _) = app
        .upsert_raw(list(vec![]).to_string().into_bytes(), None)
        .await;
    assert_eq!(status, 401);
    let doc = last(&app);
    assert_eq!(
        (doc["requests"].clone(), doc["responses_4xx"].clone()),
        (json!(1), json!(1))
    );
    assert!(doc.get("items").is_none(), "nothing ran: {doc}");

    let missing = new_id();
    let (status, _) = app.soft(&[&a, &missing], true, None).await;
    assert_eq!(status, 200);
    let doc = last(&app);
    assert_eq!(doc["Operation"], "delete_or_restore");
    assert_eq!(doc["items"], 2);
    assert_eq!(doc["items_applied"], 1);
    assert_eq!(doc["items_not_found"], 1);
    assert_eq!(doc["items_not_processed"], 0);

    let (status, _) = app.read("/api/v1/users?include_deleted=true").await;
    assert_eq!(status, 200);
    assert_eq!(last(&app)["users_returned"], 2);

    let (status, _) = app.filter_delete("name=Bo&dry_run=true").await;
    assert_eq!(status, 200);
    let doc = last(&app);
    assert_eq!(
        (doc["filter_matched"].clone(), doc["dry_runs"].clone()),
        (json!(1), json!(1))
    );
    assert!(
        doc.get("items_deleted").is_none(),
        "a dry run deletes nothing: {doc}"
    );
    let (status, _) = app.filter_delete("name=Bo").await;
    assert_eq!(status, 200);
    let doc = last(&app);
    assert_eq!(doc["Operation"], "filter_delete");
    assert_eq!(doc["items_deleted"], 1);
    assert_eq!(doc["filter_remaining"], 0);
}

#[tokio::test]
async fn the_cleanup_publishes_what_it_purged_and_whether_work_is_left() {
    let app = TestApp::new().await;
    let id = new_id();
    app.upsert(&list(vec![user(Some(&id), "Old", "1")])).await;
    app.soft(&[&id], true, None).await;
    app.backdate_soft_delete(&id, Duration::from_secs(40 * 86_400))
        .await;
    let summary = app.cleanup(json!({"purge": true})).await.expect("cleanup");
    assert_eq!(summary["purged"], 1);
    let doc = last(&app);
    assert_eq!(doc["Operation"], "cleanup");
    assert_eq!(doc["cleanup_purged"], 1);
    assert_eq!(doc["cleanup_remaining"], 0);
    assert_eq!(doc["cleanup_failed_runs"], 0);
    assert!(doc["dynamodb_requests"].as_u64().unwrap() > 0);

    // A misconfigured rule fails the invocation and says so in the metrics too.
    let err = app
        .cleanup(json!({"purge": true, "filters": [{"no_such_parameter": "x"}]}))
        .await;
    assert!(err.is_err());
    assert_eq!(last(&app)["cleanup_failed_runs"], 1);
}
