//! Card and PIN numbers are unique across users (`number_taken_by_another_identifier`).

use api_tests::{TestApp, infos, list, new_id, user};
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn a_number_another_user_holds_is_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![user(Some(&a), "A", "700")])).await;
    let (_, body) = app.upsert(&list(vec![user(Some(&b), "B", "700")])).await;
    assert_eq!(
        body,
        json!({"result": [{"link_id": b, "success": false,
            "extended_info": "number_taken_by_another_identifier", "has_dublicates": false}]})
    );
    assert!(app.user(&b).await.is_none());
    assert_eq!(app.registry("B").await, Vec::<String>::new());
    assert_eq!(
        app.owner_of("card", "700").await.as_deref(),
        Some(a.as_str())
    );
}

#[tokio::test]
async fn a_changed_number_is_freed_for_others() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![user(Some(&a), "A", "1")])).await;
    let (_, body) = app.upsert(&list(vec![user(Some(&a), "A", "2")])).await;
    assert_eq!(infos(&body), ["updated"]);
    let (_, body) = app.upsert(&list(vec![user(Some(&b), "B", "1")])).await;
    assert_eq!(infos(&body), ["created"]);
    assert_eq!(app.owner_of("card", "1").await.as_deref(), Some(b.as_str()));
    assert_eq!(app.owner_of("card", "2").await.as_deref(), Some(a.as_str()));
}

#[tokio::test]
async fn card_and_pin_with_the_same_digits_are_different_identifiers() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    let pin =
        json!({"link_id": b, "name": "B", "auth_factors": [{"type": "pin", "number": "1234"}]});
    let (_, body) = app
        .upsert(&list(vec![user(Some(&a), "A", "1234"), pin]))
        .await;
    assert_eq!(infos(&body), ["created", "created"]);
}

#[tokio::test]
async fn within_one_request_the_first_item_claiming_a_number_wins() {
    let app = TestApp::new().await;
    let (a, b, c) = (new_id(), new_id(), new_id());
    let body = list(vec![
        user(Some(&a), "A", "9"),
        user(Some(&b), "B", "9"),
        user(Some(&c), "C", "10"),
    ]);
    let (_, answer) = app.upsert(&body).await;
    assert_eq!(
        infos(&answer),
        ["created", "number_taken_by_another_identifier", "created"]
    );
    assert_eq!(app.owner_of("card", "9").await.as_deref(), Some(a.as_str()));
}

#[tokio::test]
async fn a_cancelled_transaction_is_retried_without_the_user_whose_claim_failed() {
    let app = TestApp::new().await;
    let holder = new_id();
    app.upsert(&list(vec![user(Some(&holder), "Holder", "500")]))
        .await;
    let ids: Vec<String> = (0..10).map(|_| new_id()).collect();
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let card = if i == 4 {
                "500".to_owned()
            } else {
                format!("6{i}")
            };
            user(Some(id), &format!("N{i}"), &card)
        })
        .collect();
    let before = app.calls.snapshot();
    let (_, answer) = app.upsert(&list(items)).await;
    let expected: Vec<&str> = (0..10)
        .map(|i| {
            if i == 4 {
                "number_taken_by_another_identifier"
            } else {
                "created"
            }
        })
        .collect();
    assert_eq!(infos(&answer), expected);
    // All ten fit one transaction: the first is cancelled, the second commits nine.
    assert_eq!(app.calls_since(&before).get("TransactWriteItems"), 2);
    assert!(app.user(&ids[4]).await.is_none());
    assert!(app.user(&ids[5]).await.is_some());
}

#[tokio::test]
async fn concurrent_requests_racing_for_one_number_have_exactly_one_winner() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..8).map(|_| new_id()).collect();
    let requests = ids.iter().enumerate().map(|(i, id)| {
        let body = list(vec![user(Some(id), &format!("Racer {i}"), "777")]);
        let app = &app;
        async move { app.upsert(&body).await }
    });
    let answers = join_all(requests).await;
    let outcomes: Vec<String> = answers.iter().map(|(_, b)| infos(b)[0].clone()).collect();
    let winners: Vec<usize> = (0..8).filter(|i| outcomes[*i] == "created").collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter(|o| *o != "created")
            .all(|o| o == "number_taken_by_another_identifier"),
        "{outcomes:?}"
    );
    let winner = &ids[winners[0]];
    assert_eq!(
        app.owner_of("card", "777").await.as_deref(),
        Some(winner.as_str())
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(app.user(id).await.is_some(), i == winners[0]);
    }
}

