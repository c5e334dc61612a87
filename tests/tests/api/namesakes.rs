//! A name carried by thousands of users. Its registry is one DynamoDB item (400 KB at
//! most), so it holds at most `MAX_NAMESAKES` users: one more namesake is refused item by
//! item (`too_many_namesakes`, nothing written), never as a failed request, and a holder
//! who leaves makes room again.

use api_tests::{TestApp, infos, list, new_id, user};
use serde_json::json;
use shared::service::MAX_NAMESAKES;

const NAME: &str = "Alex Common";

#[tokio::test]
async fn a_full_name_refuses_one_more_namesake_per_item_and_a_leaver_makes_room() {
    let app = TestApp::new().await;
    let holders = app.seed_namesakes(NAME, MAX_NAMESAKES).await;
    assert_eq!(app.registry(NAME).await.len(), MAX_NAMESAKES);

    let (newcomer, other) = (new_id(), new_id());
    let (status, body) = app
        .upsert(&list(vec![
            user(Some(&newcomer), NAME, "n-1"),
            user(Some(&other), "Sam Rare", "n-2"),
            json!({"name": NAME, "auth_factors": [{"type": "card", "number": "n-3"}]}),
            user(Some(&holders[7]), NAME, "n-4"),
        ]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"][0],
        json!({"link_id": newcomer, "success": false,
               "extended_info": "too_many_namesakes", "has_dublicates": true})
    );
    assert_eq!(
        infos(&body),
        ["too_many_namesakes", "created", "has_dublicates", "updated"],
        "the other items are unaffected: {body}"
    );
    assert!(app.user(&newcomer).await.is_none(), "nothing written");
    assert!(
        app.number_is_free("card", "n-1").await,
        "its card not claimed"
    );
    assert_eq!(app.registry(NAME).await.len(), MAX_NAMESAKES);

    // SCIM says the same as a 400 on the create.
    let (status, _, scim) = app
        .scim(
            "POST",
            "/Users",
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": new_id(),
                "displayName": NAME,
            })),
        )
        .await;
    assert_eq!(status, 400, "{scim}");
    assert_eq!(scim["scimType"], "invalidValue");

    // One holder deleted: the next namesake fits.
    let (status, body) = app.delete(&json!({"link_ids": [holders[0]]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(infos(&body), ["deleted"]);
    let (status, body) = app
        .upsert(&list(vec![user(Some(&newcomer), NAME, "n-1")]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0]["extended_info"], "created", "{body}");
    assert_eq!(body["result"][0]["has_dublicates"], true);
    let registry = app.registry(NAME).await;
    assert_eq!(registry.len(), MAX_NAMESAKES);
    assert!(registry.contains(&newcomer) && !registry.contains(&holders[0]));
}
