//! `DELETE /api/v1/users?<filter>` (docs/contracts.md#delete-by-filter).

use api_tests::{Options, TestApp, infos, list, new_id, token, user};
use serde_json::{Value, json};
use shared::domain::filter::Filter;
use shared::service::removal::{Removal, RemovalOutcome, apply_removal_to};

fn person(id: &str, name: &str, card: &str, fields: Value) -> Value {
    let mut u = user(Some(id), name, card);
    for (k, v) in fields.as_object().unwrap() {
        u[k] = v.clone();
    }
    u
}

/// Six users: two inactive visitors, one active visitor, one inactive employee, two more.
async fn seeded() -> (TestApp, Vec<String>) {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..6).map(|_| new_id()).collect();
    let f = [
        json!({"active": false, "user_type": "visitor", "email": "v0@x.io", "role_id": "guest"}),
        json!({"active": false, "user_type": "visitor", "email": "v1@x.io", "role_id": "guest"}),
        json!({"active": true, "user_type": "visitor", "email": "shared@x.io"}),
        json!({"active": false, "user_type": "employee", "email": "shared@x.io"}),
        json!({"active": true, "user_type": "employee", "login_ip": "10.0.0.9", "last_login_time": "2026-01-10T00:00:00Z"}),
        json!({"active": true, "user_type": "employee", "last_login_time": "2025-01-10T00:00:00Z"}),
    ];
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| person(id, &format!("F{i}"), &format!("f{i}"), f[i].clone()))
        .collect();
    let (_, body) = app.upsert(&list(items)).await;
    assert!(infos(&body).iter().all(|i| i == "created"));
    (app, ids)
}

async fn exists(app: &TestApp, ids: &[String]) -> Vec<bool> {
    let mut out = Vec::new();
    for id in ids {
        out.push(app.user(id).await.is_some());
    }
    out
}

#[tokio::test]
async fn deletes_exactly_the_users_matching_every_filter_and_frees_their_identifiers() {
    let (app, ids) = seeded().await;
    let before = app.calls.snapshot();
    let (status, body) = app.filter_delete("active=false&user_type=visitor").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["dry_run"], false);
    assert_eq!(body["deleted"], 2);
    assert_eq!(body["matched"], 2);
    assert_eq!(body["remaining"], false);
    let mut deleted: Vec<String> = body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    deleted.sort();
    let mut expected = vec![ids[0].clone(), ids[1].clone()];
    expected.sort();
    assert_eq!(deleted, expected);
    assert_eq!(
        exists(&app, &ids).await,
        [false, false, true, true, true, true]
    );
    assert!(app.number_is_free("card", "f0").await);
    let (_, again) = app.upsert(&list(vec![user(None, "F0", "f0")])).await;
    assert_eq!(infos(&again), ["created"], "the name and the card are free");
    assert!(
        app.calls_since(&before).get("Scan") >= 1,
        "no index fits: a scan"
    );
    let (_, again) = app.filter_delete("active=false&user_type=visitor").await;
    assert_eq!(again["deleted"], 0);
}

#[tokio::test]
async fn each_query_plan_uses_its_access_path() {
    let (app, ids) = seeded().await;
    let check = |calls: shared::store::calls::CallCounts, op: &str| {
        assert!(calls.get(op) >= 1, "expected {op}: {calls}");
        assert_eq!(calls.get("Scan"), 0, "no scan: {calls}");
    };
    let before = app.calls.snapshot();
    let (_, body) = app
        .filter_delete(&format!("user_id_in={},{}&active=true", ids[2], ids[3]))
        .await;
    assert_eq!(body["ids"], json!([ids[2]]));
    let calls = app.calls_since(&before);
    check(calls.clone(), "BatchGetItem");
    assert_eq!(calls.get("Query"), 0);

    let before = app.calls.snapshot();
    let (_, body) = app.filter_delete("email=shared%40x.io").await;
    assert_eq!(
        body["ids"],
        json!([ids[3]]),
        "the e-mail index finds the rest"
    );
    check(app.calls_since(&before), "Query");

    let before = app.calls.snapshot();
    let (_, body) = app.filter_delete("name=F4&login_ip=10.0.0.9").await;
    assert_eq!(body["ids"], json!([ids[4]]));
    check(app.calls_since(&before), "BatchGetItem");
}

