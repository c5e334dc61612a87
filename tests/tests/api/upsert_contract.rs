//! Request-level errors of `POST /api/v1/users/bulk` (docs/contracts.md#upsert-users):
//! the documented status and `{"error": ...}` text, and nothing written.

use api_tests::{TestApp, list, new_id, token, user};
use serde_json::json;

async fn refused(app: &TestApp, body: Vec<u8>, tok: Option<&str>) -> (u16, serde_json::Value) {
    let before = app.calls.snapshot();
    let answer = app.upsert_raw(body, tok).await;
    assert_eq!(
        app.calls_since(&before).total(),
        0,
        "a refused request must not touch DynamoDB"
    );
    answer
}

#[tokio::test]
async fn missing_invalid_or_expired_tokens_answer_log_in() {
    let app = TestApp::new().await;
    let body = list(vec![user(None, "Ann", "1")]).to_string().into_bytes();
    let expired = shared::auth::mint_hs256_with_exp(api_tests::SECRET, "x", Some("admin"), 1_000);
    let forged = shared::auth::mint_hs256(
        "another-secret-0123456789",
        "x",
        Some("admin"),
        std::time::Duration::from_secs(60),
    );
    for tok in [
        None,
        Some("not-a-jwt"),
        Some(expired.as_str()),
        Some(forged.as_str()),
    ] {
        let (status, body) = refused(&app, body.clone(), tok).await;
        assert_eq!((status, body), (401, json!({"error": "Log In"})));
    }
    assert_eq!(app.item_count().await, 0);
}

#[tokio::test]
async fn a_valid_token_without_admin_role_answers_administrator_rights_required() {
    let app = TestApp::new().await;
    let body = list(vec![user(None, "Ann", "1")]).to_string().into_bytes();
    for role in [None, Some("viewer")] {
        let (status, body) = refused(&app, body.clone(), Some(&token(role))).await;
        assert_eq!(
            (status, body),
            (403, json!({"error": "Administrator rights required"}))
        );
    }
}

#[tokio::test]
async fn x_auth_token_header_is_accepted() {
    let app = TestApp::new().await;
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/users/bulk")
        .header("X-Auth-Token", app.admin_token())
        .body(lambda_http::Body::from(
            list(vec![user(None, "Ann", "1")]).to_string(),
        ))
        .unwrap();
    let resp = upsert_users::handle(&app.app, req).await.unwrap();
    let (status, body) = api_tests::response_json(resp);
    assert_eq!(status, 200);
    assert_eq!(body["result"][0]["extended_info"], "created");
}

#[tokio::test]
async fn structural_errors_name_the_json_path_and_write_nothing() {
    let app = TestApp::new().await;
    let tok = app.admin_token();
    let good = |i: usize| user(Some(&new_id()), &format!("U{i}"), &format!("{i}"));
    let mut missing_name = vec![good(0), good(1), good(2), good(3)];
    missing_name[3].as_object_mut().unwrap().remove("name");
    let mut wrong_type = vec![good(0)];
    wrong_type[0]["active"] = json!("yes");
    let mut empty_factors = vec![good(0), good(1)];
    empty_factors[1]["auth_factors"] = json!([]);
    let mut bad_uuid = vec![good(0)];
    bad_uuid[0]["link_id"] = json!("12345");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "Wrong JSON body"),
        (b"".to_vec(), "Wrong JSON body"),
        (b"[]".to_vec(), "Wrong JSON body"),
        (b"{}".to_vec(), "Wrong JSON body: no value for `list_items`"),
        (
            br#"{"list_items": 5}"#.to_vec(),
            "Wrong JSON body: value `list_items` was of the wrong type",
        ),
        (
            list(missing_name).to_string().into_bytes(),
            "Wrong JSON body: no value for `list_items[3].name`",
        ),
        (
            list(wrong_type).to_string().into_bytes(),
            "Wrong JSON body: value `list_items[0].active` was of the wrong type",
        ),
        (
            list(empty_factors).to_string().into_bytes(),
            "auth_factors must contain at least one item",
        ),
        (
            list(bad_uuid).to_string().into_bytes(),
            "Wrong JSON body: value `list_items[0].link_id` was of the wrong type",
        ),
        (
            br#"{"list_items": [{"name": "a", "auth_factors": [{"type": "card", "number": true}]}]}"#
                .to_vec(),
            "Wrong JSON body: value `list_items[0].auth_factors[0].number` was of the wrong type",
        ),
        (
            br#"{"list_items": [{"name": "a", "auth_factors": [{"type": "card", "number": "1"}], "last_login_time": "yesterday"}]}"#
                .to_vec(),
            "Wrong JSON body: value `list_items[0].last_login_time` was of the wrong type",
        ),
        (br#"{"list_items": []}"#.to_vec(), "List cannot be empty"),
    ];
    for (body, text) in cases {
        let (status, answer) = refused(&app, body, Some(&tok)).await;
        assert_eq!((status, answer), (400, json!({ "error": text })), "{text}");
    }
    assert_eq!(app.item_count().await, 0, "nothing may be written");
}

