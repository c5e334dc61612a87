//! The read API (docs/contracts.md#read-users): a user by id, and listings paged with
//! sealed cursors, with the cost of each counted.

use std::collections::BTreeSet;

use api_tests::{TestApp, infos, list, new_id, token, user};
use base64::Engine;
use serde_json::{Value, json};

/// Every page of `query` (without `cursor`), following `next_cursor` to the end.
async fn all_pages(app: &TestApp, query: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            None => format!("/api/v1/users?{query}"),
            Some(c) => format!("/api/v1/users?{query}&cursor={c}"),
        };
        let (status, body) = app.read(&uri).await;
        assert_eq!(status, 200, "{uri}: {body}");
        pages.push(body["items"].as_array().expect("items").clone());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert_eq!(body["next_cursor"], Value::Null);
                return pages;
            }
        }
        assert!(pages.len() < 100, "{query}: a listing that does not end");
    }
}

fn ids_of(pages: &[Vec<Value>]) -> Vec<String> {
    pages
        .iter()
        .flatten()
        .map(|u| u["link_id"].as_str().expect("link_id").to_owned())
        .collect()
}

/// `n` users named `<tag> <i>` with their own cards, `fields` added to each.
async fn seed(app: &TestApp, tag: &str, n: usize, fields: Value) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|_| new_id()).collect();
    for chunk in ids.chunks(1000) {
        let items = chunk
            .iter()
            .map(|id| {
                let mut u = user(Some(id), &format!("{tag} {id}"), &format!("{tag}-{id}"));
                for (k, v) in fields.as_object().expect("fields") {
                    u[k] = v.clone();
                }
                u
            })
            .collect();
        let (status, body) = app.upsert(&list(items)).await;
        assert_eq!(status, 200, "{body}");
        assert!(infos(&body).iter().all(|i| i == "created"), "{body}");
    }
    ids
}

#[tokio::test]
async fn a_user_reads_back_as_it_was_written_in_one_request() {
    let app = TestApp::new().await;
    let id = new_id();
    let png = {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&[7u8; 40]);
        bytes
    };
    let image = base64::engine::general_purpose::STANDARD.encode(&png);
    let written = json!({
        "link_id": id, "name": "Ann Lee", "email": "ann@x.io", "role_id": "r1",
        "user_type": "employee", "active": false, "info": "desk 4",
        "auth_factors": [{"type": "card", "number": "4711"}, {"type": "pin", "number": "1234"},
                         {"type": "face", "image": image}],
        "is_online": true, "login_ip": "10.0.0.1", "last_login_time": "2026-03-01T10:00:00Z",
    });
    app.upsert(&list(vec![written])).await;

    let before = app.calls.snapshot();
    let (status, u) = app.read(&format!("/api/v1/users/{id}")).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(
        app.calls_since(&before).to_string(),
        "BatchGetItem=1",
        "a read by id is one request"
    );
    for (k, v) in [
        ("link_id", json!(id)),
        ("name", json!("Ann Lee")),
        ("email", json!("ann@x.io")),
        ("role_id", json!("r1")),
        ("user_type", json!("employee")),
        ("active", json!(false)),
        ("info", json!("desk 4")),
        ("is_online", json!(true)),
        ("login_ip", json!("10.0.0.1")),
        ("last_login_time", json!("2026-03-01T10:00:00.000Z")),
        ("time_profile_id", Value::Null),
        ("created_by", json!("tester")),
    ] {
        assert_eq!(u[k], v, "{k}: {u}");
    }
    assert!(u["create_time"].is_string() && u["update_time"].is_string());
    assert!(u.get("deleted_at").is_none(), "{u}");
    let factors = u["auth_factors"].as_array().unwrap();
    assert_eq!(factors[0], json!({"type": "card", "number": "4711"}));
    assert_eq!(factors[1], json!({"type": "pin", "number": "1234"}));
    assert_eq!(factors[2]["type"], "face");
    assert_eq!(factors[2]["format"], "png");
    assert_eq!(factors[2]["bytes"], png.len());
    assert!(
        factors[2].get("image").is_none(),
        "no image bytes by default"
    );

    let (_, with) = app
        .read(&format!("/api/v1/users/{id}?include=face_images"))
        .await;
    assert_eq!(with["auth_factors"][2]["image"], json!(image));
    assert_eq!(with["auth_factors"][2]["sha256"], factors[2]["sha256"]);

    // What was read is what the upsert accepts: sent back, it changes nothing but the
    // update time.
    let mut again = with.clone();
    for k in ["create_time", "created_by", "update_time", "updated_by"] {
        again.as_object_mut().unwrap().remove(k);
    }
    let (_, body) = app.upsert(&list(vec![again])).await;
    assert_eq!(infos(&body), ["updated"], "{body}");
    let (_, after) = app
        .read(&format!("/api/v1/users/{id}?include=face_images"))
        .await;
    for k in ["name", "email", "auth_factors", "active", "last_login_time"] {
        assert_eq!(after[k], with[k], "{k}");
    }
}

