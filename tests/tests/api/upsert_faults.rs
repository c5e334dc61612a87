//! Faults at the SDK seam: unprocessed keys (injected over the real DynamoDB Local),
//! throttling and a deadline reached mid-retry (mocked responses). Every item still ends
//! with a truthful status, and a request of which nothing could be applied is a 503.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use api_tests::faults::Unprocessed;
use api_tests::{Options, TestApp, infos, list, new_id, user};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ThrottlingException;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use serde_json::json;
use shared::app::App;
use shared::config::Config;
use shared::domain::LinkId;
use shared::metrics::MetricsSink;
use shared::store::calls::CallCounter;
use shared::store::keys;
use shared::store::records::{StoredFactor, UserRecord};

fn people(ids: &[String], info: &str) -> serde_json::Value {
    list(
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let mut u = user(Some(id), &format!("P{i}"), &format!("{}", 5000 + i));
                u["info"] = json!(info);
                u
            })
            .collect(),
    )
}

/// Another app on `app`'s table whose client has `faults` injected.
async fn with_faults(app: &TestApp, faults: &Unprocessed) -> TestApp {
    let interceptor = aws_sdk_dynamodb::config::SharedInterceptor::new(faults.clone());
    app.sibling(Options {
        interceptor: Some(interceptor),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn unprocessed_keys_are_read_again_before_deciding() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..150).map(|_| new_id()).collect();
    app.upsert(&people(&ids, "old")).await;
    let faults = Unprocessed::new(2);
    let faulty = with_faults(&app, &faults).await;
    let (_, body) = faulty.upsert(&people(&ids, "new")).await;
    // Had a held-back user been taken as absent, it would answer "created" (and fail
    // its own card claim); every item must be a plain update.
    assert!(infos(&body).iter().all(|i| i == "updated"), "{body}");
    assert!(faults.held_reads() > 0);
    assert_eq!(faulty.calls.snapshot().get("BatchGetItem"), 2 + 2);
}

const TABLE: &str = "mocked";

/// The SDK's own retries are off so the service's retry loop is what is tested.
fn no_sdk_retries(c: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    c.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

/// Error metadata as DynamoDB sends it (the code is what retry decisions read).
fn code(code: &str) -> aws_sdk_dynamodb::error::ErrorMetadata {
    aws_sdk_dynamodb::error::ErrorMetadata::builder()
        .code(code)
        .build()
}

fn mocked_app(client: Client, budget_ms: u64) -> App {
    let vars: HashMap<String, String> = [
        ("TABLE_NAME", TABLE.to_owned()),
        ("AUTH_JWT_SECRET", api_tests::SECRET.to_owned()),
        ("DEFAULT_BUDGET_MS", budget_ms.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut app = App::new(
        Config::from_vars(&vars).unwrap(),
        client,
        CallCounter::default(),
    );
    app.metrics = MetricsSink::memory(&app.config);
    app
}

/// The users `people` describes, as already stored (so the request is a plain update).
fn stored(ids: &[String]) -> Arc<HashMap<String, HashMap<String, AttributeValue>>> {
    Arc::new(
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let link: LinkId = uuid::Uuid::parse_str(id).unwrap().into();
                let record = UserRecord {
                    pk: keys::user(&link),
                    link_id: link,
                    name: format!("P{i}"),
                    info: None,
                    email: None,
                    role_id: None,
                    user_type: None,
                    active: true,
                    auth_factors: vec![StoredFactor::Card {
                        number: format!("{}", 5000 + i),
                    }],
                    time_profile_id: None,
                    is_online: false,
                    login_ip: None,
                    last_login_time: None,
                    create_time: "2026-01-01T00:00:00.000Z".into(),
                    created_by: "t".into(),
                    update_time: "2026-01-01T00:00:00.000Z".into(),
                    updated_by: "t".into(),
                    name_dup: false,
                    version: 1,
                    deleted_at: None,
                    deleted_by: None,
                    del_shard: None,
                    scim: None,
                };
                (record.pk.clone(), record.to_item().unwrap())
            })
            .collect(),
    )
}

fn get_rule(
    users: Arc<HashMap<String, HashMap<String, AttributeValue>>>,
) -> aws_smithy_mocks::Rule {
    mock!(Client::batch_get_item).then_compute_output(move |req| {
        let keys = req.request_items().unwrap()[TABLE].keys();
        let found: Vec<_> = keys
            .iter()
            .filter_map(|k| users.get(k["pk"].as_s().unwrap()).cloned())
            .collect();
        BatchGetItemOutput::builder()
            .responses(TABLE, found)
            .build()
    })
}

async fn run(app: &App, body: &serde_json::Value) -> (u16, Vec<String>, Duration) {
    let started = Instant::now();
    let req = api_tests::request(
        "POST",
        "/api/v1/users/bulk",
        body.to_string().into_bytes(),
        Some(&api_tests::token(Some("admin"))),
    );
    let resp = upsert_users::handle(app, req).await.unwrap();
    let elapsed = started.elapsed();
    let retry_after = resp.headers().get("retry-after").cloned();
    let (status, body) = api_tests::response_json(resp);
    if status == 503 {
        assert_eq!(retry_after.unwrap(), "5", "a 503 says when to come back");
        assert_eq!(
            body,
            json!({"error": "Service temporarily unavailable, try again later"})
        );
        return (status, Vec::new(), elapsed);
    }
    assert_eq!(status, 200);
    (status, infos(&body), elapsed)
}

fn throttled() -> TransactWriteItemsError {
    TransactWriteItemsError::ThrottlingException(
        ThrottlingException::builder()
            .message("busy")
            .meta(code("ThrottlingException"))
            .build(),
    )
}

#[tokio::test]
async fn throttled_transactions_are_retried_after_the_sdk_gives_up() {
    let ids: Vec<String> = (0..20).map(|_| new_id()).collect();
    let throttles = Arc::new(AtomicUsize::new(0));
    let seen = throttles.clone();
    let tx = mock!(Client::transact_write_items).then_compute_response(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < 6 {
            MockResponse::Error(throttled())
        } else {
            MockResponse::Output(TransactWriteItemsOutput::builder().build())
        }
    });
    let get = get_rule(stored(&ids));
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&get, &tx],
        no_sdk_retries
    );
    let app = mocked_app(client, 20_000);
    let (_, outcomes, _) = run(&app, &people(&ids, "x")).await;
    assert!(outcomes.iter().all(|o| o == "updated"), "{outcomes:?}");
    assert_eq!(tx.num_calls(), 7, "six throttled attempts, then success");
}

