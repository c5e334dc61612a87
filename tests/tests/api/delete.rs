//! `DELETE /api/v1/users/bulk` (docs/contracts.md#delete-users): hard delete by link id.

use api_tests::{Options, TestApp, infos, list, new_id, token, user};
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn a_repeated_id_answers_deleted_then_not_found_as_in_the_contract() {
    let app = TestApp::new().await;
    let (a, unknown) = (new_id(), new_id());
    app.upsert(&list(vec![user(Some(&a), "Gone", "31")])).await;
    let (status, body) = app.delete(&json!({"link_ids": [a, a, unknown]})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"result": [
            {"link_id": a, "success": true, "extended_info": "deleted"},
            {"link_id": a, "success": false, "extended_info": "not_found"},
            {"link_id": unknown, "success": false, "extended_info": "not_found"},
        ]})
    );
    assert!(app.user(&a).await.is_none());
    let (_, again) = app.delete(&json!({"link_ids": [a]})).await;
    assert_eq!(infos(&again), ["not_found"]);
}

#[tokio::test]
async fn deleting_frees_identifiers_and_the_name_for_others() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    let mut factors = user(Some(&a), "Ann", "41");
    factors["auth_factors"] =
        json!([{"type": "card", "number": "41"}, {"type": "pin", "number": "4141"}]);
    app.upsert(&list(vec![factors])).await;
    app.delete(&json!({"link_ids": [a]})).await;
    assert!(app.number_is_free("card", "41").await);
    assert!(app.number_is_free("pin", "4141").await);
    // A user alone with its name leaves its id in the registry; the next writer prunes it.
    assert_eq!(app.registry("Ann").await, vec![a.clone()]);
    let (_, body) = app.upsert(&list(vec![user(Some(&b), "Ann", "41")])).await;
    assert_eq!(
        body["result"][0],
        json!({"link_id": b, "success": true, "extended_info": "created", "has_dublicates": false})
    );
    assert_eq!(
        app.owner_of("card", "41").await.as_deref(),
        Some(b.as_str())
    );
    assert_eq!(app.registry("Ann").await, vec![b.clone()]);
}

#[tokio::test]
async fn deleting_one_of_two_namesakes_clears_the_others_duplicate_flag() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&a), "Sam", "1"),
        user(Some(&b), "Sam", "2"),
    ]))
    .await;
    assert!(app.user(&a).await.unwrap().name_dup);
    let (_, body) = app.delete(&json!({"link_ids": [b]})).await;
    assert_eq!(infos(&body), ["deleted"]);
    assert!(!app.user(&a).await.unwrap().name_dup);
    let (_, matched) = app.upsert(&list(vec![user(None, "Sam", "1")])).await;
    assert_eq!(matched["result"][0]["link_id"], json!(a));
    assert_eq!(matched["result"][0]["has_dublicates"], false);
}

#[tokio::test]
async fn namesakes_deleted_in_one_request_free_the_name() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..3).map(|_| new_id()).collect();
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| user(Some(id), "Twin", &format!("t{i}")))
        .collect();
    app.upsert(&list(items)).await;
    let (_, body) = app.delete(&json!({ "link_ids": ids })).await;
    assert_eq!(infos(&body), ["deleted", "deleted", "deleted"]);
    assert_eq!(
        app.item_count().await,
        4,
        "the registry and three claims nobody holds"
    );
    // The last twin, alone by then, left its id behind; nobody matches it.
    assert_eq!(app.registry("Twin").await.len(), 1);
    let (_, body) = app.upsert(&list(vec![user(None, "Twin", "t9")])).await;
    assert_eq!(infos(&body), ["created"]);
    assert_eq!(body["result"][0]["has_dublicates"], false);
    let new = body["result"][0]["link_id"].as_str().unwrap().to_owned();
    assert_eq!(app.registry("Twin").await, vec![new]);
}

