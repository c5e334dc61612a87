//! `?dry_run=true` on the three bulk endpoints (docs/contracts.md#dry-runs): the answer
//! the same request would get now, and nothing written — not even an `Idempotency-Key`
//! record.

use api_tests::{TestApp, infos, list, new_id, request, response_json, token, user};
use serde_json::{Value, json};

/// Sends `method uri` with a JSON body as an admin, with an `Idempotency-Key` if given.
async fn send(
    app: &TestApp,
    method: &str,
    uri: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut req = request(
        method,
        uri,
        body.to_string().into_bytes(),
        Some(&token(Some("admin"))),
    );
    if let Some(k) = key {
        req.headers_mut()
            .insert("idempotency-key", k.parse().expect("header value"));
    }
    response_json(app.call(req).await)
}

/// Runs `method path` as a dry run, checks that it wrote nothing and sent no write, then
/// runs it for real and checks that the real answer is the dry run's.
async fn dry_then_real(app: &TestApp, method: &str, path: &str, body: &Value) -> Value {
    let before = app.snapshot().await;
    let calls = app.calls.snapshot();
    let key = new_id();
    let (status, dry) = send(
        app,
        method,
        &format!("{path}?dry_run=true"),
        body,
        Some(&key),
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    let spent = app.calls_since(&calls);
    assert_eq!(spent.get("TransactWriteItems"), 0, "{spent}");
    assert_eq!(
        spent.get("PutItem") + spent.get("UpdateItem") + spent.get("DeleteItem"),
        0,
        "{spent}"
    );
    assert_eq!(app.snapshot().await, before, "a dry run writes nothing");
    // The same Idempotency-Key: a dry run recorded no answer to replay.
    let (status, real) = send(app, method, path, body, Some(&key)).await;
    assert_eq!(status, 200, "{real}");
    assert_eq!(real, dry, "the dry run answered what the request did");
    assert_ne!(app.snapshot().await, before, "the real request wrote");
    real
}

#[tokio::test]
async fn an_upsert_dry_run_answers_every_outcome_the_request_gets() {
    let app = TestApp::new().await;
    let (ann, bob, new1, new2, gone) = (new_id(), new_id(), new_id(), new_id(), new_id());
    let (status, _) = app
        .upsert(&list(vec![
            user(Some(&ann), "Ann", "1"),
            user(Some(&bob), "Bob", "2"),
            user(Some(&gone), "Gus", "3"),
            user(Some(&new_id()), "Twin", "4"),
            user(Some(&new_id()), "Twin", "5"),
        ]))
        .await;
    assert_eq!(status, 200);
    // A soft-deleted user keeps its card: a new user cannot take it.
    app.soft(&[&gone], true, None).await;
    let mut unknown_profile = user(Some(&new2), "Pat", "40");
    unknown_profile["time_profile_id"] = json!(new_id());
    let body = list(vec![
        user(Some(&ann), "Ann Lee", "1"), // updated (renamed)
        user(Some(&new1), "Cy", "2"),     // Bob's card
        user(Some(&new1), "Cy", "20"),    // created
        user(Some(&new1), "Cy", "21"),    // updated: the same id again
        user(None, "Bob", "22"),          // updated, matched by name
        user(None, "Twin", "23"),         // has_dublicates
        user(Some(&new2), "Dee", "3"),    // the soft-deleted user's card
        unknown_profile,                  // bound_time_profile_doesnt_exist
        user(Some(&bob), "Bob", "20"),    // Cy let 20 go again in this very request
        user(Some(&gone), "Gus", "30"),   // updated, stays deleted
    ]);
    let answer = dry_then_real(&app, "POST", "/api/v1/users/bulk", &body).await;
    assert_eq!(
        infos(&answer),
        [
            "updated",
            "number_taken_by_another_identifier",
            "created",
            "updated",
            "updated",
            "has_dublicates",
            "number_taken_by_another_identifier",
            "bound_time_profile_doesnt_exist",
            "updated",
            "updated",
        ]
    );
}

#[tokio::test]
async fn a_dry_run_sees_its_own_earlier_writes_across_rounds() {
    // Releases and claims inside one request: Ann gives card 1 up, Bob takes it in a
    // later round; a name emptied and refilled.
    let app = TestApp::new().await;
    let (ann, bob) = (new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&ann), "Ann", "1"),
        user(Some(&bob), "Bob", "2"),
    ]))
    .await;
    let body = list(vec![
        user(Some(&ann), "Ann", "9"),
        user(Some(&bob), "Ann", "1"),
        user(None, "Ann", "7"),
    ]);
    let answer = dry_then_real(&app, "POST", "/api/v1/users/bulk", &body).await;
    assert_eq!(infos(&answer), ["updated", "updated", "has_dublicates"]);
}