#[tokio::test]
async fn an_email_filter_pages_through_the_index_in_one_request() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..2300).map(|_| new_id()).collect();
    for chunk in ids.chunks(1000) {
        let items = chunk
            .iter()
            .map(|id| person(id, &format!("Mail {id}"), id, json!({"email": "all@x.io"})))
            .collect();
        app.upsert(&list(items)).await;
    }
    let other = new_id();
    app.upsert(&list(vec![person(
        &other,
        "Other",
        &other,
        json!({"email": "other@x.io"}),
    )]))
    .await;
    let before = app.calls.snapshot();
    let (status, body) = app.filter_delete("email=all%40x.io").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], 2300, "{}", body["remaining"]);
    assert_eq!(body["remaining"], false);
    let calls = app.calls_since(&before);
    // Three pages of keys; each page read in whole BatchGetItem calls (1000 = 10, 300 = 3).
    assert_eq!(calls.get("Query"), 3, "{calls}");
    assert_eq!(calls.get("BatchGetItem"), 23, "{calls}");
    assert_eq!(calls.get("Scan"), 0, "{calls}");
    assert!(exists(&app, &ids[..5]).await.iter().all(|e| !e));
    assert!(app.user(&other).await.is_some());
}

#[tokio::test]
async fn a_dry_run_answers_what_would_be_deleted_and_deletes_nothing() {
    let (app, ids) = seeded().await;
    let count = app.item_count().await;
    let (status, body) = app.filter_delete("user_type=employee&dry_run=true").await;
    assert_eq!(status, 200);
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["matched"], 3);
    assert_eq!(body["deleted"], 0);
    assert_eq!(body["ids_truncated"], false);
    assert_eq!(body["ids"].as_array().unwrap().len(), 3);
    assert_eq!(app.item_count().await, count);
    assert_eq!(exists(&app, &ids).await, [true; 6]);
}

#[tokio::test]
async fn filter_values_never_become_expression_text() {
    let (app, ids) = seeded().await;
    let count = app.item_count().await;
    for q in [
        "name=x%29+OR+attribute_exists%28pk",
        "role_id=guest%22+OR+%221%22%3D%221",
        "user_type=visitor%29+OR+%28attribute_exists%28pk%29",
        "email=%3Af_user",
    ] {
        let (status, body) = app.filter_delete(q).await;
        assert_eq!(
            (status, body["deleted"].clone()),
            (200, json!(0)),
            "{q}: {body}"
        );
    }
    assert_eq!(app.item_count().await, count);
    assert_eq!(exists(&app, &ids).await, [true; 6]);
}

#[tokio::test]
async fn time_filters_accept_rfc3339_unix_seconds_and_relative_times() {
    let (app, ids) = seeded().await;
    // 2025-06-01T00:00:00Z: only the user who last logged in on 2025-01-10 is older.
    let (_, body) = app
        .filter_delete("last_login_time_lt=1748736000&dry_run=true")
        .await;
    assert_eq!(body["ids"], json!([ids[5]]));
    let (_, body) = app
        .filter_delete("last_login_time_gt=2025-12-31T23%3A59%3A59%2B00%3A00&dry_run=true")
        .await;
    assert_eq!(body["ids"], json!([ids[4]]));
    let (_, body) = app
        .filter_delete("create_time_gt=now-1h&user_type=employee&dry_run=1")
        .await;
    assert_eq!(body["matched"], 3);
    let (_, body) = app.filter_delete("create_time_lt=now-1d").await;
    assert_eq!(body["deleted"], 0);
}

#[tokio::test]
async fn soft_deleted_users_are_left_to_the_cleanup() {
    let (app, ids) = seeded().await;
    app.soft(&[&ids[0]], true, None).await;
    let (_, body) = app.filter_delete("user_type=visitor").await;
    assert_eq!(body["deleted"], 2);
    assert!(
        app.user(&ids[0]).await.is_some(),
        "the soft-deleted visitor stays"
    );
    let (status, body) = app.filter_delete(&format!("user_id={}", ids[0])).await;
    assert_eq!((status, body["deleted"].clone()), (200, json!(0)));
}

