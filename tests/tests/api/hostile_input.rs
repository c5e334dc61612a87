//! Input that used to panic a function (a 500, or a dead clean-up run) is refused in the
//! endpoint's own dialect, and values a terminal cannot show are refused by field.

use std::time::Duration;

use api_tests::{TestApp, infos, list, new_id, user};
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(86_400);

/// The summary a failed clean-up invocation carries in its error.
fn summary_of(err: &str) -> Value {
    let start = err
        .find('{')
        .unwrap_or_else(|| panic!("no summary in {err}"));
    serde_json::from_str(&err[start..]).unwrap_or_else(|e| panic!("{e}: {err}"))
}

#[tokio::test]
async fn a_filter_bound_before_the_year_0000_answers_400_code_130_naming_the_parameter() {
    let app = TestApp::new().await;
    let id = new_id();
    app.upsert(&list(vec![user(Some(&id), "Kept", "kept-1")]))
        .await;
    let range = "expected a time between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z";
    for (query, param) in [
        ("create_time_gt=now-999999999999d", "create_time_gt"),
        (
            "last_login_time_lt=now-18446744073709551615s",
            "last_login_time_lt",
        ),
        (
            "active=true&create_time_lt=-9223372036854775808",
            "create_time_lt",
        ),
    ] {
        let (status, body) = app.filter_delete(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            body,
            json!({"error_type": "validation_error", "success": false, "error": {
                "message": format!("Invalid value for parameter `{param}`: {range}"),
                "code": 130, "reason": "invalid_parameter"}}),
            "{query}"
        );
    }
    let (status, body) = app
        .filter_delete("last_login_time_gt=9999-12-31T23:00:00-23:59")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], 130);
    assert!(app.user(&id).await.is_some(), "nothing was deleted");
}

#[tokio::test]
async fn cleanup_reports_an_overflowing_retention_and_saved_filter_and_fails_after_the_rest() {
    let app = TestApp::new().await;
    let old = new_id();
    app.upsert(&list(vec![user(Some(&old), "Old", "old-1")]))
        .await;
    let (status, _) = app.soft(&[&old], true, None).await;
    assert_eq!(status, 200);
    app.backdate_soft_delete(&old, 90 * DAY).await;
    let visitor = new_id();
    let mut v = user(Some(&visitor), "Visitor", "visitor-1");
    v["user_type"] = json!("visitor");
    app.upsert(&list(vec![v])).await;

    let err = app
        .cleanup(
            json!({"purge": true, "retention_days": 999_999_999_999u64, "filters": [
                {"create_time_gt": "now-999999999999d"},
                {"user_type": "visitor"},
            ]}),
        )
        .await
        .unwrap_err();
    let summary = summary_of(&err);
    assert_eq!(
        summary["purge_error"],
        "invalid clean-up input: `retention_days` must be at most 36500 (100 years)",
        "{summary}"
    );
    assert_eq!(summary["purged"], 0);
    assert_eq!(
        summary["filters"][0]["error"],
        "Invalid value for parameter `create_time_gt`: expected a time between \
         0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
    );
    assert_eq!(summary["filters"][1]["deleted"], 1, "the good filter ran");
    assert!(app.user(&visitor).await.is_none());
    assert!(
        app.user(&old).await.is_some(),
        "no purge without a retention"
    );

    // With only the saved filter bad, the purge runs and the invocation still fails.
    let err = app
        .cleanup(json!({"filters": [{"last_login_time_lt": "now-18446744073709551615s"}]}))
        .await
        .unwrap_err();
    let summary = summary_of(&err);
    assert_eq!(summary["purged"], 1, "{summary}");
    assert!(summary.get("purge_error").is_none());
    assert!(
        summary["filters"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value for parameter `last_login_time_lt`"),
        "{summary}"
    );
    assert!(app.user(&old).await.is_none());
}

#[tokio::test]
async fn control_characters_in_names_and_numbers_answer_400_naming_the_field() {
    let app = TestApp::new().await;
    let before = app.item_count().await;
    let cases = [
        (
            list(vec![
                user(None, "Fine", "c-1"),
                user(None, "Bad\u{0}", "c-2"),
            ]),
            "list_items[1].name",
        ),
        (
            list(vec![user(None, "Ann\nLee", "c-3")]),
            "list_items[0].name",
        ),
        (
            list(vec![user(None, "Ann", "12\u{1b}[2J")]),
            "list_items[0].auth_factors[0].number",
        ),
    ];
    for (body, path) in cases {
        let (status, answer) = app.upsert(&body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(
            answer,
            json!({"error": format!("Wrong JSON body: value `{path}` was of the wrong type")})
        );
    }
    let mut late = user(None, "Ann", "c-4");
    late["last_login_time"] = json!("9999-12-31T23:00:00-23:59");
    let (status, answer) = app.upsert(&list(vec![late])).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({"error": "Wrong JSON body: value `list_items[0].last_login_time` was of the wrong type"})
    );
    assert_eq!(app.item_count().await, before, "nothing was written");

    let (status, body) = app.filter_delete("name=Ann%0ALee").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 130);
    assert_eq!(
        body["error"]["message"],
        "Invalid value for parameter `name`: expected a user name: 1 to 256 characters, \
         no control characters"
    );
    // Tabs, DEL and non-ASCII are not C0 controls: still fine.
    let (status, answer) = app
        .upsert(&list(vec![user(None, "Zoë\u{7f} O'Neil", "c-5")]))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(infos(&answer), ["created"]);
}