#[tokio::test]
async fn item_and_byte_limits_refuse_the_request() {
    let app = TestApp::with(api_tests::Options {
        vars: vec![
            ("MAX_ITEMS_PER_REQUEST", "3".into()),
            ("MAX_BODY_BYTES", "2000".into()),
        ],
        ..Default::default()
    })
    .await;
    let tok = app.admin_token();
    let four: Vec<_> = (0..4)
        .map(|i| user(None, &format!("U{i}"), &i.to_string()))
        .collect();
    let (status, body) = refused(&app, list(four).to_string().into_bytes(), Some(&tok)).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "List cannot contain more than 3 items"})
        )
    );
    let mut big = user(None, "Big", "1");
    big["info"] = json!("x".repeat(900));
    let body = list(vec![big.clone(), big.clone(), big])
        .to_string()
        .into_bytes();
    let (status, answer) = refused(&app, body, Some(&tok)).await;
    assert_eq!(
        (status, answer),
        (
            400,
            json!({"error": "Request body cannot be larger than 2000 bytes"})
        )
    );
    assert_eq!(app.item_count().await, 0);
}

#[tokio::test]
async fn hostile_shapes_never_cause_a_server_error() {
    let app = TestApp::new().await;
    let tok = app.admin_token();
    let bodies = [
        json!({"list_items": [null]}),
        json!({"list_items": [[]]}),
        json!({"list_items": ["x"]}),
        json!({"list_items": [{"name": 5, "auth_factors": [{"type": "card", "number": "1"}]}]}),
        json!({"list_items": [{"name": "a", "auth_factors": "card"}]}),
        json!({"list_items": [{"name": "a", "auth_factors": [null]}]}),
        json!({"list_items": [{"name": "a", "auth_factors": [{"type": "face"}]}]}),
        json!({"list_items": [{"name": "", "auth_factors": [{"type": "pin", "number": "1"}]}]}),
        json!({"list_items": [{"name": "a", "auth_factors": [{"type": "pin", "number": ""}]}]}),
        json!({"list_items": [{"name": "a", "login_ip": "999.1.1.1", "auth_factors": [{"type": "pin", "number": "1"}]}]}),
        json!({"list_items": [{"name": "a", "time_profile_id": 7, "auth_factors": [{"type": "pin", "number": "1"}]}]}),
    ];
    for b in bodies {
        let (status, answer) = refused(&app, b.to_string().into_bytes(), Some(&tok)).await;
        assert_eq!(status, 400, "{b} -> {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .starts_with("Wrong JSON body"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn bulk_bodies_declared_as_anything_but_json_answer_415() {
    let app = TestApp::new().await;
    let tok = app.admin_token();
    let upsert = list(vec![user(None, "Typed", &new_id())]).to_string();
    let delete = json!({ "link_ids": [new_id()] }).to_string();
    let refused_types = [
        "application/xml",
        "text/xml; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
    ];
    for (method, body) in [("POST", &upsert), ("DELETE", &delete)] {
        for ct in refused_types {
            let mut req = api_tests::request(
                method,
                "/api/v1/users/bulk",
                body.clone().into_bytes(),
                Some(&tok),
            );
            req.headers_mut()
                .insert("content-type", http::HeaderValue::from_static(ct));
            let before = app.calls.snapshot();
            let (status, answer) = api_tests::response_json(app.call(req).await);
            assert_eq!(
                (status, answer),
                (415, json!({"error": "Unsupported content type"})),
                "{method} {ct:?}"
            );
            assert_eq!(app.calls_since(&before).total(), 0);
        }
        for ct in [
            None,
            Some("application/json; charset=utf-8"),
            Some("Text/JSON"),
        ] {
            let mut req = api_tests::request(
                method,
                "/api/v1/users/bulk",
                body.clone().into_bytes(),
                Some(&tok),
            );
            match ct {
                Some(ct) => req
                    .headers_mut()
                    .insert("content-type", http::HeaderValue::from_static(ct)),
                None => req.headers_mut().remove("content-type"),
            };
            let (status, answer) = api_tests::response_json(app.call(req).await);
            assert_eq!(status, 200, "{method} {ct:?}: {answer}");
        }
    }
    // The content type is checked before the token: no token, XML declared -> 415.
    let mut req = api_tests::request("POST", "/api/v1/users/bulk", upsert.into_bytes(), None);
    req.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/xml"),
    );
    assert_eq!(app.call(req).await.status(), 415);
}
