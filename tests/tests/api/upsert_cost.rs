//! Request cost is part of the contract: DynamoDB calls are counted.

use api_tests::{TestApp, infos, list, new_id, user};
use serde_json::json;

fn users(ids: &[String], tag: &str) -> serde_json::Value {
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut u = user(
                Some(id),
                &format!("Person {i}"),
                &format!("{}", 100_000 + i),
            );
            u["info"] = json!(tag);
            u
        })
        .collect();
    list(items)
}

#[tokio::test]
async fn updating_1000_users_by_id_costs_ten_batch_reads_and_ten_conditional_transactions() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
    let before = app.calls.snapshot();
    let (_, created) = app.upsert(&users(&ids, "v1")).await;
    assert!(infos(&created).iter().all(|i| i == "created"));
    let create_calls = app.calls_since(&before);
    // Users (10) and name registries (10) are read; each user is one transaction of
    // three actions (user, card claim, registry), 33 users per transaction.
    assert_eq!(create_calls.get("BatchGetItem"), 20, "{create_calls}");
    assert_eq!(create_calls.get("TransactWriteItems"), 31, "{create_calls}");
    assert_eq!(create_calls.get("BatchWriteItem"), 0, "{create_calls}");

    let before = app.calls.snapshot();
    let (_, updated) = app.upsert(&users(&ids, "v2")).await;
    assert!(infos(&updated).iter().all(|i| i == "updated"));
    let calls = app.calls_since(&before);
    // Each update is one put conditional on the version read, 100 per transaction.
    assert_eq!(calls.get("BatchGetItem"), 10, "{calls}");
    assert_eq!(calls.get("TransactWriteItems"), 10, "{calls}");
    assert_eq!(calls.total(), 20, "nothing else: {calls}");
    let sample = app.user(&ids[999]).await.unwrap();
    assert_eq!(sample.info.as_deref(), Some("v2"));
}

#[tokio::test]
async fn name_matching_reads_registries_then_users_in_batches() {
    let app = TestApp::new().await;
    let items: Vec<_> = (0..150)
        .map(|i| user(None, &format!("Guest {i}"), &format!("g{i}")))
        .collect();
    let (_, created) = app.upsert(&list(items.clone())).await;
    assert!(infos(&created).iter().all(|i| i == "created"));
    let before = app.calls.snapshot();
    let (_, updated) = app.upsert(&list(items)).await;
    assert!(infos(&updated).iter().all(|i| i == "updated"));
    let calls = app.calls_since(&before);
    // 150 registries (2 calls), then the 150 matched users (2 calls); 2 transactions
    // of conditional puts.
    assert_eq!(calls.get("BatchGetItem"), 4, "{calls}");
    assert_eq!(calls.get("TransactWriteItems"), 2, "{calls}");
    assert_eq!(calls.total(), 6, "{calls}");
}
