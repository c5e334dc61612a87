//! `POST /api/v1/users/bulk/delete` (docs/contracts.md#soft-delete-and-restore): soft
//! delete and restore, JSON and XML.

use api_tests::{TestApp, XML_NS, infos, list, new_id, token, user, xml_body};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

#[tokio::test]
async fn soft_delete_marks_users_and_unknown_ids_become_messages() {
    let app = TestApp::new().await;
    let (a, b, unknown) = (new_id(), new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&a), "Ann", "1"),
        user(Some(&b), "Bob", "2"),
    ]))
    .await;
    let created = app.user(&a).await.unwrap();
    let (status, body) = app.soft(&[&a, &unknown, &b, &a], true, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["count_of_errors"], 1);
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    let m = &body["messages"][0];
    assert_eq!(
        (m["type"].clone(), m["code"].clone(), m["field"].clone()),
        (json!(1), json!(404), json!("ids[1]"))
    );
    assert_eq!(body["data"], json!({"deleted": true, "ids": [a, b]}));
    for key in ["id", "name", "url", "inner_exception"] {
        assert_eq!(body[key], json!(null), "{key}");
    }
    let deleted = app.user(&a).await.unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(deleted.deleted_by.as_deref(), Some("tester"));
    assert!(deleted.del_shard.is_some());
    assert_eq!(
        deleted.create_time, created.create_time,
        "the creation record is kept"
    );
    assert_eq!(deleted.created_by, created.created_by);
    assert!(deleted.version > created.version);
    assert_eq!(
        app.registry("Ann").await,
        vec![a.clone()],
        "still carries the name"
    );
    assert_eq!(
        app.owner_of("card", "1").await.as_deref(),
        Some(a.as_str()),
        "identifiers stay claimed"
    );

    let (status, restored) = app.soft(&[&a], false, None).await;
    assert_eq!(status, 200);
    assert_eq!(restored["count_of_errors"], 0);
    assert_eq!(restored["data"], json!({"deleted": false, "ids": [a]}));
    let back = app.user(&a).await.unwrap();
    assert!(back.deleted_at.is_none() && back.del_shard.is_none() && back.deleted_by.is_none());
    assert_eq!(app.registry("Ann").await, vec![a.clone()]);
}

#[tokio::test]
async fn repeating_a_delete_or_a_restore_is_harmless_and_writes_nothing() {
    let app = TestApp::new().await;
    let a = new_id();
    app.upsert(&list(vec![user(Some(&a), "Rep", "3")])).await;
    app.soft(&[&a], true, None).await;
    let version = app.user(&a).await.unwrap().version;
    let before = app.calls.snapshot();
    let (status, again) = app.soft(&[&a], true, None).await;
    assert_eq!((status, again["count_of_errors"].clone()), (200, json!(0)));
    assert_eq!(again["data"]["ids"], json!([a]));
    assert_eq!(app.calls_since(&before).get("TransactWriteItems"), 0);
    assert_eq!(app.user(&a).await.unwrap().version, version);
    app.soft(&[&a], false, None).await;
    let (_, again) = app.soft(&[&a], false, None).await;
    assert_eq!(again["count_of_errors"], 0);
}

#[tokio::test]
async fn state_sets_the_active_flag_on_delete_and_on_restore() {
    let app = TestApp::new().await;
    let a = new_id();
    app.upsert(&list(vec![user(Some(&a), "Flag", "4")])).await;
    app.soft(&[&a], true, Some(false)).await;
    assert!(!app.user(&a).await.unwrap().active);
    app.soft(&[&a], false, Some(true)).await;
    let u = app.user(&a).await.unwrap();
    assert!(u.active && u.is_live());
}

