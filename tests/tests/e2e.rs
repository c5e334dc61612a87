//! End-to-end over real HTTP: the functions served by `cargo lambda watch` on their
//! production paths (several instances per function), against DynamoDB Local; events the
//! emulator cannot make (bodies that are not UTF-8) go through `cargo lambda invoke` with
//! fixtures. `make test` starts both and runs these with `--ignored`; they need
//! `E2E_BASE_URL` and `AUTH_JWT_SECRET` and fail without them.

use std::time::Duration;

use serde_json::{Value, json};

fn base() -> String {
    std::env::var("E2E_BASE_URL").expect("E2E_BASE_URL: run through `make test`")
}

fn token(role: Option<&str>) -> String {
    let secret = std::env::var("AUTH_JWT_SECRET").expect("AUTH_JWT_SECRET");
    shared::auth::mint_hs256(&secret, "e2e", role, Duration::from_secs(600))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

async fn post(path: &str, body: String, token: Option<&str>) -> (u16, Option<String>, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    let (status, ctype, text) = send(reqwest::Method::POST, path, body, &headers).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text}"));
    (status, Some(ctype), value)
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn upsert_over_http_creates_then_updates() {
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let items: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"link_id": id, "name": format!("E2E {id}"),
                   "auth_factors": [{"type": "card", "number": format!("e2e-{id}-{i}")}]})
        })
        .collect();
    let body = json!({ "list_items": items }).to_string();
    let admin = token(Some("admin"));
    let (status, ctype, answer) = post("/api/v1/users/bulk", body.clone(), Some(&admin)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(ctype.as_deref(), Some("application/json"));
    let expected: Vec<Value> = ids
        .iter()
        .map(|id| json!({"link_id": id, "success": true, "extended_info": "created", "has_dublicates": false}))
        .collect();
    assert_eq!(answer, json!({ "result": expected }));
    let (status, _, answer) = post("/api/v1/users/bulk", body, Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(
        answer["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["extended_info"] == "updated")
    );
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_user_and_a_listing_read_back_over_http() {
    let id = uuid::Uuid::new_v4().to_string();
    let email = format!("{id}@e2e.example");
    let items: Vec<Value> = (0..3)
        .map(|i| {
            let link = if i == 0 {
                id.clone()
            } else {
                uuid::Uuid::new_v4().to_string()
            };
            json!({"link_id": link, "name": format!("Reader {i} {id}"), "email": email,
                   "auth_factors": [{"type": "pin", "number": format!("r-{id}-{i}")}]})
        })
        .collect();
    let admin = token(Some("admin"));
    let body = json!({ "list_items": items }).to_string();
    let (status, _, answer) = post("/api/v1/users/bulk", body, Some(&admin)).await;
    assert_eq!(status, 200, "{answer}");
    let auth = format!("Bearer {admin}");
    let headers = [("authorization", auth.as_str())];
    let get = |path: String| async move {
        let (status, _, text) = send(reqwest::Method::GET, &path, String::new(), &headers).await;
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text}"));
        (status, value)
    };
    let (status, user) = get(format!("/api/v1/users/{id}")).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["name"], format!("Reader 0 {id}"));
    let (status, missing) = get(format!("/api/v1/users/{}", uuid::Uuid::new_v4())).await;
    assert_eq!((status, missing), (404, json!({"error": "User not found"})));
    let query = format!("/api/v1/users?email={}&limit=2", email.replace('@', "%40"));
    let (status, first) = get(query.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (status, second) = get(format!("{query}&cursor={cursor}")).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn errors_over_http_keep_the_documented_shape() {
    let ok =
        json!({"list_items": [{"name": "x", "auth_factors": [{"type": "pin", "number": "1"}]}]})
            .to_string();
    let (status, _, body) = post("/api/v1/users/bulk", ok.clone(), None).await;
    assert_eq!((status, body), (401, json!({"error": "Log In"})));
    let (status, _, body) = post("/api/v1/users/bulk", ok, Some(&token(Some("viewer")))).await;
    assert_eq!(
        (status, body),
        (403, json!({"error": "Administrator rights required"}))
    );
    let (status, _, body) = post(
        "/api/v1/users/bulk",
        "{oops".into(),
        Some(&token(Some("admin"))),
    )
    .await;
    assert_eq!((status, body), (400, json!({"error": "Wrong JSON body"})));
}

async fn send(
    method: reqwest::Method,
    path: &str,
    body: String,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = client()
        .request(method, format!("{}{path}", base()))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ctype, resp.text().await.expect("body"))
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn soft_delete_in_xml_then_hard_delete_over_http() {
    let id = uuid::Uuid::new_v4().to_string();
    let admin = token(Some("admin"));
    let auth = format!("Bearer {admin}");
    let user = json!({"list_items": [{"link_id": id, "name": format!("E2E soft {id}"),
        "auth_factors": [{"type": "pin", "number": format!("soft-{id}")}]}]});
    let (status, _, _) = post("/api/v1/users/bulk", user.to_string(), Some(&admin)).await;
    assert_eq!(status, 200);

    let xml = api_tests::xml_body(&[&id], true);
    let (status, ctype, text) = send(
        reqwest::Method::POST,
        "/api/v1/users/bulk/delete",
        xml,
        &[
            ("content-type", "application/xml"),
            ("x-auth-token", &admin),
        ],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(ctype.starts_with("application/xml"), "{ctype}");
    assert!(
        text.contains("<count_of_errors>0</count_of_errors>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<d2p1:guid>{id}</d2p1:guid>")),
        "{text}"
    );

    let body = json!({ "link_ids": [id, id] }).to_string();
    let (status, _, text) = send(
        reqwest::Method::DELETE,
        "/api/v1/users/bulk",
        body,
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer,
        json!({"result": [
            {"link_id": id, "success": true, "extended_info": "deleted"},
            {"link_id": id, "success": false, "extended_info": "not_found"},
        ]})
    );
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn filter_delete_over_http_uses_the_filter_dialect() {
    let id = uuid::Uuid::new_v4().to_string();
    let admin = token(Some("admin"));
    let kind = format!("e2e-{}", &id[..8]);
    let user = json!({"list_items": [{"link_id": id, "name": format!("E2E filter {id}"),
        "user_type": kind, "auth_factors": [{"type": "card", "number": format!("filter-{id}")}]}]});
    let (status, _, _) = post("/api/v1/users/bulk", user.to_string(), Some(&admin)).await;
    assert_eq!(status, 200);
    let path = format!("/api/v1/users?user_type={kind}");
    let (status, _, text) = send(reqwest::Method::DELETE, &path, String::new(), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"error_type": "unauthenticated_error", "success": false,
            "error": {"message": "No header X-Auth-Token present", "code": 110, "reason": "auth_token_not_provided"}})
    );
    let (status, _, text) = send(
        reqwest::Method::DELETE,
        &format!("{path}&dry_run=true"),
        String::new(),
        &[("x-auth-token", &admin)],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let dry: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (dry["matched"].clone(), dry["deleted"].clone()),
        (json!(1), json!(0))
    );
    let (status, _, text) = send(
        reqwest::Method::DELETE,
        &path,
        String::new(),
        &[("x-auth-token", &admin)],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let done: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(done["ids"], json!([id]));
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_over_http() {
    let id = uuid::Uuid::new_v4().to_string();
    let key = format!("e2e-{id}");
    let body = json!({"list_items": [{"link_id": id, "name": format!("Retry {id}"),
                       "auth_factors": [{"type": "pin", "number": format!("r-{id}")}]}]})
    .to_string();
    let auth = format!("Bearer {}", token(Some("admin")));
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
        ("idempotency-key", key.as_str()),
    ];
    let first = send(
        reqwest::Method::POST,
        "/api/v1/users/bulk",
        body.clone(),
        &headers,
    )
    .await;
    assert_eq!(first.0, 200, "{}", first.2);
    assert!(
        first.2.contains(r#""extended_info":"created""#),
        "{}",
        first.2
    );
    let again = send(reqwest::Method::POST, "/api/v1/users/bulk", body, &headers).await;
    assert_eq!(again, first, "the first answer again, not `updated`");
    let other = json!({"list_items": [{"name": "Someone else",
                        "auth_factors": [{"type": "pin", "number": format!("o-{id}")}]}]});
    let reused = send(
        reqwest::Method::POST,
        "/api/v1/users/bulk",
        other.to_string(),
        &headers,
    )
    .await;
    assert_eq!(reused.0, 422, "{}", reused.2);
}

/// Runs `cargo lambda invoke <function>` against the stack with an API Gateway event from
/// `fixtures/` (its `${TOKEN}` replaced by an admin token) and answers the function's
/// API Gateway response.
fn invoke_fixture(function: &str, fixture: &str) -> Value {
    let base = base();
    let port = base.rsplit(':').next().expect("E2E_BASE_URL names a port");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let event = std::fs::read_to_string(root.join("fixtures").join(fixture))
        .expect("fixture")
        .replace("${TOKEN}", &token(Some("admin")));
    let file = std::env::temp_dir().join(format!("e2e-{}-{fixture}", uuid::Uuid::new_v4()));
    std::fs::write(&file, event).expect("event file");
    let out = std::process::Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
        ])
        .args([
            "--invoke-port",
            port,
            "--output-format",
            "json",
            "--data-file",
        ])
        .arg(&file)
        .output()
        .expect("cargo lambda invoke");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "cargo lambda invoke failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

/// API Gateway delivers a body that is not UTF-8 base64-encoded (`cargo lambda watch`
/// cannot: it answers 500 itself to such a body with a text content type), so this goes
/// through `cargo lambda invoke` with the event API Gateway would send.
#[test]
#[ignore = "needs the local stack: run through `make test`"]
fn bodies_that_are_not_utf8_answer_400_in_each_dialect() {
    let answer = invoke_fixture("upsert-users", "invalid-utf8-upsert.json");
    assert_eq!(answer["statusCode"], 400, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"error": "Wrong JSON body"}));

    let answer = invoke_fixture(
        "delete-or-restore-users",
        "invalid-utf8-delete-or-restore.json",
    );
    assert_eq!(answer["statusCode"], 400, "{answer}");
    let xml = answer["body"].as_str().unwrap();
    assert!(
        xml.contains("<code>400</code>") && xml.contains("<message>Wrong XML body</message>"),
        "{xml}"
    );
}

/// `make test` serves several instances per function, so these requests run at the same
/// time in different processes, as on Lambda: of the users claiming one card number,
/// exactly one gets it and exists afterwards.
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn one_card_number_claimed_by_concurrent_requests_goes_to_exactly_one_user() {
    let admin = token(Some("admin"));
    for round in 0..2 {
        let card = format!("race-{round}-{}", uuid::Uuid::new_v4());
        let ids: Vec<String> = (0..8).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let requests = ids.iter().map(|id| {
            let body = json!({"list_items": [{"link_id": id, "name": format!("Racer {id}"),
                "auth_factors": [{"type": "card", "number": card}]}]});
            post("/api/v1/users/bulk", body.to_string(), Some(&admin))
        });
        let answers = futures::future::join_all(requests).await;
        let mut winners = Vec::new();
        for (id, (status, _, answer)) in ids.iter().zip(&answers) {
            assert_eq!(*status, 200, "{answer}");
            let result = &answer["result"][0];
            match result["extended_info"].as_str() {
                Some("created") => winners.push(id.clone()),
                Some("number_taken_by_another_identifier") => {
                    assert_eq!(result["success"], false, "{answer}")
                }
                _ => panic!("unexpected answer {answer}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one claimant wins: {answers:?}");
        // Only the winner exists: deleting everyone finds just that user.
        let body = json!({ "link_ids": ids }).to_string();
        let auth = format!("Bearer {admin}");
        let (status, _, text) = send(
            reqwest::Method::DELETE,
            "/api/v1/users/bulk",
            body,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let deleted: Vec<String> = serde_json::from_str::<Value>(&text).unwrap()["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["extended_info"] == "deleted")
            .map(|r| r["link_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(deleted, winners);
    }
}