#[tokio::test]
async fn a_hard_delete_dry_run_answers_deleted_and_not_found() {
    let app = TestApp::new().await;
    let (ann, bob, unknown) = (new_id(), new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&ann), "Ann", "1"),
        user(Some(&bob), "Bob", "2"),
    ]))
    .await;
    app.soft(&[&bob], true, None).await;
    let body = json!({"link_ids": [ann, unknown, ann, bob]});
    let answer = dry_then_real(&app, "DELETE", "/api/v1/users/bulk", &body).await;
    assert_eq!(
        infos(&answer),
        ["deleted", "not_found", "not_found", "deleted"]
    );
    assert!(app.user(&ann).await.is_none() && app.user(&bob).await.is_none());
    assert!(app.number_is_free("card", "1").await && app.number_is_free("card", "2").await);
}

#[tokio::test]
async fn soft_delete_and_restore_dry_runs_answer_the_result() {
    let app = TestApp::new().await;
    let (ann, bob, unknown) = (new_id(), new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&ann), "Ann", "1"),
        user(Some(&bob), "Bob", "2"),
    ]))
    .await;
    let body = json!({"ids": [ann, unknown, bob], "deleted": true, "state": false});
    let answer = dry_then_real(&app, "POST", "/api/v1/users/bulk/delete", &body).await;
    assert_eq!(answer["count_of_errors"], 1);
    assert_eq!(answer["data"], json!({"deleted": true, "ids": [ann, bob]}));
    assert!(app.user(&ann).await.unwrap().deleted_at.is_some());

    let body = json!({"ids": [bob], "deleted": false});
    let answer = dry_then_real(&app, "POST", "/api/v1/users/bulk/delete", &body).await;
    assert_eq!(answer["text"], "1 of 1 users restored");
    assert!(app.user(&bob).await.unwrap().deleted_at.is_none());
}

#[tokio::test]
async fn dry_run_values_are_checked_after_the_caller() {
    let app = TestApp::new().await;
    let body = list(vec![user(Some(&new_id()), "Ann", "1")]);
    let (status, answer) = send(
        &app,
        "POST",
        "/api/v1/users/bulk?dry_run=maybe",
        &body,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({"error": "Invalid value for parameter `dry_run`: expected true or false"})
    );
    let (status, answer) = send(
        &app,
        "DELETE",
        "/api/v1/users/bulk?dry_run=1&dry_run=0",
        &json!({"link_ids": [new_id()]}),
        None,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let req = request(
        "POST",
        "/api/v1/users/bulk?dry_run=maybe",
        body.to_string().into_bytes(),
        None,
    );
    assert_eq!(response_json(app.call(req).await).0, 401);
    // A dry run records no key, but refuses a malformed one as a real request does.
    let long = "k".repeat(256);
    let (status, answer) = send(
        &app,
        "POST",
        "/api/v1/users/bulk?dry_run=true",
        &body,
        Some(&long),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    // `dry_run=false` is a real request.
    let (status, answer) = send(
        &app,
        "POST",
        "/api/v1/users/bulk?dry_run=false",
        &body,
        None,
    )
    .await;
    assert_eq!((status, infos(&answer)), (200, vec!["created".to_owned()]));
    assert_eq!(app.item_count().await, 3);
}

#[tokio::test]
async fn a_soft_delete_dry_run_refuses_bad_values_in_the_result_dialect() {
    let app = TestApp::new().await;
    let body = json!({"ids": [new_id()], "deleted": true});
    let (status, answer) = send(
        &app,
        "POST",
        "/api/v1/users/bulk/delete?dry_run=yes",
        &body,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["count_of_errors"], 1, "{answer}");
    assert_eq!(app.item_count().await, 0);
}