#[tokio::test]
async fn missing_users_bad_ids_and_bad_callers_get_the_error_dialect() {
    let app = TestApp::new().await;
    let (status, body) = app.read(&format!("/api/v1/users/{}", new_id())).await;
    assert_eq!((status, body), (404, json!({"error": "User not found"})));
    let (status, body) = app.read("/api/v1/users/not-a-uuid").await;
    assert_eq!((status, body), (404, json!({"error": "User not found"})));
    let (status, body) = app
        .read(&format!("/api/v1/users/{}?include=everything", new_id()))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Invalid value for parameter `include`: expected face_images"
    );
    let (status, body) = app.read_as("/api/v1/users", None).await;
    assert_eq!((status, body), (401, json!({"error": "Log In"})));
    let (status, body) = app
        .read_as("/api/v1/users", Some(&token(Some("viewer"))))
        .await;
    assert_eq!(
        (status, body),
        (403, json!({"error": "Administrator rights required"}))
    );
    for (query, text) in [
        (
            "limit=0",
            "Invalid value for parameter `limit`: expected an integer from 1 to 1000",
        ),
        (
            "limit=1001",
            "Invalid value for parameter `limit`: expected an integer from 1 to 1000",
        ),
        (
            "limit=ten",
            "Invalid value for parameter `limit`: expected an integer from 1 to 1000",
        ),
        ("dry_run=true", "Unknown parameter `dry_run`"),
        (
            "cursor=abc",
            "Invalid value for parameter `cursor`: expected the next_cursor of the previous page of this listing",
        ),
        (
            "active=maybe",
            "Invalid value for parameter `active`: expected true or false",
        ),
        (
            "limit=5&limit=6",
            "Invalid value for parameter `limit`: given more than once",
        ),
    ] {
        let (status, body) = app.read(&format!("/api/v1/users?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body, json!({ "error": text }), "{query}");
    }
}

#[tokio::test]
async fn every_user_is_listed_once_across_pages_in_a_stable_order() {
    let app = TestApp::new().await;
    let ids = seed(&app, "Page", 250, json!({})).await;
    let pages = all_pages(&app, "limit=100").await;
    let listed = ids_of(&pages);
    assert_eq!(listed.len(), 250, "each user once");
    assert_eq!(
        listed.iter().collect::<BTreeSet<_>>(),
        ids.iter().collect::<BTreeSet<_>>()
    );
    assert!(pages.iter().all(|p| p.len() <= 100));
    assert_eq!(pages[0].len(), 100, "pages are filled up to the limit");
    assert_eq!(
        ids_of(&all_pages(&app, "limit=100").await),
        listed,
        "the same order again"
    );
    // Other page sizes interleave the scan's segments differently, but still list every
    // user exactly once; so does a listing whose page size changes between pages.
    let small = ids_of(&all_pages(&app, "limit=7").await);
    assert_eq!(small.len(), 250);
    assert_eq!(
        small.iter().collect::<BTreeSet<_>>(),
        ids.iter().collect::<BTreeSet<_>>()
    );
    let (_, first) = app.read("/api/v1/users?limit=30").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let mut mixed = ids_of(&[first["items"].as_array().unwrap().clone()]);
    let mut cursor = Some(cursor.to_owned());
    while let Some(c) = cursor {
        let (status, page) = app
            .read(&format!("/api/v1/users?limit=90&cursor={c}"))
            .await;
        assert_eq!(status, 200, "{page}");
        mixed.extend(ids_of(&[page["items"].as_array().unwrap().clone()]));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(mixed.len(), 250, "no user twice when the page size changes");
    assert_eq!(
        mixed.iter().collect::<BTreeSet<_>>(),
        ids.iter().collect::<BTreeSet<_>>()
    );
}

#[tokio::test]
async fn a_filter_lists_only_its_users_and_soft_deleted_ones_on_request() {
    let app = TestApp::new().await;
    let visitors = seed(&app, "V", 30, json!({"user_type": "visitor"})).await;
    seed(&app, "E", 40, json!({"user_type": "employee"})).await;
    let gone = &visitors[..5];
    let (status, _) = app
        .soft(
            &gone.iter().map(String::as_str).collect::<Vec<_>>(),
            true,
            None,
        )
        .await;
    assert_eq!(status, 200);

    let live = ids_of(&all_pages(&app, "user_type=visitor&limit=8").await);
    assert_eq!(
        live.iter().collect::<BTreeSet<_>>(),
        visitors[5..].iter().collect::<BTreeSet<_>>()
    );
    let pages = all_pages(&app, "user_type=visitor&include_deleted=true&limit=8").await;
    let everyone = ids_of(&pages);
    assert_eq!(
        everyone.iter().collect::<BTreeSet<_>>(),
        visitors.iter().collect::<BTreeSet<_>>()
    );
    let deleted: Vec<&Value> = pages
        .iter()
        .flatten()
        .filter(|u| u.get("deleted_at").is_some())
        .collect();
    assert_eq!(deleted.len(), 5);
    assert!(deleted.iter().all(|u| u["deleted_by"] == "tester"));
    // A soft-deleted user is still readable by id, with its deletion.
    let (status, u) = app.read(&format!("/api/v1/users/{}", gone[0])).await;
    assert_eq!(status, 200);
    assert!(u["deleted_at"].is_string(), "{u}");

    // A cursor works only with the listing that made it.
    let (_, first) = app.read("/api/v1/users?user_type=visitor&limit=8").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, body) = app
        .read(&format!(
            "/api/v1/users?user_type=employee&limit=8&cursor={cursor}"
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .read(&format!(
            "/api/v1/users?user_type=visitor&limit=20&cursor={cursor}"
        ))
        .await;
    assert_eq!(status, 200, "the page size may change between pages");
    let mut forged = cursor.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (status, _) = app
        .read(&format!(
            "/api/v1/users?user_type=visitor&limit=8&cursor={forged}"
        ))
        .await;
    assert_eq!(status, 400, "an altered cursor");
}

#[tokio::test]
async fn an_email_page_costs_one_query_and_one_batched_read() {
    let app = TestApp::new().await;
    let shared = seed(&app, "Mail", 150, json!({"email": "team@x.io"})).await;
    seed(&app, "Other", 20, json!({"email": "else@x.io"})).await;
    let before = app.calls.snapshot();
    let (status, body) = app.read("/api/v1/users?email=team%40x.io").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 100);
    assert_eq!(
        app.calls_since(&before).to_string(),
        "BatchGetItem=1 Query=1",
        "a page of 100 by e-mail"
    );
    let listed = ids_of(&all_pages(&app, "email=team%40x.io&limit=40").await);
    assert_eq!(listed.len(), 150);
    assert_eq!(
        listed.iter().collect::<BTreeSet<_>>(),
        shared.iter().collect::<BTreeSet<_>>()
    );
    let (_, none) = app.read("/api/v1/users?email=nobody%40x.io").await;
    assert_eq!(none, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn ids_keep_their_order_and_names_page_through_namesakes() {
    let app = TestApp::new().await;
    let ids = seed(&app, "Id", 6, json!({})).await;
    let order = [4, 1, 5, 0];
    let query = format!(
        "user_id_in={}&limit=3",
        order.map(|i| ids[i].as_str()).join(",")
    );
    let before = app.calls.snapshot();
    let pages = all_pages(&app, &query).await;
    assert_eq!(
        ids_of(&pages),
        order.map(|i| ids[i].clone()).to_vec(),
        "in the order asked"
    );
    assert_eq!(pages.len(), 2);
    assert_eq!(
        app.calls_since(&before).to_string(),
        "BatchGetItem=2",
        "one batched read per page"
    );

    let namesakes: Vec<String> = (0..5).map(|_| new_id()).collect();
    let items = namesakes
        .iter()
        .enumerate()
        .map(|(i, id)| user(Some(id), "Sam Doe", &format!("sam-{i}")))
        .collect();
    app.upsert(&list(items)).await;
    let pages = all_pages(&app, "name=Sam+Doe&limit=2").await;
    assert!(pages.iter().all(|p| p.len() <= 2));
    let listed = ids_of(&pages);
    let mut sorted = namesakes.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "namesakes in id order, each once");
}
