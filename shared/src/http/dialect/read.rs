//! The read API's answers (docs/contracts.md#read-users), in the `{"error": "..."}`
//! dialect of the upsert: a user as the upsert accepts it, plus what the server keeps
//! of it; a page as `{"items": [...], "next_cursor": ...}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use crate::domain::face_description;
use crate::http::dialect::plain;
use crate::http::error::RequestError;
use crate::http::pipeline::Dialect;
use crate::http::web::json_response;
use crate::metrics::Metrics;
use crate::store::calls::CallCounts;
use crate::store::records::{StoredFactor, UserRecord};

/// What a read answers.
#[derive(Debug)]
pub enum ReadAnswer {
    /// One user.
    User {
        /// The user.
        user: Box<UserRecord>,
        /// Whether face images are included.
        faces: bool,
    },
    /// A page of a listing.
    Page {
        /// The users, in the listing's order.
        users: Vec<UserRecord>,
        /// Where the next page starts (sealed); `None` on the last page.
        next_cursor: Option<String>,
        /// Whether face images are included.
        faces: bool,
    },
}

/// The dialect of the read API: `{"error": "<text>"}` for every refusal (404
/// `User not found`), the user or the page otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Read;

impl Dialect for Read {
    type Answer = ReadAnswer;

    fn negotiate(_req: &Request) -> (Self, Result<(), RequestError>) {
        (Read, Ok(()))
    }

    fn error(&self, err: &RequestError) -> Response<Body> {
        match err {
            RequestError::NotFound => {
                json_response(StatusCode::NOT_FOUND, &json!({ "error": "User not found" }))
            }
            other => plain::error(other),
        }
    }

    fn success(&self, answer: &ReadAnswer) -> Response<Body> {
        let body = match answer {
            ReadAnswer::User { user, faces } => user_json(user, *faces),
            ReadAnswer::Page {
                users,
                next_cursor,
                faces,
            } => json!({
                "items": users.iter().map(|u| user_json(u, *faces)).collect::<Vec<_>>(),
                "next_cursor": next_cursor,
            }),
        };
        json_response(StatusCode::OK, &body)
    }

    fn nothing_applied(&self, _answer: &ReadAnswer) -> bool {
        false
    }

    /// `users_returned`.
    fn metrics(&self, answer: &ReadAnswer, metrics: &mut Metrics) {
        let users = match answer {
            ReadAnswer::User { .. } => 1,
            ReadAnswer::Page { users, .. } => users.len(),
        };
        metrics.add_count("users_returned", users);
    }

    fn log_done(&self, operation: &str, answer: &ReadAnswer, calls: &CallCounts) {
        let (users, more) = match answer {
            ReadAnswer::User { .. } => (1, false),
            ReadAnswer::Page {
                users, next_cursor, ..
            } => (users.len(), next_cursor.is_some()),
        };
        tracing::info!(operation, users, more, dynamodb_calls = %calls, "{operation} done");
    }
}

/// A stored user as the upsert accepts it (absent optional fields as `null`), plus
/// `create_time`, `created_by`, `update_time`, `updated_by` and, while soft-deleted,
/// `deleted_at` and `deleted_by`. Faces are described (`format`, `bytes`, `sha256`);
/// their base64 `image` only when `faces`.
pub fn user_json(u: &UserRecord, faces: bool) -> Value {
    let factors: Vec<Value> = u
        .auth_factors
        .iter()
        .map(|f| match f {
            StoredFactor::Card { number } => json!({"type": "card", "number": number}),
            StoredFactor::Pin { number } => json!({"type": "pin", "number": number}),
            StoredFactor::Face { image } => {
                let mut face = Map::from_iter([("type".to_owned(), json!("face"))]);
                face.extend(face_description(image));
                if faces {
                    face.insert("image".into(), json!(STANDARD.encode(image)));
                }
                Value::Object(face)
            }
        })
        .collect();
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    put("link_id", json!(u.link_id));
    put("name", json!(u.name));
    put("info", json!(u.info));
    put("email", json!(u.email));
    put("role_id", json!(u.role_id));
    put("user_type", json!(u.user_type));
    put("active", json!(u.active));
    put("auth_factors", Value::Array(factors));
    put("time_profile_id", json!(u.time_profile_id));
    put("is_online", json!(u.is_online));
    put("login_ip", json!(u.login_ip));
    put("last_login_time", json!(u.last_login_time));
    put("create_time", json!(u.create_time));
    put("created_by", json!(u.created_by));
    put("update_time", json!(u.update_time));
    put("updated_by", json!(u.updated_by));
    if let Some(at) = &u.deleted_at {
        put("deleted_at", json!(at));
        put("deleted_by", json!(u.deleted_by));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LinkId;

    #[test]
    fn a_user_reads_as_the_upsert_writes_it_with_faces_described() {
        let mut u = UserRecord::for_tests(LinkId::new_random(), "Ann", Vec::new());
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        u.auth_factors = vec![
            StoredFactor::Card {
                number: "4711".into(),
            },
            StoredFactor::Face { image: png.clone() },
        ];
        let v = user_json(&u, false);
        assert_eq!(v["link_id"], json!(u.link_id));
        assert_eq!(
            v["auth_factors"][0],
            json!({"type": "card", "number": "4711"})
        );
        let face = &v["auth_factors"][1];
        assert_eq!(face["format"], "png");
        assert_eq!(face["bytes"], png.len());
        assert_eq!(face["sha256"].as_str().unwrap().len(), 64);
        assert!(face.get("image").is_none());
        assert_eq!(v["email"], Value::Null);
        assert!(
            v.get("deleted_at").is_none(),
            "live users have no deleted_at"
        );
        let with = user_json(&u, true);
        assert_eq!(with["auth_factors"][1]["image"], STANDARD.encode(&png));
        u.deleted_at = Some("2026-01-01T00:00:00.000Z".into());
        u.deleted_by = Some("ops".into());
        let v = user_json(&u, false);
        assert_eq!(v["deleted_at"], "2026-01-01T00:00:00.000Z");
        assert_eq!(v["deleted_by"], "ops");
    }

    #[test]
    fn a_missing_user_is_the_read_apis_own_text() {
        let r = Read.error(&RequestError::NotFound);
        assert_eq!(r.status(), 404);
        let body: Value = serde_json::from_slice(r.body().as_ref()).unwrap();
        assert_eq!(body, json!({"error": "User not found"}));
        let r = Read.error(&RequestError::Forbidden);
        assert_eq!(r.status(), 403);
    }
}