#[tokio::test]
async fn the_number_of_a_deleted_user_goes_to_exactly_one_of_many_racers() {
    let app = TestApp::new().await;
    let gone = new_id();
    app.upsert(&list(vec![user(Some(&gone), "Gone", "555")]))
        .await;
    app.delete(&json!({ "link_ids": [gone] })).await;
    assert_eq!(
        app.owner_of("card", "555").await.as_deref(),
        Some(gone.as_str()),
        "left in place"
    );
    let ids: Vec<String> = (0..6).map(|_| new_id()).collect();
    let answers = join_all(ids.iter().enumerate().map(|(i, id)| {
        let body = list(vec![user(Some(id), &format!("Heir {i}"), "555")]);
        let app = &app;
        async move { app.upsert(&body).await }
    }))
    .await;
    let outcomes: Vec<String> = answers.iter().map(|(_, b)| infos(b)[0].clone()).collect();
    let winners: Vec<usize> = (0..6).filter(|i| outcomes[*i] == "created").collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter(|o| *o != "created")
            .all(|o| o == "number_taken_by_another_identifier")
    );
    assert_eq!(
        app.owner_of("card", "555").await.as_deref(),
        Some(ids[winners[0]].as_str())
    );
}

#[tokio::test]
async fn several_numbers_of_one_deleted_user_are_taken_over_in_one_write() {
    let app = TestApp::new().await;
    let gone = new_id();
    let mut former = user(Some(&gone), "Former", "701");
    former["auth_factors"] = json!([
        {"type": "card", "number": "701"},
        {"type": "card", "number": "702"},
        {"type": "pin", "number": "7030"}
    ]);
    app.upsert(&list(vec![former.clone()])).await;
    app.delete(&json!({ "link_ids": [gone] })).await;
    // One new user takes all three claims over: one check of the former owner goes
    // with them (DynamoDB refuses two actions on one item in a transaction).
    let heir = new_id();
    former["link_id"] = json!(heir);
    former["name"] = json!("Heir");
    let (status, body) = app.upsert(&list(vec![former])).await;
    assert_eq!((status, infos(&body)), (200, vec!["created".to_owned()]));
    for (kind, number) in [("card", "701"), ("card", "702"), ("pin", "7030")] {
        assert_eq!(
            app.owner_of(kind, number).await.as_deref(),
            Some(heir.as_str())
        );
    }
}

#[tokio::test]
async fn a_soft_deleted_users_number_stays_taken() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![user(Some(&a), "Resting", "808")]))
        .await;
    app.soft(&[&a], true, None).await;
    let (_, body) = app
        .upsert(&list(vec![user(Some(&b), "Newcomer", "808")]))
        .await;
    assert_eq!(infos(&body), ["number_taken_by_another_identifier"]);
    assert!(app.user(&b).await.is_none());
}

#[tokio::test]
async fn a_claim_naming_a_user_who_no_longer_carries_the_number_is_taken_over() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![user(Some(&a), "Holder", "1")])).await;
    // A stale claim: it names `a`, who does not carry card 999.
    app.raw
        .put_item()
        .table_name(&app.table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("IDENT#card#999".into()),
        )
        .item(
            "owner",
            aws_sdk_dynamodb::types::AttributeValue::S(a.clone()),
        )
        .send()
        .await
        .unwrap();
    let before = app.calls.snapshot();
    let (_, body) = app
        .upsert(&list(vec![user(Some(&b), "Taker", "999")]))
        .await;
    assert_eq!(infos(&body), ["created"]);
    assert_eq!(
        app.owner_of("card", "999").await.as_deref(),
        Some(b.as_str())
    );
    assert_eq!(app.owner_of("card", "1").await.as_deref(), Some(a.as_str()));
    // One cancelled transaction, the claim and its owner read, the takeover committed.
    let calls = app.calls_since(&before);
    assert_eq!(calls.get("TransactWriteItems"), 2, "{calls}");
}
