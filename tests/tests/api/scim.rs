//! The SCIM service (docs/contracts.md#scim), request by request as Microsoft Entra ID and
//! Okta provision, with the DynamoDB requests of each operation counted.

use api_tests::{TestApp, list, new_id, token, user};
use serde_json::{Value, json};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ACCESS: &str = "urn:bulk-user-api:params:scim:schemas:extension:access:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn entra_user(user_name: &str) -> Value {
    json!({
        "schemas": [CORE, ENTERPRISE],
        "externalId": new_id(),
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ann Lee", "familyName": "Lee", "givenName": "Ann"},
        "roles": [],
        "phoneNumbers": null,
        ENTERPRISE: {"employeeNumber": "42", "department": "Ops"},
    })
}

fn filter_path(filter: &str) -> String {
    let encoded: String = form_urlencoded(filter);
    format!("/Users?filter={encoded}")
}

fn form_urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// `PATCH /Users/{id}` with these operations: status and body.
async fn patch_user(app: &TestApp, id: &str, ops: Value) -> (u16, Value) {
    let (status, _, body) = app
        .scim("PATCH", &format!("/Users/{id}"), Some(&patch(ops)))
        .await;
    (status, body)
}

/// `POST /Users` of a user with nothing but its `userName`: status and body.
async fn post_user(app: &TestApp, user_name: &str) -> (u16, Value) {
    let body = json!({"schemas": [CORE], "userName": user_name});
    let (status, _, answer) = app.scim("POST", "/Users", Some(&body)).await;
    (status, answer)
}

/// `GET /Users?filter=<filter>`: the ListResponse.
async fn find(app: &TestApp, filter: &str) -> Value {
    let (status, _, body) = app.scim("GET", &filter_path(filter), None).await;
    assert_eq!(status, 200, "{filter}: {body}");
    body
}

#[tokio::test]
async fn entra_id_provisions_disables_and_deletes_a_user() {
    let app = TestApp::new().await;
    // Test Connection: a random userName, an empty list.
    let (status, headers, body) = app
        .scim(
            "GET",
            &filter_path(&format!("userName eq \"{}\"", new_id())),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));

    // Create.
    let name = format!("Test_User_{}@contoso.com", &new_id()[..8]);
    let before = app.calls.snapshot();
    let (status, headers, created) = app.scim("POST", "/Users", Some(&entra_user(&name))).await;
    assert_eq!(status, 201, "{created}");
    let calls = app.calls_since(&before).to_string();
    assert!(
        calls == "BatchGetItem=1 TransactWriteItems=1",
        "a create is at most one batched read and one transaction: {calls}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"],
        format!("http://scim.test/scim/v2/Users/{id}")
    );
    assert_eq!(
        created["meta"]["location"],
        headers["location"].to_str().unwrap()
    );
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        created["meta"]["version"]
    );
    assert_eq!(created["userName"], name);
    assert_eq!(created["name"]["givenName"], "Ann");
    assert!(
        created.get(ENTERPRISE).is_none(),
        "the enterprise extension is not kept"
    );
    let stored = app.user(&id).await.unwrap();
    assert_eq!(stored.name, "Ann Lee");
    assert_eq!(stored.email.as_deref(), Some(name.as_str()));

    // Matching by userName (any case): the claim, then the user.
    let before = app.calls.snapshot();
    let found = find(&app, &format!("userName eq \"{}\"", name.to_uppercase())).await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    assert_eq!(app.calls_since(&before).to_string(), "BatchGetItem=2");
    let by_mail = find(
        &app,
        &format!("emails[type eq \"work\"].value eq \"{name}\""),
    )
    .await;
    assert_eq!(by_mail["totalResults"], 1, "{by_mail}");

    // Disable: Replace with the string "False"; the user stays readable and findable.
    let before = app.calls.snapshot();
    let (status, disabled) = patch_user(
        &app,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["active"], false);
    assert_eq!(
        app.calls_since(&before).to_string(),
        "BatchGetItem=1 TransactWriteItems=1",
        "a PATCH is one read and one conditional write"
    );
    let inactive = find(&app, &format!("userName eq \"{name}\" and active eq false")).await;
    assert_eq!(inactive["totalResults"], 1);
    assert!(!app.user(&id).await.unwrap().active);

    // The aadOptscim062020 form: lowercase op, no path, dotted keys and a schema URN.
    let (status, renamed) = patch_user(
        &app,
        &id,
        json!([{"op": "replace", "value": {
            "name.givenName": "Anna",
            "displayName": "Anna Lee",
            "active": true,
            format!("{ENTERPRISE}:employeeNumber"): "43",
        }}]),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"]["givenName"], "Anna");
    assert_eq!(renamed["displayName"], "Anna Lee");
    assert_eq!(renamed["active"], true);
    assert_eq!(app.user(&id).await.unwrap().name, "Anna Lee");
    let (_, mail) = patch_user(&app, &id, json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "anna@contoso.com"}])).await;
    assert_eq!(mail["emails"][0]["value"], "anna@contoso.com");
    assert_eq!(
        app.user(&id).await.unwrap().email.as_deref(),
        Some("anna@contoso.com")
    );

    // Hard delete in Entra: 204, then 404; the userName is free again.
    let (status, _, body) = app.scim("DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _, gone) = app.scim("GET", &format!("/Users/{id}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(gone["schemas"], json!([ERROR]));
    assert_eq!(gone["status"], "404");
    let none = find(&app, &format!("userName eq \"{name}\"")).await;
    assert_eq!(none["totalResults"], 0);
    let stored = app.user(&id).await.unwrap();
    assert!(stored.deleted_at.is_some(), "soft-deleted, restorable");
    let (status, _, again) = app.scim("POST", "/Users", Some(&entra_user(&name))).await;
    assert_eq!(
        status, 201,
        "the userName of a deleted user is free: {again}"
    );
    assert_ne!(again["id"], id.as_str());
}

