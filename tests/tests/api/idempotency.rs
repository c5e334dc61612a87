//! `Idempotency-Key`: a retried request gets the first answer and is not applied twice.

use std::time::Duration;

use api_tests::{SECRET, TestApp, infos, list, new_id, token, user, xml_body};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::deadline::Deadline;
use shared::http::idempotency::{self, Begin};

const KEY: &str = "sync-2026-11-23T10:00:00Z/batch-1";

fn req(method: &str, uri: &str, body: &str, key: Option<&str>, token: &str) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"));
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn upsert_req(body: &Value, key: Option<&str>) -> Request {
    let t = token(Some("admin"));
    req("POST", "/api/v1/users/bulk", &body.to_string(), key, &t)
}

struct Answer {
    status: u16,
    replayed: bool,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("JSON: {}", self.text))
    }
}

async fn send(app: &TestApp, r: Request) -> Answer {
    let resp = app.call(r).await;
    let header = |n| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    Answer {
        status: resp.status().as_u16(),
        replayed: header(idempotency::REPLAYED) == "true",
        content_type: header("content-type"),
        text: String::from_utf8_lossy(resp.body().as_ref()).into_owned(),
    }
}

#[tokio::test]
async fn a_retried_upsert_gets_the_first_answer_and_is_applied_once() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    let body = list(vec![
        user(Some(&a), "Ann", "i-1"),
        user(Some(&b), "Bob", "i-2"),
    ]);

    // A refused request claims nothing: the same key works once the body is fixed.
    let broken = send(&app, upsert_req(&json!({"list_items": []}), Some(KEY))).await;
    assert_eq!(broken.status, 400);
    assert_eq!(app.item_count().await, 0);

    let first = send(&app, upsert_req(&body, Some(KEY))).await;
    assert_eq!(first.status, 200);
    assert!(!first.replayed);
    assert_eq!(infos(&first.json()), ["created", "created"]);

    let before = app.calls.snapshot();
    let again = send(&app, upsert_req(&body, Some(KEY))).await;
    assert_eq!(again.status, 200);
    assert!(again.replayed);
    assert_eq!(again.text, first.text, "the first answer, byte for byte");
    assert_eq!(again.content_type, "application/json");
    let calls = app.calls_since(&before);
    assert_eq!(
        calls.total(),
        1,
        "one conditional PutItem, nothing applied: {calls}"
    );
    assert_eq!(app.user(&a).await.unwrap().version, 1);

    // Without the key the request applies again.
    let plain = send(&app, upsert_req(&body, None)).await;
    assert_eq!(infos(&plain.json()), ["updated", "updated"]);

    // The same key with another request is refused and writes nothing.
    let items = app.item_count().await;
    let other = list(vec![user(None, "Cy", "i-3")]);
    let reused = send(&app, upsert_req(&other, Some(KEY))).await;
    assert_eq!(reused.status, 422);
    assert_eq!(
        reused.json(),
        json!({"error": "Idempotency-Key was already used for a different request"})
    );
    assert_eq!(app.item_count().await, items);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller_and_the_endpoint() {
    let app = TestApp::new().await;
    let a = new_id();
    let body = list(vec![user(Some(&a), "Ann", "s-1")]);
    let first = send(&app, upsert_req(&body, Some(KEY))).await;
    assert_eq!(infos(&first.json()), ["created"]);

    let someone_else = shared::auth::mint_hs256(
        SECRET,
        "another-admin",
        Some("admin"),
        Duration::from_secs(600),
    );
    let theirs = req(
        "POST",
        "/api/v1/users/bulk",
        &body.to_string(),
        Some(KEY),
        &someone_else,
    );
    let theirs = send(&app, theirs).await;
    assert!(!theirs.replayed);
    assert_eq!(infos(&theirs.json()), ["updated"]);

    let delete = req(
        "DELETE",
        "/api/v1/users/bulk",
        &json!({"link_ids": [a]}).to_string(),
        Some(KEY),
        &token(Some("admin")),
    );
    let deleted = send(&app, delete).await;
    assert!(!deleted.replayed);
    assert_eq!(infos(&deleted.json()), ["deleted"]);
}