#[tokio::test]
async fn writes_throttled_until_the_deadline_for_part_of_a_request_are_answered_not_processed() {
    // 150 updates: two transactions (100 + 50); the first one sent commits, every
    // other attempt is throttled until the deadline.
    let ids: Vec<String> = (0..150).map(|_| new_id()).collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let tx = mock!(Client::transact_write_items).then_compute_response(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            MockResponse::Output(TransactWriteItemsOutput::builder().build())
        } else {
            MockResponse::Error(throttled())
        }
    });
    let get = get_rule(stored(&ids));
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&get, &tx],
        no_sdk_retries
    );
    let app = mocked_app(client, 1_500);
    let (status, outcomes, elapsed) = run(&app, &people(&ids, "x")).await;
    assert_eq!(status, 200, "part was applied: per-item statuses");
    let updated = outcomes.iter().filter(|o| *o == "updated").count();
    let not_processed = outcomes.iter().filter(|o| *o == "not_processed").count();
    assert_eq!((updated, not_processed), (100, 50), "{outcomes:?}");
    let metrics = app.metrics.documents().pop().expect("metrics");
    assert_eq!(
        (&metrics["items_updated"], &metrics["items_not_processed"]),
        (&json!(100), &json!(50)),
        "what the not_processed alarm watches"
    );
    assert!(
        elapsed < Duration::from_millis(1_500),
        "answered in {elapsed:?}"
    );
    assert!(
        tx.num_calls() > 2,
        "resubmitted with backoff before giving up"
    );
}

#[tokio::test]
async fn a_request_dynamodb_never_accepts_answers_503_with_retry_after_in_time() {
    for existing in [false, true] {
        let ids: Vec<String> = (0..5).map(|_| new_id()).collect();
        let tx = mock!(Client::transact_write_items).then_error(throttled);
        // Creates, then updates of stored users: every write is a transaction.
        let users = if existing {
            stored(&ids)
        } else {
            Arc::new(HashMap::new())
        };
        let get = get_rule(users);
        let client = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&get, &tx],
            no_sdk_retries
        );
        let app = mocked_app(client, 1_000);
        let (status, _, elapsed) = run(&app, &people(&ids, "x")).await;
        assert_eq!(status, 503, "nothing was applied");
        assert!(
            elapsed < Duration::from_millis(1_000),
            "answered in {elapsed:?}"
        );
        assert!(tx.num_calls() > 1);
    }
}

#[tokio::test]
async fn a_store_failure_before_any_write_answers_503_and_writes_nothing() {
    let get = mock!(Client::batch_get_item).then_error(|| {
        aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemError::ResourceNotFoundException(
            aws_sdk_dynamodb::types::error::ResourceNotFoundException::builder()
                .message("no table")
                .build(),
        )
    });
    let write = mock!(Client::transact_write_items)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&get, &write],
        no_sdk_retries
    );
    let app = mocked_app(client, 5_000);
    let req = api_tests::request(
        "POST",
        "/api/v1/users/bulk",
        people(&[new_id()], "x").to_string().into_bytes(),
        Some(&api_tests::token(Some("admin"))),
    );
    let (status, body) = api_tests::response_json(upsert_users::handle(&app, req).await.unwrap());
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"error": "Service temporarily unavailable, try again later"})
    );
    assert_eq!(write.num_calls(), 0);
}
