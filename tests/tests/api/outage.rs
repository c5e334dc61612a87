//! DynamoDB stalling, restarting or unreachable, for real: the functions talk to
//! DynamoDB Local through a TCP proxy that stops forwarding mid-request or drops every
//! connection. Each answer must arrive within the budget (`DEFAULT_BUDGET_MS`), and say
//! the truth about every item: what it reports applied is in the table, what it reports
//! `not_processed` is not (the proxy holds requests back before DynamoDB sees them), and
//! a request of which nothing could be applied is a 503 with `Retry-After`.

use std::time::{Duration, Instant};

use api_tests::proxy::{Mode, Proxy};
use api_tests::{Options, TestApp, endpoint, infos, list, new_id, token, user};
use lambda_http::Body;
use serde_json::{Value, json};

/// Budget of the apps under test whose requests end at their deadline.
const BUDGET: Duration = Duration::from_millis(3000);
/// Budget of a request that must complete: a DynamoDB Local on two busy cores takes up to
/// a second per transaction of 100 actions, one transaction at a time.
const LONG_BUDGET: Duration = Duration::from_secs(20);

/// An app on `base`'s table that reaches DynamoDB through a new proxy.
async fn behind_proxy(base: &TestApp, budget: Duration) -> (TestApp, Proxy) {
    let proxy = Proxy::start(&endpoint()).await;
    let app = base
        .sibling(Options {
            vars: vec![("DEFAULT_BUDGET_MS", budget.as_millis().to_string())],
            endpoint: Some(proxy.endpoint()),
            ..Default::default()
        })
        .await;
    (app, proxy)
}

/// Asserts an answer came within the budget, and says by how much.
fn within(what: &str, elapsed: Duration, budget: Duration) {
    let over = elapsed.as_millis() as i64 - budget.as_millis() as i64;
    eprintln!(
        "answer time: {what}: {} ms of a {} ms budget ({over:+} ms)",
        elapsed.as_millis(),
        budget.as_millis()
    );
    assert!(elapsed <= budget, "{what}: answered after {elapsed:?}");
}

/// An upsert of `body`, timed from the handler's start to its answer, which must be
/// within `budget`.
async fn timed(app: &TestApp, what: &str, budget: Duration, body: &Value) -> (u16, Value) {
    let req = admin("POST", "/api/v1/users/bulk", body);
    let started = Instant::now();
    let resp = app.call(req).await;
    within(what, started.elapsed(), budget);
    api_tests::response_json(resp)
}

fn people(ids: &[String], tag: &str) -> Value {
    list(
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let mut u = user(Some(id), &format!("{tag} {i}"), &format!("{tag}-{i}"));
                u["info"] = json!(tag);
                u
            })
            .collect(),
    )
}

/// Every item reported `created`/`updated` is stored with this request's data; every
/// `not_processed` one is not. Returns the counts (applied, not processed).
async fn assert_truthful(
    base: &TestApp,
    ids: &[String],
    tag: &str,
    answer: &Value,
) -> (usize, usize) {
    let mut counts = (0, 0);

    for (id, info) in ids.iter().zip(infos(answer)) {
        let stored = base.user(id).await;
        match info.as_str() {
            "created" | "updated" => {
                assert_eq!(stored.and_then(|u| u.info).as_deref(), Some(tag), "{id}");
                counts.0 += 1;
            }
            "not_processed" => {
                assert_ne!(stored.and_then(|u| u.info).as_deref(), Some(tag), "{id}");
                counts.1 += 1;
            }
            other => panic!("{id}: unexpected {other}"),
        }
    }
    counts
}

#[tokio::test]
async fn a_dynamodb_that_stalls_mid_request_is_answered_within_the_budget_truthfully() {
    let base = TestApp::new().await;
    // Long enough for the transactions sent before the stall to be answered: one still
    // in flight at the deadline would be unconfirmed, and DynamoDB may apply it later.
    let budget = Duration::from_secs(10);
    let (app, proxy) = behind_proxy(&base, budget).await;
    let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
    // The reads (20 batches) and four transactions get through; then nothing does.
    proxy.stall_after_requests(24);
    let what = "upsert of 1000, DynamoDB stalled";
    let (status, body) = timed(&app, what, budget, &people(&ids, "stalled")).await;
    assert_eq!(status, 200);
    let (applied, not_processed) = assert_truthful(&base, &ids, "stalled", &body).await;
    assert!(
        applied > 0 && not_processed > 0,
        "{applied} / {not_processed}"
    );
}

#[tokio::test]
async fn a_stall_that_clears_before_the_deadline_is_ridden_out() {
    let base = TestApp::new().await;
    let budget = LONG_BUDGET;
    let (app, proxy) = behind_proxy(&base, budget).await;
    let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
    proxy.stall_after_requests(24);
    let resume = async {
        proxy.wait_for(Mode::Stall).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.set(Mode::Forward);
    };
    let body = people(&ids, "resumed");
    let what = "upsert of 1000, DynamoDB stalled 1.5 s";
    let ((status, body), ()) = tokio::join!(timed(&app, what, budget, &body), resume);
    assert_eq!(status, 200);
    let (applied, _) = assert_truthful(&base, &ids, "resumed", &body).await;
    assert_eq!(applied, 1000);
}