#[tokio::test]
async fn concurrent_deletes_of_one_user_have_exactly_one_deleted() {
    let app = TestApp::new().await;
    let a = new_id();
    app.upsert(&list(vec![user(Some(&a), "Contested", "77")]))
        .await;
    let body = json!({ "link_ids": [a] });
    let answers = join_all((0..6).map(|_| app.delete(&body))).await;
    let outcomes: Vec<String> = answers.iter().map(|(_, b)| infos(b)[0].clone()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "deleted").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "not_found").count(),
        5,
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn request_errors_follow_the_delete_contract_and_write_nothing() {
    let app = TestApp::with(Options {
        vars: vec![
            ("MAX_ITEMS_PER_REQUEST", "3".into()),
            ("MAX_BODY_BYTES", "300".into()),
        ],
        ..Default::default()
    })
    .await;
    let a = new_id();
    app.upsert(&list(vec![user(Some(&a), "Kept", "5")])).await;
    let before = app.item_count().await;
    let tok = app.admin_token();
    let cases: Vec<(Vec<u8>, Option<String>, u16, &str)> = vec![
        (
            br#"{"link_ids": []}"#.to_vec(),
            Some(tok.clone()),
            400,
            "List cannot be empty",
        ),
        (b"{oops".to_vec(), Some(tok.clone()), 400, "Wrong JSON body"),
        (
            b"{}".to_vec(),
            Some(tok.clone()),
            400,
            "Wrong JSON body: no value for `link_ids`",
        ),
        (
            json!({"link_ids": [a, a, 7]}).to_string().into_bytes(),
            Some(tok.clone()),
            400,
            "Wrong JSON body: value `link_ids[2]` was of the wrong type",
        ),
        (
            json!({"link_ids": [a, a, a, a]}).to_string().into_bytes(),
            Some(tok.clone()),
            400,
            "List cannot contain more than 3 items",
        ),
        (
            format!(
                "{{\"link_ids\": [\"{a}\"], \"pad\": \"{}\"}}",
                "x".repeat(400)
            )
            .into_bytes(),
            Some(tok.clone()),
            400,
            "Request body cannot be larger than 300 bytes",
        ),
        (
            json!({"link_ids": [a]}).to_string().into_bytes(),
            None,
            401,
            "Log In",
        ),
        (
            json!({"link_ids": [a]}).to_string().into_bytes(),
            Some(token(Some("viewer"))),
            403,
            "Administrator rights required",
        ),
    ];
    for (body, tok, status, text) in cases {
        let answer = app.delete_raw(body, tok.as_deref()).await;
        assert_eq!(answer, (status, json!({ "error": text })), "{text}");
    }
    assert_eq!(app.item_count().await, before);
    assert!(app.user(&a).await.is_some());
}

#[tokio::test]
async fn deleting_1000_users_costs_batched_reads_and_packed_transactions() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| user(Some(id), &format!("D{i}"), &format!("d{i}")))
        .collect();
    app.upsert(&list(items)).await;
    let before = app.calls.snapshot();
    let (_, body) = app.delete(&json!({ "link_ids": ids })).await;
    assert!(infos(&body).iter().all(|i| i == "deleted"));
    let calls = app.calls_since(&before);
    // The users: 10 reads. Users alone with their name need no registry write and leave
    // their claims to be taken over: one action each, 100 users per transaction.
    assert_eq!(calls.get("BatchGetItem"), 10, "{calls}");
    assert_eq!(calls.get("TransactWriteItems"), 10, "{calls}");
    assert_eq!(calls.total(), 20, "{calls}");
    assert_eq!(
        app.item_count().await,
        2000,
        "registries and claims nobody holds"
    );
    assert!(app.number_is_free("card", "d999").await);
}

#[tokio::test]
async fn concurrent_deletes_of_namesakes_leave_the_last_one_without_duplicates() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..3).map(|_| new_id()).collect();
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| user(Some(id), "Trio", &format!("trio{i}")))
        .collect();
    app.upsert(&list(items)).await;
    let (first, second) = (
        json!({ "link_ids": [ids[0]] }),
        json!({ "link_ids": [ids[1]] }),
    );
    let ((_, a), (_, b)) = futures::join!(app.delete(&first), app.delete(&second));
    assert_eq!(
        (infos(&a), infos(&b)),
        (vec!["deleted".to_owned()], vec!["deleted".to_owned()])
    );
    assert!(
        !app.user(&ids[2]).await.unwrap().name_dup,
        "the last one is alone"
    );
    let (_, body) = app
        .upsert(&list(vec![user(Some(&ids[2]), "Trio", "trio2")]))
        .await;
    assert_eq!(body["result"][0]["has_dublicates"], false);
}
