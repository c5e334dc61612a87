//! Matching and applying users (docs/contracts.md#upsert-users and the design's matching
//! rules).

use api_tests::{Options, TestApp, infos, list, new_id, user};
use base64::Engine;
use serde_json::json;

#[tokio::test]
async fn users_with_new_ids_are_created_then_updated_with_their_fields_stored() {
    let app = TestApp::new().await;
    let id = new_id();
    let mut u = user(Some(&id), "Ann Lee", "1001");
    u["info"] = json!("badge 7");
    u["email"] = json!("ann@example.com");
    u["active"] = json!(false);
    u["login_ip"] = json!("10.1.2.3");
    u["last_login_time"] = json!("2026-02-04T02:49:44+01:00");
    let (status, body) = app.upsert(&list(vec![u.clone()])).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"result": [{"link_id": id, "success": true, "extended_info": "created", "has_dublicates": false}]})
    );
    let stored = app.user(&id).await.expect("stored");
    assert_eq!(stored.name, "Ann Lee");
    assert_eq!(stored.info.as_deref(), Some("badge 7"));
    assert!(!stored.active);
    assert_eq!(stored.login_ip.as_deref(), Some("10.1.2.3"));
    assert_eq!(
        stored.last_login_time.as_deref(),
        Some("2026-02-04T01:49:44.000Z")
    );
    assert_eq!(stored.created_by, "tester");
    assert_eq!(stored.version, 1);
    assert_eq!(
        app.owner_of("card", "1001").await.as_deref(),
        Some(id.as_str())
    );

    u["info"] = json!("badge 8");
    let (_, body) = app.upsert(&list(vec![u])).await;
    assert_eq!(infos(&body), ["updated"]);
    let updated = app.user(&id).await.unwrap();
    assert_eq!(updated.info.as_deref(), Some("badge 8"));
    assert_eq!(
        updated.create_time, stored.create_time,
        "creation time is kept"
    );
    assert_eq!(updated.version, 2);
}

#[tokio::test]
async fn a_user_without_id_gets_a_server_uuid_and_is_matched_by_name_later() {
    let app = TestApp::new().await;
    let (_, body) = app.upsert(&list(vec![user(None, "Visitor", "55")])).await;
    assert_eq!(infos(&body), ["created"]);
    let id = body["result"][0]["link_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let mut again = user(None, "Visitor", "56");
    again["info"] = json!("second visit");
    let (_, body) = app.upsert(&list(vec![again])).await;
    assert_eq!(infos(&body), ["updated"]);
    assert_eq!(body["result"][0]["link_id"], json!(id));
    let stored = app.user(&id).await.unwrap();
    assert_eq!(stored.info.as_deref(), Some("second visit"));
    assert_eq!(
        app.owner_of("card", "55").await,
        None,
        "the replaced card is freed"
    );
    assert_eq!(
        app.owner_of("card", "56").await.as_deref(),
        Some(id.as_str())
    );
}

#[tokio::test]
async fn duplicates_inside_one_request_apply_in_request_order() {
    let app = TestApp::new().await;
    let id = new_id();
    let mut second = user(Some(&id), "Dup", "2");
    second["info"] = json!("last wins");
    let body = list(vec![
        user(Some(&id), "Dup", "1"),
        user(None, "Walk-in", "3"),
        second,
        user(None, "Walk-in", "4"),
    ]);
    let (_, answer) = app.upsert(&body).await;
    assert_eq!(infos(&answer), ["created", "created", "updated", "updated"]);
    let r = answer["result"].as_array().unwrap();
    assert_eq!(r[0]["link_id"], r[2]["link_id"]);
    assert_eq!(r[1]["link_id"], r[3]["link_id"]);
    let stored = app.user(&id).await.unwrap();
    assert_eq!(stored.info.as_deref(), Some("last wins"));
    assert_eq!(stored.version, 2);
    assert_eq!(app.owner_of("card", "1").await, None);
    assert_eq!(
        app.owner_of("card", "2").await.as_deref(),
        Some(id.as_str())
    );
}

#[tokio::test]
async fn several_users_with_a_name_make_name_matching_answer_has_dublicates() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    let (_, first) = app.upsert(&list(vec![user(Some(&a), "Sam", "1")])).await;
    assert_eq!(first["result"][0]["has_dublicates"], false);
    let (_, second) = app.upsert(&list(vec![user(Some(&b), "Sam", "2")])).await;
    assert_eq!(second["result"][0]["has_dublicates"], true);
    assert_eq!(app.registry("Sam").await.len(), 2);

    // Without an id the name matches two users: nothing is applied.
    let before = app.item_count().await;
    let (_, ambiguous) = app.upsert(&list(vec![user(None, "Sam", "3")])).await;
    assert_eq!(
        ambiguous,
        json!({"result": [{"link_id": null, "success": false, "extended_info": "has_dublicates", "has_dublicates": true}]})
    );
    assert_eq!(app.item_count().await, before);
    assert_eq!(app.owner_of("card", "3").await, None);

    // The first user learns of the second one without any name lookup.
    let (_, again) = app.upsert(&list(vec![user(Some(&a), "Sam", "1")])).await;
    assert_eq!(again["result"][0]["extended_info"], "updated");
    assert_eq!(again["result"][0]["has_dublicates"], true);
}

