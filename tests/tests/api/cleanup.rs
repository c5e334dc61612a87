//! The scheduled clean-up (`cleanup-users`), called in-process with EventBridge events.

use std::time::Duration;

use api_tests::{Options, TestApp, list, new_id, user};
use futures::StreamExt;
use serde_json::json;

const DAY: Duration = Duration::from_secs(86_400);

async fn soft_deleted(app: &TestApp, n: usize, prefix: &str) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|_| new_id()).collect();
    for chunk in ids.chunks(1000) {
        let items = chunk
            .iter()
            .map(|id| {
                user(
                    Some(id),
                    &format!("{prefix} {id}"),
                    &format!("{prefix}-{id}"),
                )
            })
            .collect();
        app.upsert(&list(items)).await;
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let (status, _) = app.soft(&refs, true, None).await;
        assert_eq!(status, 200);
    }
    ids
}

#[tokio::test]
async fn users_soft_deleted_longer_than_the_retention_are_purged_with_their_identifiers() {
    let app = TestApp::new().await;
    let ids = soft_deleted(&app, 4, "old").await;
    app.backdate_soft_delete(&ids[0], 40 * DAY).await;
    app.backdate_soft_delete(&ids[1], 30 * DAY + Duration::from_secs(120))
        .await;
    app.backdate_soft_delete(&ids[2], 30 * DAY - Duration::from_secs(120))
        .await;
    let live = new_id();
    app.upsert(&list(vec![user(Some(&live), "Live", "live-1")]))
        .await;
    let scheduled = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let summary = app.cleanup(scheduled).await.unwrap();
    assert_eq!(summary["found"], 2, "{summary}");
    assert_eq!(summary["purged"], 2);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["remaining"], false);
    assert!(app.user(&ids[0]).await.is_none() && app.user(&ids[1]).await.is_none());
    assert!(
        app.user(&ids[2]).await.is_some(),
        "inside the retention: kept"
    );
    assert!(app.user(&ids[3]).await.is_some());
    assert!(app.user(&live).await.is_some());
    assert!(
        app.number_is_free("card", &format!("old-{}", ids[0])).await,
        "freed"
    );
    assert!(
        app.owner_of("card", &format!("old-{}", ids[2]))
            .await
            .is_some()
    );
    // Idempotent: a second run finds nothing more.
    let again = app.cleanup(json!({})).await.unwrap();
    assert_eq!(
        (again["found"].clone(), again["purged"].clone()),
        (json!(0), json!(0))
    );
}

#[tokio::test]
async fn the_rule_input_can_shorten_the_retention_and_run_saved_filters() {
    let app = TestApp::new().await;
    let ids = soft_deleted(&app, 2, "recent").await;
    app.backdate_soft_delete(&ids[0], 3 * DAY).await;
    let (visitor, staff) = (new_id(), new_id());
    let mut v = user(Some(&visitor), "Visitor", "v-1");
    v["user_type"] = json!("visitor");
    v["active"] = json!(false);
    let mut s = user(Some(&staff), "Staff", "s-1");
    s["user_type"] = json!("employee");
    app.upsert(&list(vec![v, s])).await;
    let input =
        json!({"retention_days": 2, "filters": [{"user_type": "visitor", "active": false}]});
    let summary = app.cleanup(input).await.unwrap();
    assert_eq!(summary["purged"], 1, "{summary}");
    assert_eq!(summary["filters"][0]["deleted"], 1);
    assert_eq!(
        summary["filters"][0]["filter"],
        json!({"active": "false", "user_type": "visitor"})
    );
    assert!(app.user(&ids[0]).await.is_none());
    assert!(app.user(&ids[1]).await.is_some());
    assert!(app.user(&visitor).await.is_none());
    assert!(app.user(&staff).await.is_some());
}

#[tokio::test]
async fn a_run_cut_short_by_its_deadline_is_finished_by_the_next_run() {
    let app = TestApp::new().await;
    let ids = soft_deleted(&app, 1500, "due").await;
    futures::stream::iter(&ids)
        .for_each_concurrent(16, |id| app.backdate_soft_delete(id, 45 * DAY))
        .await;
    let hurried = app
        .sibling(Options {
            vars: vec![("DEFAULT_BUDGET_MS", "150".into())],
            ..Default::default()
        })
        .await;
    let first = hurried.cleanup(json!({})).await.unwrap();
    assert_eq!(first["remaining"], true, "{first}");
    let first_purged = first["purged"].as_u64().unwrap();
    assert!(first_purged < 1500, "{first}");
    let second = app.cleanup(json!({})).await.unwrap();
    assert_eq!(second["remaining"], false, "{second}");
    // Every user is purged by one of the runs and none is counted twice. A purge the
    // first run sent as its deadline came may have applied after it answered: the
    // first run counts it as failed (not confirmed), and the second no longer finds it.
    let purged = first_purged + second["purged"].as_u64().unwrap();
    let unconfirmed = first["failed"].as_u64().unwrap();
    assert!(
        purged <= 1500 && purged + unconfirmed >= 1500,
        "{first} then {second}"
    );
    for id in ids.iter().step_by(97) {
        assert!(app.user(id).await.is_none());
        assert!(app.number_is_free("card", &format!("due-{id}")).await);
    }
}

#[tokio::test]
async fn a_bad_saved_filter_fails_the_invocation_after_the_rest_is_done() {
    let app = TestApp::new().await;
    let ids = soft_deleted(&app, 1, "gone").await;
    app.backdate_soft_delete(&ids[0], 90 * DAY).await;
    let err = app
        .cleanup(json!({"filters": [{"activ": "false"}]}))
        .await
        .unwrap_err();
    assert!(err.contains("Unknown parameter `activ`"), "{err}");
    assert!(app.user(&ids[0]).await.is_none(), "the purge still ran");
    assert!(app.cleanup(json!([1, 2])).await.is_err());
}