#[tokio::test]
async fn soft_deleted_users_leave_name_matching_and_duplicates_until_restored() {
    let app = TestApp::new().await;
    let (a, b, c) = (new_id(), new_id(), new_id());
    app.upsert(&list(vec![
        user(Some(&a), "Sam", "1"),
        user(Some(&b), "Sam", "2"),
    ]))
    .await;
    app.soft(&[&b], true, None).await;
    assert!(!app.user(&a).await.unwrap().name_dup);
    // Name matching now finds only the live Sam.
    let (_, matched) = app.upsert(&list(vec![user(None, "Sam", "1")])).await;
    assert_eq!(matched["result"][0]["link_id"], json!(a));
    assert_eq!(matched["result"][0]["has_dublicates"], false);
    app.upsert(&list(vec![user(Some(&c), "Sam", "3")])).await;
    // Restoring b brings a third Sam back: every one of them is a duplicate.
    app.soft(&[&b], false, None).await;
    for id in [&a, &b, &c] {
        assert!(app.user(id).await.unwrap().name_dup, "{id}");
    }
    assert_eq!(app.registry("Sam").await.len(), 3);
}

#[tokio::test]
async fn an_upsert_of_a_soft_deleted_user_updates_it_and_keeps_it_deleted() {
    let app = TestApp::new().await;
    let a = new_id();
    app.upsert(&list(vec![user(Some(&a), "Hidden", "5")])).await;
    app.soft(&[&a], true, None).await;
    let mut changed = user(Some(&a), "Hidden", "6");
    changed["info"] = json!("synced");
    let (_, body) = app.upsert(&list(vec![changed])).await;
    assert_eq!(infos(&body), ["updated"]);
    assert_eq!(body["result"][0]["has_dublicates"], false);
    let u = app.user(&a).await.unwrap();
    assert!(!u.is_live(), "restoring is an explicit operation");
    assert_eq!(u.info.as_deref(), Some("synced"));
    assert_eq!(app.owner_of("card", "6").await.as_deref(), Some(a.as_str()));
    assert_eq!(app.registry("Hidden").await, vec![a.clone()]);
    // ... and a live namesake is created next to it, not matched to it.
    let (_, other) = app.upsert(&list(vec![user(None, "Hidden", "7")])).await;
    assert_eq!(infos(&other), ["created"]);
    assert_ne!(other["result"][0]["link_id"], json!(a));
}

#[tokio::test]
async fn soft_deleted_users_are_found_through_the_sparse_index_only() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..12).map(|_| new_id()).collect();
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| user(Some(id), &format!("S{i}"), &format!("s{i}")))
        .collect();
    app.upsert(&list(items)).await;
    let gone: Vec<&str> = ids[..5].iter().map(String::as_str).collect();
    app.soft(&gone, true, None).await;
    let mut found = Vec::new();
    for shard in 0..shared::store::keys::DELETED_SHARDS {
        let out = app
            .raw
            .query()
            .table_name(&app.table)
            .index_name("deleted-index")
            .key_condition_expression("del_shard = :s")
            .expression_attribute_values(":s", AttributeValue::S(format!("DELETED#{shard}")))
            .send()
            .await
            .unwrap();
        found.extend(out.items().iter().map(|i| {
            i["pk"]
                .as_s()
                .unwrap()
                .trim_start_matches("USER#")
                .to_owned()
        }));
    }
    found.sort();
    let mut expected: Vec<String> = gone.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected);
}

/// Text of the first element with this local name (prefixed or not).
fn xml_text(xml: &str, name: &str) -> Option<String> {
    let start = [format!("<{name}>"), format!(":{name}>")]
        .iter()
        .filter_map(|tag| xml.find(tag.as_str()).map(|i| i + tag.len()))
        .min()?;
    let end = start + xml[start..].find('<')?;
    Some(xml[start..end].to_owned())
}