#[tokio::test]
async fn renaming_a_user_away_clears_has_dublicates_of_the_one_left() {
    let app = TestApp::new().await;
    let (a, b) = (new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&a), "Kim", "1"),
        user(Some(&b), "Kim", "2"),
    ]))
    .await;
    assert!(app.user(&a).await.unwrap().name_dup);
    let (_, renamed) = app
        .upsert(&list(vec![user(Some(&b), "Kimberly", "2")]))
        .await;
    assert_eq!(renamed["result"][0]["has_dublicates"], false);
    assert!(!app.user(&a).await.unwrap().name_dup);
    assert_eq!(app.registry("Kim").await, vec![a.clone()]);
    assert_eq!(app.registry("Kimberly").await, vec![b.clone()]);
    let (_, body) = app.upsert(&list(vec![user(None, "Kim", "1")])).await;
    assert_eq!(infos(&body), ["updated"]);
    assert_eq!(body["result"][0]["link_id"], json!(a));
    assert_eq!(body["result"][0]["has_dublicates"], false);
}

#[tokio::test]
async fn omitted_fields_keep_their_value_and_null_clears_them() {
    let app = TestApp::new().await;
    let id = new_id();
    let mut u = user(Some(&id), "Lee", "9");
    u["email"] = json!("lee@example.com");
    u["role_id"] = json!("guard");
    u["active"] = json!(false);
    app.upsert(&list(vec![u])).await;
    let mut partial = user(Some(&id), "Lee", "9");
    partial["email"] = json!(null);
    app.upsert(&list(vec![partial])).await;
    let stored = app.user(&id).await.unwrap();
    assert_eq!(stored.email, None);
    assert_eq!(stored.role_id.as_deref(), Some("guard"));
    assert!(!stored.active, "an omitted active flag keeps its value");
}

#[tokio::test]
async fn a_bound_time_profile_must_exist() {
    let app = TestApp::new().await;
    let profile = app.add_time_profile().await;
    let (ok_id, bad_id) = (new_id(), new_id());
    let mut ok = user(Some(&ok_id), "Ok", "1");
    ok["time_profile_id"] = json!(profile);
    let mut bad = user(Some(&bad_id), "Bad", "2");
    bad["time_profile_id"] = json!(uuid::Uuid::new_v4());
    let (_, body) = app.upsert(&list(vec![bad, ok])).await;
    assert_eq!(infos(&body), ["bound_time_profile_doesnt_exist", "created"]);
    assert_eq!(body["result"][0]["success"], false);
    assert_eq!(body["result"][0]["link_id"], json!(bad_id));
    assert!(app.user(&bad_id).await.is_none());
    assert_eq!(app.owner_of("card", "2").await, None);
    assert_eq!(
        app.user(&ok_id).await.unwrap().time_profile_id,
        Some(profile)
    );
}

