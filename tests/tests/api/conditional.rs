//! Every write is conditional on what was read and every answer is the truth at write
//! time: a write whose answer is lost is confirmed by sending it again with its token, a
//! user deleted between a request's read and its write stays deleted, and requests that
//! race for one name keep retrying until their deadline instead of giving up.

use api_tests::faults::{BeforeFirst, LostAnswers};
use api_tests::{Options, TestApp, infos, list, new_id, user};
use aws_sdk_dynamodb::config::SharedInterceptor;
use serde_json::json;

/// An app on `base`'s table whose first four transactions are applied and their answers
/// lost: more than the SDK's own three attempts, so the service's retry sends the same
/// transaction again too.
async fn losing_answers(base: &TestApp) -> (TestApp, LostAnswers) {
    let lost = LostAnswers::new("TransactWriteItems", 4);
    let app = base
        .sibling(Options {
            interceptor: Some(SharedInterceptor::new(lost.clone())),
            ..Default::default()
        })
        .await;
    (app, lost)
}

#[tokio::test]
async fn a_transaction_whose_answer_is_lost_is_confirmed_not_reported_twice() {
    let base = TestApp::new().await;
    let (app, lost) = losing_answers(&base).await;
    let ids: Vec<String> = (0..3).map(|_| new_id()).collect();
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| user(Some(id), &format!("Lost {i}"), &format!("lost-{i}")))
        .collect();
    let (status, body) = app.upsert(&list(items)).await;
    assert_eq!(status, 200);
    assert_eq!(lost.dropped(), 4, "the answers were really lost");
    // DynamoDB applied the first attempt; every later one is answered from the token.
    assert_eq!(infos(&body), ["created", "created", "created"], "{body}");
    for (i, id) in ids.iter().enumerate() {
        assert!(base.user(id).await.is_some());
        assert_eq!(
            base.owner_of("card", &format!("lost-{i}")).await.as_deref(),
            Some(id.as_str())
        );
    }

    // The same for a delete: `deleted`, not `not_found` for a delete that was applied.
    let (app, lost) = losing_answers(&base).await;
    let (status, body) = app.delete(&json!({"link_ids": [ids[0]]})).await;
    assert_eq!(status, 200);
    assert_eq!(lost.dropped(), 4);
    assert_eq!(infos(&body), ["deleted"], "{body}");
    assert!(base.user(&ids[0]).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_between_the_read_and_the_write_stays_deleted() {
    let base = TestApp::new().await;
    let id = new_id();
    base.upsert(&list(vec![user(Some(&id), "Gone Soon", "card-77")]))
        .await;

    // Just before the update is written, another request deletes the user.
    let deleter = base.sibling(Options::default()).await;
    let victim = id.clone();
    let hook = BeforeFirst::new("TransactWriteItems", move || {
        let runtime = tokio::runtime::Handle::current();
        let (status, body) = runtime.block_on(deleter.delete(&json!({"link_ids": [victim]})));
        assert_eq!((status, infos(&body)), (200, vec!["deleted".to_owned()]));
    });
    let app = base
        .sibling(Options {
            interceptor: Some(SharedInterceptor::new(hook.clone())),
            ..Default::default()
        })
        .await;
    let mut update = user(Some(&id), "Gone Soon", "card-77");
    update["info"] = json!("late update");
    let (status, body) = app.upsert(&list(vec![update])).await;
    assert!(hook.ran());
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"result": [{"link_id": id, "success": false,
                            "extended_info": "entity_not_found", "has_dublicates": false}]})
    );
    assert!(
        base.user(&id).await.is_none(),
        "the deleted user did not come back"
    );
    // Its card number is free for someone else.
    let other = new_id();
    let (_, body) = base
        .upsert(&list(vec![user(Some(&other), "Next Holder", "card-77")]))
        .await;
    assert_eq!(infos(&body), ["created"], "{body}");
    assert_eq!(
        base.owner_of("card", "card-77").await.as_deref(),
        Some(other.as_str())
    );
}

#[tokio::test]
async fn requests_racing_for_one_new_name_all_apply_before_their_deadline() {
    let base = TestApp::new().await;
    let ids: Vec<String> = (0..12).map(|_| new_id()).collect();
    let runs = ids.iter().enumerate().map(|(i, id)| {
        let base = &base;
        async move {
            base.upsert(&list(vec![user(
                Some(id),
                "Common Name",
                &format!("race-{i}"),
            )]))
            .await
        }
    });
    let answers = futures::future::join_all(runs).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(infos(body), ["created"], "{body}");
    }
    let mut holders = base.registry("Common Name").await;
    holders.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(holders, expected);
}