#[tokio::test]
async fn a_user_changed_after_it_was_found_is_not_deleted() {
    let (app, ids) = seeded().await;
    let found = app.user(&ids[0]).await.unwrap();
    // Between the scan and the delete, the user becomes active.
    let mut now_active = person(&ids[0], "F0", "f0", json!({"active": true}));
    now_active["user_type"] = json!("visitor");
    app.upsert(&list(vec![now_active])).await;
    let filter = Filter {
        active: Some(false),
        ..Filter::default()
    };
    let outcomes = apply_removal_to(
        &app.app.store,
        &[found.link_id],
        vec![found],
        Removal::DeleteMatching(&filter),
        "tester",
        shared::deadline::Deadline::after(std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(outcomes, [RemovalOutcome::Skipped]);
    assert!(app.user(&ids[0]).await.is_some());
}

/// A table with `n` users of type `contractor` (and their card claims), created through
/// the upsert in requests of 1000.
async fn contractors(n: usize) -> TestApp {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..n).map(|_| new_id()).collect();
    for chunk in ids.chunks(1000) {
        let items = chunk
            .iter()
            .map(|id| {
                person(
                    id,
                    &format!("Contractor {id}"),
                    id,
                    json!({"user_type": "contractor"}),
                )
            })
            .collect();
        app.upsert(&list(items)).await;
    }
    app
}

#[tokio::test]
async fn a_short_deadline_answers_what_was_deleted_and_the_same_request_continues() {
    let seeder = contractors(3000).await;
    let app = seeder
        .sibling(Options {
            vars: vec![("DEFAULT_BUDGET_MS", "1000".into())],
            ..Default::default()
        })
        .await;
    // Each answer says what it deleted and whether more remain; a run that got no page
    // answered in time is a 503 (nothing done) and is simply sent again.
    let (mut total, mut cut_short, mut rounds) = (0, 0, 0);
    loop {
        rounds += 1;
        assert!(rounds <= 100, "no end after {rounds} requests");
        let (status, next) = app.filter_delete("user_type=contractor").await;
        if status == 503 {
            continue;
        }
        assert_eq!(status, 200, "{next}");
        let deleted = next["ids"].as_array().unwrap();
        assert_eq!(next["deleted"].as_u64(), Some(deleted.len() as u64));
        for id in deleted {
            assert!(
                seeder.user(id.as_str().unwrap()).await.is_none(),
                "{id} is gone"
            );
        }
        total += deleted.len();
        if next["remaining"] == false {
            break;
        }
        cut_short += 1;
    }
    assert!(cut_short > 0, "3000 deletes do not fit one second");
    // What was reported deleted is gone, and nothing is left once a run says so. (A
    // delete still in flight at a deadline is reported not deleted yet may complete
    // afterwards: the next run no longer finds that user.)
    assert!(total <= 3000);
    let (_, last) = app.filter_delete("user_type=contractor&dry_run=true").await;
    assert_eq!(last["matched"], 0);
}

#[tokio::test]
async fn a_dynamodb_failure_after_some_deletes_answers_what_was_deleted() {
    let seeder = contractors(3000).await;
    // Each segment's first page is read (and its users deleted); every later page fails
    // with an error no retry fixes.
    let app = seeder
        .sibling(Options {
            interceptor: Some(aws_sdk_dynamodb::config::SharedInterceptor::new(
                api_tests::faults::ScansFailAfter::new(4),
            )),
            ..Default::default()
        })
        .await;
    let (status, body) = app.filter_delete("user_type=contractor").await;
    assert_eq!(status, 200, "part was applied: {body}");
    assert_eq!(body["remaining"], true);
    let deleted = body["ids"].as_array().unwrap();
    assert!(
        !deleted.is_empty() && deleted.len() < 3000,
        "{}",
        deleted.len()
    );
    for id in deleted {
        assert!(seeder.user(id.as_str().unwrap()).await.is_none());
    }
    // Nothing deleted at all: then it is a 503.
    let (status, body) = app
        .filter_delete("user_type=contractor&dry_run=false")
        .await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
async fn errors_answer_in_the_filter_dialect() {
    let (app, ids) = seeded().await;
    let (status, body) = app.filter_delete_as("active=false", None).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error_type": "unauthenticated_error", "success": false,
            "error": {"message": "No header X-Auth-Token present", "code": 110, "reason": "auth_token_not_provided"}})
        )
    );
    let expired = shared::auth::mint_hs256_with_exp(api_tests::SECRET, "x", Some("admin"), 1_000);
    for (tok, status, code, reason) in [
        ("garbage".to_owned(), 401, 111, "auth_token_invalid"),
        (expired, 401, 112, "auth_token_expired"),
        (token(Some("viewer")), 403, 120, "admin_rights_required"),
    ] {
        let (got, body) = app.filter_delete_as("active=false", Some(&tok)).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], code);
        assert_eq!(body["error"]["reason"], reason);
    }
    for (q, code, reason, names) in [
        ("", 132, "filter_required", None),
        ("dry_run=true", 132, "filter_required", None),
        ("actve=false", 131, "unknown_parameter", Some("actve")),
        ("active=maybe", 130, "invalid_parameter", Some("active")),
        (
            "create_time_gt=yesterday",
            130,
            "invalid_parameter",
            Some("create_time_gt"),
        ),
        ("user_id=42", 130, "invalid_parameter", Some("user_id")),
        (
            "user_id_in=a,b",
            130,
            "invalid_parameter",
            Some("user_id_in"),
        ),
    ] {
        let (status, body) = app.filter_delete(q).await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(body["error_type"], "validation_error");
        assert_eq!(body["error"]["code"], code, "{q}");
        assert_eq!(body["error"]["reason"], reason, "{q}");
        if let Some(name) = names {
            assert!(
                body["error"]["message"].as_str().unwrap().contains(name),
                "{body}"
            );
        }
    }
    let (status, body) = app.filter_delete(&format!("user_id={}", new_id())).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_type": "Object not found error", "success": false})
        )
    );
    assert_eq!(exists(&app, &ids).await, [true; 6], "nothing was deleted");
    let (status, body) = app.filter_delete(&format!("user_id={}", ids[5])).await;
    assert_eq!((status, body["ids"].clone()), (200, json!([ids[5]])));
}