fn png() -> String {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend_from_slice(&[0u8; 64]);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn with_faces(id: &str, name: &str, faces: Vec<String>, cards: &[&str]) -> serde_json::Value {
    let mut factors: Vec<_> = cards
        .iter()
        .map(|c| json!({"type": "card", "number": c}))
        .collect();
    factors.extend(
        faces
            .into_iter()
            .map(|f| json!({"type": "face", "image": f})),
    );
    json!({"link_id": id, "name": name, "auth_factors": factors})
}

#[tokio::test]
async fn item_checks_fail_only_their_item() {
    let app = TestApp::with(Options {
        vars: vec![
            ("MAX_IDENTIFIERS_PER_USER", "2".into()),
            ("MAX_FACE_IDENTIFIERS_PER_USER", "1".into()),
        ],
        ..Default::default()
    })
    .await;
    let ids: Vec<String> = (0..5).map(|_| new_id()).collect();
    let jpeg_text = base64::engine::general_purpose::STANDARD.encode(b"GIF89a not a jpeg");
    let body = list(vec![
        with_faces(&ids[0], "Face ok", vec![png()], &["1"]),
        with_faces(&ids[1], "Not base64", vec!["%%%".into()], &["2"]),
        with_faces(&ids[2], "Not an image", vec![jpeg_text], &["3"]),
        with_faces(&ids[3], "Two faces", vec![png(), png()], &["4"]),
        with_faces(&ids[4], "Three cards", vec![], &["5", "6", "7"]),
    ]);
    let (status, answer) = app.upsert(&body).await;
    assert_eq!(status, 200);
    assert_eq!(
        infos(&answer),
        [
            "created",
            "bad_base_64_image_file",
            "bad_base_64_image_file",
            "number_of_face_identifiers_exceeded",
            "number_of_identifiers_exceeded"
        ]
    );
    let stored = app.user(&ids[0]).await.unwrap();
    assert!(stored.auth_factors.iter().any(|f| matches!(f, shared::store::records::StoredFactor::Face { image } if image.starts_with(b"\x89PNG"))));
    for id in &ids[1..] {
        assert!(app.user(id).await.is_none(), "a failed item writes nothing");
    }
    for card in ["2", "3", "4", "5", "6", "7"] {
        assert_eq!(app.owner_of("card", card).await, None);
    }
}

#[tokio::test]
async fn faces_are_refused_when_face_support_is_off() {
    let app = TestApp::with(Options {
        vars: vec![("FACE_ID_ENABLED", "false".into())],
        ..Default::default()
    })
    .await;
    let (a, b) = (new_id(), new_id());
    let body = list(vec![
        with_faces(&a, "A", vec![png()], &["1"]),
        user(Some(&b), "B", "2"),
    ]);
    let (_, answer) = app.upsert(&body).await;
    assert_eq!(infos(&answer), ["face_id_not_supported", "created"]);
    assert_eq!(answer["result"][0]["link_id"], json!(a));
}

#[tokio::test]
async fn refused_items_still_report_name_duplicates_truthfully() {
    let app = TestApp::with(Options {
        vars: vec![("FACE_ID_ENABLED", "false".into())],
        ..Default::default()
    })
    .await;
    app.upsert(&list(vec![user(Some(&new_id()), "Pat", "1")]))
        .await;
    let body = list(vec![with_faces(&new_id(), "Pat", vec![png()], &["2"])]);
    let (_, answer) = app.upsert(&body).await;
    assert_eq!(
        answer["result"][0]["extended_info"],
        "face_id_not_supported"
    );
    assert_eq!(answer["result"][0]["has_dublicates"], true);
}
