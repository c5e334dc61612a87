//! Least privilege, checked: each function's policy in `template.yaml` allows every
//! DynamoDB permission its requests need (transaction items included), and nothing its
//! requests never use. DynamoDB Local does not enforce IAM, so a missing permission
//! would otherwise surface only in production.

use std::collections::BTreeSet;
use std::time::Duration;

use api_tests::{TestApp, list, new_id, response_json, token, user};
use devctl::policy::{Grant, Target, function_grants};
use lambda_http::{Body, Request};
use serde_json::json;

fn assert_policy(binary: &str, used: &BTreeSet<Grant>) {
    let granted = function_grants(binary).expect("template policy");
    let show = |s: BTreeSet<&Grant>| s.into_iter().map(ToString::to_string).collect::<Vec<_>>();
    let missing = show(used.difference(&granted).collect());
    assert!(
        missing.is_empty(),
        "{binary} makes requests its policy does not allow: {missing:?}"
    );
    let unused = show(granted.difference(used).collect());
    assert!(
        unused.is_empty(),
        "{binary} is allowed what none of its requests here needed: {unused:?} (used: {used:?})"
    );
}

/// An admin request with a fresh `Idempotency-Key`.
fn keyed(method: &str, uri: &str, body: String) -> Request {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("x-auth-token", token(Some("admin")))
        .header("idempotency-key", new_id())
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn each_policy_allows_exactly_what_its_function_does() {
    let app = TestApp::new().await;
    let profile = app.add_time_profile().await;
    let ids: Vec<String> = (0..8).map(|_| new_id()).collect();
    let id = |i: usize| Some(ids[i].as_str());
    let mut upsert = BTreeSet::new();

    // upsert-users: creates with namesakes and a time profile, a plain update, a rename
    // away from a namesake with a changed card.
    let mut profiled = user(id(2), "Cy", "c2");
    profiled["time_profile_id"] = json!(profile);
    let (status, _) = app
        .upsert(&list(vec![
            user(id(0), "Ann", "c0"),
            user(id(1), "Ann", "c1"),
            profiled,
            user(id(3), "Dee", "c3"),
            user(id(4), "Eve", "c4"),
            user(id(5), "Eve", "c5"),
            user(id(6), "Fay", "c6"),
            user(id(7), "Gus", "c7"),
        ]))
        .await;
    assert_eq!(status, 200);
    let mut changed = user(id(2), "Cy", "c2");
    changed["info"] = json!("moved");
    app.upsert(&list(vec![changed])).await;
    app.upsert(&list(vec![user(id(1), "Bo", "c1-new")])).await;
    upsert.extend(app.iam.take());

    // delete-users: a user alone with its name, one leaving a namesake; with an
    // Idempotency-Key, as every HTTP function may be sent one.
    let body = json!({"link_ids": [ids[3], ids[4]]}).to_string();
    let resp = app.call(keyed("DELETE", "/api/v1/users/bulk", body)).await;
    assert_eq!(resp.status(), 200);
    assert_policy("delete-users", &app.iam.take());

    // upsert-users again: a new user takes over the deleted user's card.
    let (_, body) = app.upsert(&list(vec![user(None, "Hal", "c3")])).await;
    assert_eq!(body["result"][0]["extended_info"], "created", "{body}");
    upsert.extend(app.iam.take());
    assert_policy("upsert-users", &upsert);

    // delete-or-restore-users: soft delete and restore among namesakes.
    app.soft(&[&ids[0]], true, None).await;
    app.upsert(&list(vec![user(None, "Ann", "c0-twin")])).await;
    app.iam.take();
    app.soft(&[&ids[0]], false, Some(false)).await;
    let (status, _) = app.soft(&[&ids[0], &ids[6]], true, None).await;
    assert_eq!(status, 200);
    assert_policy("delete-or-restore-users", &app.iam.take());

    // delete-users-by-filter: every query plan, and a user leaving a namesake.
    let with = |name: &str, card: &str, field: &str, value: &str| {
        let mut u = user(Some(&new_id()), name, card);
        u[field] = json!(value);
        u
    };
    app.upsert(&list(vec![
        with("Ivy", "c8", "email", "ivy@x.io"),
        user(None, "Jo", "c9"),
        with("Kim", "c10", "user_type", "temp"),
        user(Some(&new_id()), "Kim", "c11"),
        with("Lee", "c12", "email", "lee@x.io"),
        user(Some(&new_id()), "Lee", "c13"),
        with("Max", "c14", "user_type", "gone"),
    ]))
    .await;
    app.iam.take();
    for query in [
        format!("user_id={}", ids[7]),
        "email=ivy%40x.io".to_owned(),
        "name=Jo".to_owned(),
        "name=Kim&user_type=temp".to_owned(),
        "user_type=gone".to_owned(),
    ] {
        let resp = app
            .call(keyed(
                "DELETE",
                &format!("/api/v1/users?{query}"),
                String::new(),
            ))
            .await;
        let (status, body) = response_json(resp);
        assert_eq!(status, 200, "{query}: {body}");
        assert_ne!(body["deleted"], 0, "{query}: {body}");
    }
    assert_policy("delete-users-by-filter", &app.iam.take());

    // cleanup-users: the purge and saved filters by e-mail and by scan.
    app.iam.take();
    app.backdate_soft_delete(&ids[6], Duration::from_secs(40 * 86_400))
        .await;
    let summary = app
        .cleanup(json!({"filters": [{"email": "lee@x.io"}, {"user_type": "none"}]}))
        .await
        .expect("clean-up");
    assert_eq!(summary["purged"], 1, "{summary}");
    assert_eq!(app.registry("Lee").await.len(), 1, "one Lee left");
    // Lambda itself sends a run that failed for good to the on-failure queue, with the
    // function's role: that queue, and no other, gets sqs:SendMessage.
    let mut used = app.iam.take();
    used.insert(Grant::new(
        "sqs:SendMessage",
        Target::Queue("CleanupFailureQueue".into()),
    ));
    assert_policy("cleanup-users", &used);

    // read-users: a user by id, listings by ids, name, e-mail and scan.
    app.iam.take();
    for uri in [
        format!("/api/v1/users/{}", ids[0]),
        format!("/api/v1/users?user_id={}", ids[0]),
        "/api/v1/users?name=Ann".to_owned(),
        "/api/v1/users?email=lee%40x.io&include_deleted=true".to_owned(),
        "/api/v1/users?limit=2".to_owned(),
    ] {
        let (status, body) = app.read(&uri).await;
        assert_eq!(status, 200, "{uri}: {body}");
    }
    assert_policy("read-users", &app.iam.take());

    // scim: keyed creates (one refused as taken), a takeover of a deleted user's card,
    // reads by id, userName, e-mail and scan, a PUT that changes the card (its claim
    // released), PATCH, DELETE.
    app.upsert(&list(vec![user(Some(&ids[7]), "Gone", "c-scim")]))
        .await;
    app.delete(&json!({"link_ids": [ids[7]]})).await;
    app.iam.take();
    let scim_user = |name: &str, card: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                           "urn:bulk-user-api:params:scim:schemas:extension:access:2.0:User"],
               "userName": name, "emails": [{"value": format!("{name}@x.io"), "type": "work"}],
               "urn:bulk-user-api:params:scim:schemas:extension:access:2.0:User": {"cards": [card]}})
    };
    let keyed_scim = |method: &str, path: &str, body: &serde_json::Value| {
        http::Request::builder()
            .method(method)
            .uri(format!("/scim/v2{path}"))
            .header("content-type", "application/scim+json")
            .header("authorization", format!("Bearer {}", token(Some("admin"))))
            .header("idempotency-key", new_id())
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let resp = app
        .call(keyed_scim("POST", "/Users", &scim_user("scimmy", "c-scim")))
        .await;
    let (status, created) = response_json(resp);
    assert_eq!(status, 201, "{created}");
    let resp = app
        .call(keyed_scim(
            "POST",
            "/Users",
            &scim_user("SCIMMY", "c-other"),
        ))
        .await;
    assert_eq!(resp.status(), 409);
    let id = created["id"].as_str().unwrap();
    for path in [
        format!("/Users/{id}"),
        "/Users?filter=userName%20eq%20%22scimmy%22".to_owned(),
        "/Users?filter=emails.value%20eq%20%22scimmy%40x.io%22".to_owned(),
        "/Users?filter=active%20eq%20true".to_owned(),
    ] {
        let (status, _, body) = app.scim("GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, _, _) = app
        .scim(
            "PUT",
            &format!("/Users/{id}"),
            Some(&scim_user("scimmy", "c-scim2")),
        )
        .await;
    assert_eq!(status, 200);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "displayName", "value": "S"}]});
    let (status, _, _) = app
        .scim("PATCH", &format!("/Users/{id}"), Some(&patch))
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = app.scim("DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    assert_policy("scim", &app.iam.take());
}