#[tokio::test]
async fn a_key_in_progress_is_refused_and_a_failed_request_releases_it() {
    let app = TestApp::new().await;
    let body = list(vec![user(None, "Ann", "p-1")]);
    let running = upsert_req(&body, Some(KEY));
    let deadline = Deadline::after(Duration::from_secs(60));
    let Ok(Begin::Claimed(claim)) =
        idempotency::begin(&app.app.store, &running, "upsert", "tester", &deadline).await
    else {
        panic!("the key should be free");
    };

    let busy = send(&app, upsert_req(&body, Some(KEY))).await;
    assert_eq!(busy.status, 409);
    assert_eq!(
        busy.json(),
        json!({"error": "A request with this Idempotency-Key is still in progress; try again later"})
    );
    let other = send(
        &app,
        upsert_req(&list(vec![user(None, "Bo", "p-2")]), Some(KEY)),
    )
    .await;
    assert_eq!(other.status, 422);
    assert_eq!(app.item_count().await, 1, "only the key's record");

    // The running request failed before writing (503): the key is released.
    let mut failed = lambda_http::Response::new(Body::from("{}"));
    *failed.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    claim.finish(&app.app.store, &failed, &deadline).await;
    let retried = send(&app, upsert_req(&body, Some(KEY))).await;
    assert_eq!(retried.status, 200);
    assert!(!retried.replayed);
    assert_eq!(infos(&retried.json()), ["created"]);
}

#[tokio::test]
async fn an_expired_key_runs_the_request_again() {
    let app = TestApp::new().await;
    let a = new_id();
    let body = list(vec![user(Some(&a), "Ann", "e-1")]);
    send(&app, upsert_req(&body, Some(KEY))).await;
    let records = app
        .raw
        .scan()
        .table_name(&app.table)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", AttributeValue::S("IDEMPOTENCY#".into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["state"].as_s().unwrap(), "done");
    let expires: u64 = record["expires_at"].as_n().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 86_000..=now + 86_500).contains(&expires),
        "kept a day"
    );

    app.raw
        .update_item()
        .table_name(&app.table)
        .key("pk", record["pk"].clone())
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N((now - 1).to_string()))
        .send()
        .await
        .unwrap();
    let again = send(&app, upsert_req(&body, Some(KEY))).await;
    assert!(!again.replayed);
    assert_eq!(infos(&again.json()), ["updated"]);
}

#[tokio::test]
async fn filter_deletes_and_xml_soft_deletes_replay_their_answers() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&a), "Ann", "x-1"),
        user(Some(&b), "Bob", "x-2"),
    ]))
    .await;
    let admin = token(Some("admin"));

    let filter = |key: Option<&str>| {
        let uri = format!("/api/v1/users?user_id={a}");
        req("DELETE", &uri, "", key, &admin)
    };
    let first = send(&app, filter(Some("f-1"))).await;
    assert_eq!(first.json()["deleted"], 1);
    let again = send(&app, filter(Some("f-1"))).await;
    assert!(again.replayed);
    assert_eq!(again.text, first.text);
    let fresh = send(&app, filter(None)).await;
    assert_eq!(
        fresh.status, 404,
        "the user is gone: only the replay says deleted"
    );

    let xml = xml_body(&[&b], true);
    let soft = || {
        http::Request::builder()
            .method("POST")
            .uri("/api/v1/users/bulk/delete")
            .header("content-type", "application/xml")
            .header("x-auth-token", &admin)
            .header("idempotency-key", "s-1")
            .body(Body::from(xml.clone()))
            .unwrap()
    };
    let first = send(&app, soft()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(first.content_type.starts_with("application/xml"));
    let again = send(&app, soft()).await;
    assert!(again.replayed);
    assert_eq!(again.content_type, first.content_type);
    assert_eq!(again.text, first.text);
}

#[tokio::test]
async fn a_malformed_key_is_refused_in_each_dialect() {
    let app = TestApp::new().await;
    let admin = token(Some("admin"));
    let long = "k".repeat(256);
    for bad in ["", "  ", long.as_str()] {
        let r = send(
            &app,
            upsert_req(&list(vec![user(None, "A", "m-1")]), Some(bad)),
        )
        .await;
        assert_eq!(r.status, 400, "{bad:?}");
        assert_eq!(
            r.json(),
            json!({"error": "Idempotency-Key must be 1 to 255 visible ASCII characters"})
        );
    }
    let r = send(
        &app,
        req("DELETE", "/api/v1/users?name=A", "", Some(""), &admin),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], 133);
    assert_eq!(r.json()["error"]["reason"], "invalid_idempotency_key");
    let body = json!({"ids": [new_id()], "deleted": true}).to_string();
    let r = send(
        &app,
        req("POST", "/api/v1/users/bulk/delete", &body, Some(""), &admin),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["messages"][0]["field"], "Idempotency-Key");
    assert_eq!(app.item_count().await, 0, "nothing written");
}