/// A sibling of `seeder` whose scans are throttled after the first `ok` pages (each
/// segment's first page, for 4): its runs stop at their 1.5 s deadline mid-scan.
async fn throttled_scans(seeder: &TestApp, ok: usize) -> TestApp {
    seeder
        .sibling(Options {
            vars: vec![("DEFAULT_BUDGET_MS", "1500".into())],
            interceptor: Some(aws_sdk_dynamodb::config::SharedInterceptor::new(
                api_tests::faults::ScansFailAfter::throttled(ok),
            )),
            ..Default::default()
        })
        .await
}

#[tokio::test]
async fn a_scan_cut_short_answers_a_cursor_that_goes_on_where_it_stopped() {
    // 3000 contractors and their claims and registries: some 9000 items, more than one
    // page per scan segment.
    let seeder = contractors(3000).await;
    let cut_short = throttled_scans(&seeder, 4).await;

    // Dry runs count what they looked at: the first stops after one page per segment,
    // the second goes on from its cursor. Together they see every contractor once.
    let (status, first) = cut_short
        .filter_delete("user_type=contractor&dry_run=true")
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["remaining"], true);
    let cursor = first["cursor"].as_str().expect("a cursor").to_owned();
    let seen = first["matched"].as_u64().unwrap();
    assert!(seen > 0 && seen < 3000, "{seen}");
    let (status, rest) = seeder
        .filter_delete(&format!(
            "user_type=contractor&dry_run=true&cursor={cursor}"
        ))
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["remaining"], false);
    assert_eq!(rest["cursor"], Value::Null);
    assert_eq!(
        seen + rest["matched"].as_u64().unwrap(),
        3000,
        "none skipped, none twice"
    );

    // A cursor continues only the request that made it: not a real run, not another
    // filter, not altered.
    let mut altered = cursor.clone().into_bytes();
    altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for query in [
        format!("user_type=contractor&cursor={cursor}"),
        format!("user_type=visitor&dry_run=true&cursor={cursor}"),
        format!("user_type=contractor&dry_run=true&cursor={altered}"),
        format!("user_type=contractor&dry_run=true&cursor={cursor}&cursor={cursor}"),
    ] {
        let (status, body) = seeder.filter_delete(&query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error_type"], "validation_error", "{body}");
    }

    // The real thing: cut short, then continued from its cursor, deletes every
    // contractor exactly once.
    let cut_short = throttled_scans(&seeder, 4).await;
    let (status, first) = cut_short.filter_delete("user_type=contractor").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["remaining"], true);
    let cursor = first["cursor"].as_str().expect("a cursor").to_owned();
    let (status, rest) = seeder
        .filter_delete(&format!("user_type=contractor&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(
        first["deleted"].as_u64().unwrap() + rest["deleted"].as_u64().unwrap(),
        3000
    );
    let (_, left) = seeder
        .filter_delete("user_type=contractor&dry_run=true")
        .await;
    assert_eq!(left["matched"], 0);
}

/// Clean-up progress items in the table.
async fn progress(app: &TestApp) -> usize {
    app.snapshot()
        .await
        .iter()
        .filter(|item| item.contains("PROGRESS#"))
        .count()
}

#[tokio::test]
async fn the_cleanup_keeps_where_a_saved_filter_stopped_for_its_next_run() {
    let seeder = contractors(3000).await;
    let rule = json!({"purge": false, "filters": [{"user_type": "contractor"}]});
    let cut_short = throttled_scans(&seeder, 4).await;
    let first = cut_short.cleanup(rule.clone()).await.expect("first run");
    let done_first = first["filters"][0]["deleted"].as_u64().unwrap();
    assert_eq!(first["filters"][0]["remaining"], true, "{first}");
    assert!(done_first > 0 && done_first < 3000, "{first}");
    assert_eq!(progress(&seeder).await, 1, "where it stopped is kept");

    let second = seeder.cleanup(rule.clone()).await.expect("second run");
    assert_eq!(second["filters"][0]["remaining"], false, "{second}");
    assert_eq!(
        done_first + second["filters"][0]["deleted"].as_u64().unwrap(),
        3000,
        "the second run went on from there: {second}"
    );
    assert_eq!(
        progress(&seeder).await,
        0,
        "covered: the next run starts afresh"
    );
}