#[tokio::test]
async fn a_dynamodb_restart_mid_request_loses_nothing_and_says_created_once() {
    let base = TestApp::new().await;
    let budget = LONG_BUDGET;
    let (app, proxy) = behind_proxy(&base, budget).await;
    let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
    // Connections drop mid-request (answers lost on the way back included) and new ones
    // are refused for two seconds, as when DynamoDB is killed and started again.
    let restart = async {
        while proxy.requests() < 24 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.set(Mode::Down);
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.set(Mode::Forward);
    };
    let body = people(&ids, "restarted");
    let what = "upsert of 1000, DynamoDB restarted";
    let ((status, body), ()) = tokio::join!(timed(&app, what, budget, &body), restart);
    assert_eq!(status, 200);
    // A transaction whose answer was lost is sent again with its token: it is
    // `created` (not `updated`, not `not_processed`) and written once.
    let (applied, _) = assert_truthful(&base, &ids, "restarted", &body).await;
    assert_eq!(applied, 1000);
    assert!(infos(&body).iter().all(|i| i == "created"));
    for (i, id) in ids.iter().enumerate().step_by(97) {
        assert_eq!(
            base.owner_of("card", &format!("restarted-{i}"))
                .await
                .as_deref(),
            Some(id.as_str())
        );
    }
}

/// Status, `Retry-After` and JSON body of a raw response.
fn answer(resp: http::Response<Body>) -> (u16, Option<String>, Value) {
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    (status, retry, body)
}

fn admin(method: &str, uri: &str, body: &Value) -> lambda_http::Request {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("x-auth-token", token(Some("admin")))
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_a_503_with_retry_after_in_every_dialect() {
    let base = TestApp::new().await;
    let ids: Vec<String> = (0..3).map(|_| new_id()).collect();
    base.upsert(&people(&ids, "kept")).await;
    let (app, proxy) = behind_proxy(&base, BUDGET).await;
    proxy.set(Mode::Down);
    let cases = [
        (
            "upsert",
            admin("POST", "/api/v1/users/bulk", &people(&ids, "lost")),
            json!({"error": "Service temporarily unavailable, try again later"}),
        ),
        (
            "delete",
            admin("DELETE", "/api/v1/users/bulk", &json!({"link_ids": ids})),
            json!({"error": "Service temporarily unavailable, try again later"}),
        ),
        (
            "soft delete",
            admin(
                "POST",
                "/api/v1/users/bulk/delete",
                &json!({"ids": ids, "deleted": true}),
            ),
            json!({"messages": [{"type": 1, "code": 503, "message": "Service temporarily unavailable, try again later", "field": null}],
                   "count_of_errors": 1, "data": null, "text": null, "id": null, "name": null,
                   "url": null, "inner_exception": null}),
        ),
        (
            "filter delete (scan)",
            admin("DELETE", "/api/v1/users?user_type=contractor", &Value::Null),
            json!({"error_type": "service_unavailable", "success": false,
                   "error": {"message": "Service temporarily unavailable, try again later",
                             "code": 150, "reason": "service_unavailable"}}),
        ),
        (
            "filter delete (ids)",
            admin(
                "DELETE",
                &format!("/api/v1/users?user_id={}", ids[0]),
                &Value::Null,
            ),
            json!({"error_type": "service_unavailable", "success": false,
                   "error": {"message": "Service temporarily unavailable, try again later",
                             "code": 150, "reason": "service_unavailable"}}),
        ),
        (
            "get user",
            admin("GET", &format!("/api/v1/users/{}", ids[0]), &Value::Null),
            json!({"error": "Service temporarily unavailable, try again later"}),
        ),
        (
            "list users (scan)",
            admin("GET", "/api/v1/users?limit=2", &Value::Null),
            json!({"error": "Service temporarily unavailable, try again later"}),
        ),
        (
            "list users (e-mail)",
            admin("GET", "/api/v1/users?email=a%40b.c", &Value::Null),
            json!({"error": "Service temporarily unavailable, try again later"}),
        ),
    ];
    for (what, req, expected) in cases {
        let started = Instant::now();
        let (status, retry, body) = answer(app.call(req).await);
        within(
            &format!("{what}, DynamoDB unreachable"),
            started.elapsed(),
            BUDGET,
        );
        assert_eq!(status, 503, "{what}: {body}");
        assert_eq!(retry.as_deref(), Some("5"), "{what}");
        assert_eq!(body, expected, "{what}");
    }
    // Nothing changed.
    for id in &ids {
        assert_eq!(base.user(id).await.unwrap().info.as_deref(), Some("kept"));
    }
}