#[tokio::test]
async fn okta_looks_up_creates_updates_and_deactivates() {
    let app = TestApp::new().await;
    let name = format!("okta.{}@example.com", &new_id()[..8]);
    let (status, _, lookup) = app
        .scim(
            "GET",
            &format!(
                "{}&startIndex=1&count=100",
                filter_path(&format!("userName eq \"{name}\""))
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(lookup["totalResults"], 0);
    let body = json!({
        "schemas": [CORE], "userName": name, "externalId": "00u1",
        "name": {"givenName": "Okta", "familyName": "User"},
        "emails": [{"primary": true, "value": name, "type": "work"}],
        "active": true, "password": "t1meMa$heen", "locale": "en-US", "groups": [],
    });
    let (status, _, created) = app.scim("POST", "/Users", Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("password").is_none());
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _, dup) = app.scim("POST", "/Users", Some(&body)).await;
    assert_eq!(status, 409, "{dup}");
    assert_eq!(dup["scimType"], "uniqueness");
    assert_eq!(dup["status"], "409");

    let (status, _, page) = app.scim("GET", "/Users?count=1&startIndex=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["Resources"].as_array().unwrap().len(), 1);
    assert_eq!(page["itemsPerPage"], 1);
    assert_eq!(page["totalResults"], 1);

    let mut replaced = body.clone();
    replaced["name"]["familyName"] = json!("Renamed");
    let (status, _, put) = app
        .scim("PUT", &format!("/Users/{id}"), Some(&replaced))
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["name"]["familyName"], "Renamed");
    let (status, off) = patch_user(
        &app,
        &id,
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["active"], false);

    // A bad token and an unknown id get SCIM Errors.
    let (status, headers, denied) = app
        .scim_as("GET", "/Users", None, Some("not-a-token"), &[])
        .await;
    assert_eq!(status, 401);
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(denied["status"], "401");
    assert!(denied["detail"].is_string());
    let (status, _, _) = app
        .scim_as("GET", "/Users", None, Some(&token(Some("viewer"))), &[])
        .await;
    assert_eq!(status, 403);
    let (status, _, missing) = app.scim("GET", "/Users/nonexistent-id-000000", None).await;
    assert_eq!(status, 404);
    assert!(missing["detail"].is_string());
}

#[tokio::test]
async fn a_user_read_by_id_costs_one_request_and_honours_if_match() {
    let app = TestApp::new().await;
    let (_, created) = post_user(&app, "ifmatch").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let before = app.calls.snapshot();
    let (status, headers, got) = app.scim("GET", &format!("/Users/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(app.calls_since(&before).to_string(), "BatchGetItem=1");
    let version = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(got["meta"]["version"], version.as_str());
    let body = json!({"schemas": [CORE], "userName": "ifmatch", "displayName": "One"});
    // The same PUT twice with the version first read: the second finds it stale.
    for expected in [200, 412] {
        let (status, _, answer) = app
            .scim_as(
                "PUT",
                &format!("/Users/{id}"),
                Some(&body),
                Some(&app.admin_token()),
                &[("if-match", &version)],
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
}

#[tokio::test]
async fn numbers_and_user_names_another_user_holds_are_409_uniqueness() {
    let app = TestApp::new().await;
    app.upsert(&list(vec![user(Some(&new_id()), "Card Owner", "4711")]))
        .await;
    let (status, _, body) = app
        .scim(
            "POST",
            "/Users",
            Some(&json!({"schemas": [CORE, ACCESS], "userName": "cards",
                          ACCESS: {"cards": ["4711"]}})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["scimType"], "uniqueness");
    assert!(body["detail"].as_str().unwrap().contains("4711"), "{body}");
    let (status, ann) = post_user(&app, "Ann").await;
    assert_eq!(status, 201);
    let (status, _) = post_user(&app, "ANN").await;
    assert_eq!(status, 409, "userName is unique without regard to case");
    let (_, bo) = post_user(&app, "Bo").await;
    let (status, _, clash) = app
        .scim(
            "PATCH",
            &format!("/Users/{}", bo["id"].as_str().unwrap()),
            Some(&patch(
                json!([{"op": "replace", "path": "userName", "value": "ann"}]),
            )),
        )
        .await;
    assert_eq!(status, 409, "{clash}");
    assert!(clash["detail"].as_str().unwrap().contains("userName"));
    assert_eq!(ann["userName"], "Ann");
}

#[tokio::test]
async fn discovery_documents_and_bad_requests_answer_in_scim() {
    let app = TestApp::new().await;
    let (status, headers, spc) = app.scim("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["maxOperations"], 1000);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let (_, _, schemas) = app.scim("GET", "/Schemas", None).await;
    assert_eq!(schemas["totalResults"], 2);
    let (status, _, core) = app.scim("GET", &format!("/Schemas/{CORE}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(core["attributes"][0]["name"], "userName");
    let (_, _, types) = app.scim("GET", "/ResourceTypes", None).await;
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    for (method, path, status) in [
        ("POST", "/ServiceProviderConfig", 405),
        ("DELETE", "/Schemas", 405),
        ("PUT", "/ResourceTypes", 405),
        ("GET", &format!("/Schemas/{}", new_id()), 404),
        ("GET", &format!("/ResourceTypes/{}", new_id()), 404),
        ("GET", &format!("/{}", new_id()), 404),
        ("GET", "/Groups", 404),
    ] {
        let (got, _, body) = app.scim(method, path, None).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert_eq!(body["schemas"], json!([ERROR]), "{method} {path}");
        assert_eq!(body["status"], status.to_string());
    }
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(20), ")".repeat(20));
    let long = vec!["id eq \"a\""; 1_000].join(" and ");
    for (path, scim_type) in [
        (filter_path("title eq \"x\""), "invalidFilter"),
        (filter_path("userName co \"x\""), "invalidFilter"),
        (filter_path(&deep), "invalidFilter"),
        (filter_path(&long), "invalidFilter"),
        ("/Users?count=100000".to_owned(), "invalidValue"),
        ("/Users?startIndex=-1".to_owned(), "invalidValue"),
    ] {
        let (status, _, body) = app.scim("GET", &path, None).await;
        assert_eq!(status, 400, "{}: {body}", &path[..path.len().min(60)]);
        assert_eq!(body["scimType"], scim_type);
    }
    // A 10,000-term filter (too long for a URL) in a search body.
    let huge = vec!["id eq \"a\""; 10_000].join(" and ");
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": huge});
    let (status, _, body) = app.scim("POST", "/.search", Some(&search)).await;
    assert_eq!(status, 400);
    assert_eq!(body["scimType"], "invalidFilter");
    let (_, created) = post_user(&app, "patchy").await;
    let id = created["id"].as_str().unwrap();
    for (body, scim_type) in [
        (json!({"not": "a scim resource"}), "invalidSyntax"),
        (json!({"schemas": [CORE]}), "invalidValue"),
    ] {
        let (status, _, err) = app.scim("POST", "/Users", Some(&body)).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["scimType"], scim_type);
    }
    let (status, err) = patch_user(
        &app,
        id,
        json!([{"op": "add", "path": "nickName", "value": "x"}]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["scimType"], "invalidPath");
    let (status, _, err) = app
        .scim_as(
            "POST",
            "/Users",
            None,
            Some(&app.admin_token()),
            &[("content-type", "application/scim+json")],
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["scimType"], "invalidSyntax");
}

#[tokio::test]
async fn bulk_runs_operations_in_order_with_bulk_id_references_batched() {
    let app = TestApp::new().await;
    let (_, existing) = post_user(&app, "old.one").await;
    let old = existing["id"].as_str().unwrap().to_owned();
    let mut ops: Vec<Value> = (0..150)
        .map(|i| {
            json!({"method": "POST", "bulkId": format!("b{i}"), "path": "/Users",
                   "data": {"schemas": [CORE], "userName": format!("bulk.{i}"),
                            "emails": [{"value": format!("bulk.{i}@x.io"), "type": "work"}]}})
        })
        .collect();
    ops.push(json!({"method": "PATCH", "path": "/Users/bulkId:b3",
                    "data": patch(json!([{"op": "replace", "path": "active", "value": false}]))}));
    ops.push(json!({"method": "PUT", "path": format!("/Users/{old}"),
                    "data": {"schemas": [CORE], "userName": "old.one", "displayName": "Renamed"}}));
    ops.push(json!({"method": "DELETE", "path": "/Users/bulkId:b4"}));
    ops.push(json!({"method": "POST", "bulkId": "dup", "path": "/Users",
                    "data": {"schemas": [CORE], "userName": "BULK.0"}}));
    ops.push(json!({"method": "PATCH", "path": "/Users/bulkId:nowhere", "data": patch(json!([]))}));
    ops.push(json!({"method": "GET", "path": "/Users"}));
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                      "Operations": ops});
    let before = app.calls.snapshot();
    let (status, _, answer) = app.scim("POST", "/Bulk", Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    let calls = app.calls_since(&before);
    let results = answer["Operations"].as_array().unwrap();
    assert_eq!(results.len(), 156);
    assert!(
        results[..150].iter().all(|r| r["status"] == "201"),
        "{answer}"
    );
    assert_eq!(results[0]["bulkId"], "b0");
    assert!(
        results[0]["location"]
            .as_str()
            .unwrap()
            .contains("/scim/v2/Users/")
    );
    assert_eq!(results[150]["status"], "200", "{}", results[150]);
    assert_eq!(results[151]["status"], "200");
    assert_eq!(results[152]["status"], "204");
    assert_eq!(results[153]["status"], "409");
    assert_eq!(results[153]["response"]["scimType"], "uniqueness");
    assert_eq!(results[154]["status"], "409");
    assert_eq!(results[155]["status"], "400");
    // Two waves (the creates, then the operations on created users), not one round trip
    // per operation.
    let transactions = calls.get("TransactWriteItems");
    assert!(transactions <= 12, "{calls}");
    let id3 = results[3]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(!app.user(&id3).await.unwrap().active);
    let id4 = results[4]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(app.user(&id4).await.unwrap().deleted_at.is_some());
    assert_eq!(app.user(&old).await.unwrap().name, "Renamed");
}

#[tokio::test]
async fn bulk_stops_after_fail_on_errors_and_refuses_oversized_requests() {
    let app = TestApp::with(api_tests::Options {
        vars: vec![("MAX_ITEMS_PER_REQUEST", "5".into())],
        ..Default::default()
    })
    .await;
    let post = |name: &str| {
        json!({"method": "POST", "bulkId": name, "path": "/Users",
               "data": {"schemas": [CORE], "userName": name}})
    };
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                      "failOnErrors": 1,
                      "Operations": [post("a"), post("A"), post("c")]});
    let (status, _, answer) = app.scim("POST", "/Bulk", Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["Operations"].as_array().unwrap();
    assert_eq!(
        results.len(),
        2,
        "stopped after the first failure: {answer}"
    );
    assert_eq!(results[1]["status"], "409");
    let c = find(&app, "userName eq \"c\"").await;
    assert_eq!(
        c["totalResults"], 0,
        "the operation after the stop did not run"
    );
    let many = json!({"Operations": (0..6).map(|i| post(&format!("m{i}"))).collect::<Vec<_>>()});
    let (status, _, err) = app.scim("POST", "/Bulk", Some(&many)).await;
    assert_eq!(status, 413, "{err}");
    assert_eq!(err["status"], "413");
}