#[tokio::test]
async fn an_xml_request_is_answered_in_xml_unless_json_is_accepted() {
    let app = TestApp::new().await;
    let (a, unknown) = (new_id(), new_id());
    app.upsert(&list(vec![user(Some(&a), "Xml", "8")])).await;
    let (status, ctype, text) = app
        .delete_or_restore(
            &xml_body(&[&a, &unknown], true),
            Some("application/xml"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(ctype.starts_with("application/xml"), "{ctype}");
    assert!(text.contains(r#"<Result xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/UP.Core.Data">"#), "{text}");
    assert_eq!(xml_text(&text, "count_of_errors").as_deref(), Some("1"));
    assert_eq!(xml_text(&text, "field").as_deref(), Some("ids[1]"));
    assert_eq!(xml_text(&text, "guid").as_deref(), Some(a.as_str()));
    assert!(!app.user(&a).await.unwrap().is_live());

    let (status, ctype, text) = app
        .delete_or_restore(
            &xml_body(&[&a], false),
            Some("text/xml"),
            Some("application/json"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"], json!({"deleted": false, "ids": [a]}));
    assert!(app.user(&a).await.unwrap().is_live());
}

#[tokio::test]
async fn request_errors_answer_a_result_naming_the_field_and_write_nothing() {
    let app = TestApp::new().await;
    let a = new_id();
    app.upsert(&list(vec![user(Some(&a), "Safe", "9")])).await;
    let before = app.item_count().await;
    let version = app.user(&a).await.unwrap().version;
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><DeleteOrRestore {XML_NS}><deleted>true</deleted><ids><guid>{a}</guid></ids><state>&x;</state></DeleteOrRestore>"#
    );
    let cases: Vec<(String, &str, u16, Option<&str>)> = vec![
        (
            json!({"ids": [a]}).to_string(),
            "application/json",
            400,
            Some("deleted"),
        ),
        (
            json!({"ids": [], "deleted": true}).to_string(),
            "application/json",
            400,
            Some("ids"),
        ),
        (
            json!({"ids": [a, "x"], "deleted": true}).to_string(),
            "text/json",
            400,
            Some("ids[1]"),
        ),
        (
            json!({"ids": [a], "deleted": "yes"}).to_string(),
            "application/json",
            400,
            Some("deleted"),
        ),
        ("{".to_owned(), "application/json", 400, None),
        (
            "<DeleteOrRestore><deleted>true".to_owned(),
            "application/xml",
            400,
            None,
        ),
        (xxe, "application/xml", 400, None),
        (
            "ids=1".to_owned(),
            "application/x-www-form-urlencoded",
            415,
            None,
        ),
    ];
    for (body, ctype, status, field) in cases {
        let (got, _, text) = app
            .delete_or_restore(&body, Some(ctype), Some("application/json"))
            .await;
        assert_eq!(got, status, "{body} -> {text}");
        let result: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(result["count_of_errors"], 1, "{text}");
        assert_eq!(result["messages"][0]["code"], json!(status), "{text}");
        assert_eq!(result["messages"][0]["field"], json!(field), "{text}");
    }
    let ok = json!({"ids": [a], "deleted": true}).to_string();
    for (tok, status, message) in [
        (None, 401, "Log In"),
        (
            Some(token(Some("viewer"))),
            403,
            "Administrator rights required",
        ),
    ] {
        let (got, _, text) = app
            .delete_or_restore_as(&ok, Some("application/json"), None, tok.as_deref())
            .await;
        assert_eq!(got, status);
        let result: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(result["messages"][0]["message"], message);
    }
    assert_eq!(app.item_count().await, before);
    assert_eq!(
        app.user(&a).await.unwrap().version,
        version,
        "nothing was written"
    );
}

#[tokio::test]
async fn soft_deleting_1000_users_costs_batched_reads_and_packed_transactions() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
    let items = ids
        .iter()
        .enumerate()
        .map(|(i, id)| user(Some(id), &format!("Q{i}"), &format!("q{i}")))
        .collect();
    app.upsert(&list(items)).await;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let before = app.calls.snapshot();
    let (_, body) = app.soft(&refs, true, None).await;
    assert_eq!(body["count_of_errors"], 0);
    let calls = app.calls_since(&before);
    // The users: 10 reads; users alone with their name need no registry write: one
    // action each, 100 per transaction.
    assert_eq!(calls.get("BatchGetItem"), 10, "{calls}");
    assert_eq!(calls.get("TransactWriteItems"), 10, "{calls}");
    assert_eq!(calls.total(), 20, "{calls}");
}
