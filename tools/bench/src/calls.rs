//! How a pass calls its function: the event of each invocation and what its answer must
//! say. The bulk endpoints get one request per 1,000 users; the filter delete and the
//! purge are invoked again until they answer that nothing remains.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::error::WrongAnswer;
use crate::event::{HttpAnswer, HttpEvent, preview};
use crate::fixtures::{Population, Stage, User};

/// Route of the upsert and of the hard delete.
pub const BULK_PATH: &str = "/api/v1/users/bulk";
/// Route of the soft delete.
pub const SOFT_DELETE_PATH: &str = "/api/v1/users/bulk/delete";
/// Route of the filter delete.
pub const FILTER_PATH: &str = "/api/v1/users";
/// Route of SCIM Bulk.
pub const SCIM_BULK_PATH: &str = "/scim/v2/Bulk";
/// The core SCIM User schema.
const SCIM_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The product's SCIM extension (card numbers).
const SCIM_ACCESS: &str = "urn:bulk-user-api:params:scim:schemas:extension:access:2.0:User";

/// The invocations of one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `POST /api/v1/users/bulk` `{"list_items": [...]}`, one request per 1,000 users;
    /// every item must answer the stage's `extended_info`.
    Upsert(Stage),
    /// `DELETE /api/v1/users/bulk` `{"link_ids": [...]}`, one request per 1,000 users;
    /// every id must answer `deleted`.
    HardDelete,
    /// `POST /api/v1/users/bulk/delete` `{"ids": [...], "deleted": true}` (JSON), one
    /// request per 1,000 users; the `Result` must list every id.
    SoftDelete,
    /// `DELETE /api/v1/users?<param>=<value>` until `remaining: false`; the users deleted
    /// over the calls must be exactly the pass's.
    Filter {
        /// The query parameter.
        param: &'static str,
        /// Its value.
        value: String,
    },
    /// The clean-up's EventBridge rule input `{"purge": true, "retention_days": 0}`
    /// (everything soft-deleted before now) until `remaining: false`; `purged` must
    /// total the pass's users, with no failures.
    Purge,
    /// `POST /scim/v2/Bulk` with one POST operation per user (its name as `userName`
    /// and `displayName`, its card in the access extension), one request per 1,000
    /// users; every operation must answer 201.
    ScimCreate,
}

impl Call {
    /// Whether the call is one invocation per request of the population (else it is
    /// repeated until the function says nothing remains).
    pub fn per_request(&self) -> bool {
        matches!(
            self,
            Call::Upsert(_) | Call::HardDelete | Call::SoftDelete | Call::ScimCreate
        )
    }

    /// The event carrying `users` (the request's; unused by a repeated call).
    pub fn event(&self, users: &[User], token: &str) -> Value {
        let ids = || users.iter().map(|u| u.id.to_string()).collect::<Vec<_>>();
        match self {
            Call::Upsert(stage) => HttpEvent::json("POST", BULK_PATH, &upsert_body(users, *stage))
                .bearer(token)
                .to_event(),
            Call::HardDelete => HttpEvent::json("DELETE", BULK_PATH, &json!({ "link_ids": ids() }))
                .bearer(token)
                .to_event(),
            Call::SoftDelete => HttpEvent::json(
                "POST",
                SOFT_DELETE_PATH,
                &json!({ "ids": ids(), "deleted": true }),
            )
            .bearer(token)
            .to_event(),
            Call::Filter { param, value } => HttpEvent::new("DELETE", FILTER_PATH)
                .auth_token(token)
                .query(param, value)
                .to_event(),
            Call::Purge => json!({"purge": true, "retention_days": 0}),
            Call::ScimCreate => HttpEvent::json("POST", SCIM_BULK_PATH, &scim_bulk_body(users))
                .bearer(token)
                .to_event(),
        }
    }

    /// Checks the function's response to the event for `users`, counting what it
    /// handled into `tally`; returns whether the function says work remains.
    pub fn check(
        &self,
        response: &Value,
        users: &[User],
        tally: &mut Tally,
    ) -> Result<bool, WrongAnswer> {
        match self {
            Call::Upsert(stage) => check_results(
                &HttpAnswer::from_response(response)?,
                users,
                stage.expected(),
            )?,
            Call::HardDelete => {
                check_results(&HttpAnswer::from_response(response)?, users, "deleted")?
            }
            Call::SoftDelete => check_soft_deleted(&HttpAnswer::from_response(response)?, users)?,
            Call::Filter { .. } => {
                return check_filter_delete(&HttpAnswer::from_response(response)?, tally);
            }
            Call::Purge => return check_purge(response, tally),
            Call::ScimCreate => check_scim_created(&HttpAnswer::from_response(response)?, users)?,
        }
        Ok(false)
    }
}

/// A SCIM BulkRequest creating `users`.
pub fn scim_bulk_body(users: &[User]) -> Value {
    let ops: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({
                "method": "POST",
                "bulkId": format!("u{i}"),
                "path": "/Users",
                "data": {
                    "schemas": [SCIM_USER, SCIM_ACCESS],
                    "userName": u.name,
                    "displayName": u.name,
                    SCIM_ACCESS: {"cards": [u.card]},
                },
            })
        })
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": ops,
    })
}

/// Checks a BulkResponse: a 200 with one `201` per user, in order.
pub fn check_scim_created(answer: &HttpAnswer, users: &[User]) -> Result<(), WrongAnswer> {
    if answer.status != 200 {
        return Err(status(answer));
    }
    let results = answer.body["Operations"].as_array().ok_or_else(|| {
        WrongAnswer::Malformed(format!("no Operations: {}", preview(&answer.body)))
    })?;
    if results.len() != users.len() {
        return Err(WrongAnswer::Count {
            answered: results.len(),
            sent: users.len(),
        });
    }
    let mut by_status = BTreeMap::<String, usize>::new();
    let mut first = None;
    for (i, (r, u)) in results.iter().zip(users).enumerate() {
        let status = r["status"].as_str().unwrap_or("<missing>");
        if status != "201" {
            *by_status.entry(status.to_owned()).or_default() += 1;
            first.get_or_insert_with(|| format!("operation {i} ({}): {r}", u.name));
        }
    }
    if by_status.is_empty() {
        return Ok(());
    }
    Err(WrongAnswer::Items {
        wrong: by_status.values().sum(),
        sent: users.len(),
        expected: "201",
        by_info: by_status,
        first: first.unwrap_or_default(),
    })
}

/// `{"list_items": [...]}` for `users` in `stage`.
pub fn upsert_body(users: &[User], stage: Stage) -> Value {
    let items: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "link_id": u.id,
                "name": u.name,
                "info": stage.info(),
                "auth_factors": [{"type": "card", "number": u.card}],
            })
        })
        .collect();
    json!({ "list_items": items })
}

/// What the invocations of a repeated call handled so far.
#[derive(Debug)]
pub struct Tally {
    want: HashSet<String>,
    deleted: HashSet<String>,
    purged: usize,
}

impl Tally {
    /// Nothing handled yet of `population`.
    pub fn new(population: &Population) -> Self {
        Self {
            want: population.ids(),
            deleted: HashSet::new(),
            purged: 0,
        }
    }

    /// After the last invocation of a repeated call: it must have handled exactly the
    /// population.
    pub fn finish(&self, call: &Call, invocations: usize) -> Result<(), WrongAnswer> {
        let (verb, handled) = match call {
            Call::Purge => ("purged", self.purged),
            _ => ("deleted", self.deleted.len()),
        };
        if handled == self.want.len() {
            return Ok(());
        }
        Err(WrongAnswer::Total {
            verb,
            handled,
            invocations,
            expected: self.want.len(),
        })
    }
}

/// Checks a `{"result": [...]}` answer: a 200 with one entry per user, in order, each
/// naming its user with `success: true` and `extended_info` `expected`.
pub fn check_results(
    answer: &HttpAnswer,
    users: &[User],
    expected: &'static str,
) -> Result<(), WrongAnswer> {
    if answer.status != 200 {
        return Err(status(answer));
    }
    let results = answer.body["result"].as_array().ok_or_else(|| {
        WrongAnswer::Malformed(format!("no result array: {}", preview(&answer.body)))
    })?;
    if results.len() != users.len() {
        return Err(WrongAnswer::Count {
            answered: results.len(),
            sent: users.len(),
        });
    }
    let mut by_info = BTreeMap::<String, usize>::new();
    let mut first = None;
    for (i, (r, u)) in results.iter().zip(users).enumerate() {
        let info = r["extended_info"].as_str().unwrap_or("<missing>");
        let ok = info == expected
            && r["success"] == json!(true)
            && r["link_id"].as_str() == Some(u.id.to_string().as_str());
        if !ok {
            *by_info.entry(info.to_owned()).or_default() += 1;
            first.get_or_insert_with(|| format!("item {i} ({}): {r}", u.name));
        }
    }
    if by_info.is_empty() {
        return Ok(());
    }
    Err(WrongAnswer::Items {
        wrong: by_info.values().sum(),
        sent: users.len(),
        expected,
        by_info,
        first: first.unwrap_or_default(),
    })
}

/// Checks the `Result` of a soft delete: a 200, no messages, `count_of_errors` 0, `data`
/// `{"deleted": true, "ids": <the ids, in order>}`.
pub fn check_soft_deleted(answer: &HttpAnswer, users: &[User]) -> Result<(), WrongAnswer> {
    let b = &answer.body;
    if answer.status != 200 {
        return Err(status(answer));
    }
    if b["count_of_errors"] != json!(0) || b["messages"] != json!([]) {
        return Err(WrongAnswer::Summary(format!(
            "count_of_errors {} (first message: {}); expected 0",
            b["count_of_errors"], b["messages"][0]
        )));
    }
    if b["data"]["deleted"] != json!(true) {
        return Err(WrongAnswer::Summary(format!(
            "data.deleted is not true: {}",
            preview(b)
        )));
    }
    let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let answered: Vec<&str> = b["data"]["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if answered != ids.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(WrongAnswer::Summary(format!(
            "data.ids lists {} ids, not the {} ids sent in order: {}",
            answered.len(),
            ids.len(),
            preview(b)
        )));
    }
    Ok(())
}

/// Checks one answer of a filter delete: a 200 `success` summary, not a dry run, whose
/// `ids` are `deleted` users the filter matches and not deleted before, `matched` =
/// `deleted` + `not_deleted`, and `remaining` whenever some were not deleted.
fn check_filter_delete(answer: &HttpAnswer, tally: &mut Tally) -> Result<bool, WrongAnswer> {
    let b = &answer.body;
    let n = |k: &str| b[k].as_u64().map(|v| v as usize);
    let (Some(matched), Some(count), Some(not_deleted), Some(remaining)) = (
        n("matched"),
        n("deleted"),
        n("not_deleted"),
        b["remaining"].as_bool(),
    ) else {
        return Err(status(answer));
    };
    let ids: Vec<&str> = b["ids"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fine = answer.status == 200
        && b["success"] == json!(true)
        && b["dry_run"] == json!(false)
        && ids.len() == count
        && matched == count + not_deleted
        && (not_deleted == 0 || remaining);
    if !fine {
        return Err(status(answer));
    }
    for id in ids {
        if !tally.want.contains(id) {
            return Err(WrongAnswer::Stray {
                id: id.to_owned(),
                why: "which does not match",
            });
        }
        if !tally.deleted.insert(id.to_owned()) {
            return Err(WrongAnswer::Stray {
                id: id.to_owned(),
                why: "deleted twice",
            });
        }
    }
    Ok(remaining)
}

/// Checks one clean-up summary: `found`, `purged`, `failed` and `remaining` given, no
/// more purged than found, failures only with `remaining`, and no filters.
fn check_purge(summary: &Value, tally: &mut Tally) -> Result<bool, WrongAnswer> {
    let n = |k: &str| summary[k].as_u64().map(|v| v as usize);
    let (Some(found), Some(purged), Some(failed), Some(remaining)) = (
        n("found"),
        n("purged"),
        n("failed"),
        summary["remaining"].as_bool(),
    ) else {
        return Err(WrongAnswer::Malformed(format!(
            "not a clean-up summary: {}",
            preview(summary)
        )));
    };
    if purged > found || (failed > 0 && !remaining) || summary["filters"] != json!([]) {
        return Err(WrongAnswer::Summary(preview(summary)));
    }
    tally.purged += purged;
    Ok(remaining)
}

fn status(answer: &HttpAnswer) -> WrongAnswer {
    WrongAnswer::Status {
        status: answer.status,
        body: preview(&answer.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(results: Value) -> HttpAnswer {
        HttpAnswer {
            status: 200,
            body: json!({ "result": results }),
        }
    }

    fn result(u: &User, info: &str) -> Value {
        json!({"link_id": u.id.to_string(), "success": info != "not_processed",
               "extended_info": info, "has_dublicates": false})
    }

    fn response(status: u16, body: Value) -> Value {
        json!({"statusCode": status, "headers": {}, "body": body.to_string(), "isBase64Encoded": false})
    }

    #[test]
    fn the_upsert_request_carries_each_user_with_its_card() {
        let p = Population::new(1, 2, 1000);
        let body = upsert_body(&p.users, Stage::Update);
        let items = body["list_items"].as_array().unwrap();
        assert_eq!(items[1]["link_id"], json!(p.users[1].id.to_string()));
        assert_eq!(items[1]["name"], json!(p.users[1].name));
        assert_eq!(items[1]["info"], json!(Stage::Update.info()));
        assert_eq!(
            items[1]["auth_factors"][0]["number"],
            json!(p.users[1].card)
        );
    }

    #[test]
    fn only_the_expected_answer_for_every_item_passes() {
        let p = Population::new(1, 2, 1000);
        let good = results(json!([
            result(&p.users[0], "created"),
            result(&p.users[1], "created")
        ]));
        check_results(&good, &p.users, "created").unwrap();
        let e = check_results(&good, &p.users, "updated").unwrap_err();
        assert!(
            matches!(
                e,
                WrongAnswer::Items {
                    wrong: 2,
                    sent: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("2 of 2 items did not answer `updated`")
        );
        let partial = results(json!([
            result(&p.users[0], "created"),
            result(&p.users[1], "not_processed")
        ]));
        let e = check_results(&partial, &p.users, "created").unwrap_err();
        assert!(e.to_string().contains("not_processed"), "{e}");
        let short = results(json!([result(&p.users[0], "created")]));
        assert!(matches!(
            check_results(&short, &p.users, "created"),
            Err(WrongAnswer::Count {
                answered: 1,
                sent: 2
            })
        ));
        let refused = HttpAnswer {
            status: 401,
            body: json!({"error": "Log In"}),
        };
        assert!(matches!(
            check_results(&refused, &p.users, "created"),
            Err(WrongAnswer::Status { status: 401, .. })
        ));
    }

    #[test]
    fn a_hard_delete_answer_is_checked_id_by_id() {
        let p = Population::new(1, 2, 1000);
        let mut tally = Tally::new(&p);
        let ok = response(
            200,
            json!({"result": [result(&p.users[0], "deleted"), result(&p.users[1], "deleted")]}),
        );
        assert!(!Call::HardDelete.check(&ok, &p.users, &mut tally).unwrap());
        let one_missing = response(
            200,
            json!({"result": [result(&p.users[0], "deleted"), result(&p.users[1], "not_found")]}),
        );
        let e = Call::HardDelete
            .check(&one_missing, &p.users, &mut tally)
            .unwrap_err();
        assert!(e.to_string().contains("not_found"), "{e}");
    }

    #[test]
    fn a_soft_delete_must_list_every_id_in_order_without_errors() {
        let p = Population::new(1, 2, 1000);
        let ids: Vec<String> = p.users.iter().map(|u| u.id.to_string()).collect();
        let result = |ids: &[String], errors: usize| HttpAnswer {
            status: 200,
            body: json!({"messages": [], "count_of_errors": errors, "id": null, "name": null,
                         "data": {"deleted": true, "ids": ids}, "url": null, "text": "", "inner_exception": null}),
        };
        check_soft_deleted(&result(&ids, 0), &p.users).unwrap();
        assert!(check_soft_deleted(&result(&ids[..1], 0), &p.users).is_err());
        assert!(check_soft_deleted(&result(&ids, 1), &p.users).is_err());
    }

    #[test]
    fn a_filter_delete_must_delete_each_matching_user_once() {
        let p = Population::new(3, 3, 1000);
        let call = Call::Filter {
            param: "user_type",
            value: "v".into(),
        };
        let summary = |ids: &[&User], remaining: bool| {
            let ids: Vec<String> = ids.iter().map(|u| u.id.to_string()).collect();
            response(
                200,
                json!({"success": true, "dry_run": false, "matched": ids.len(),
                       "deleted": ids.len(), "not_deleted": 0, "remaining": remaining, "ids": ids}),
            )
        };
        let mut tally = Tally::new(&p);
        let first = summary(&[&p.users[0], &p.users[1]], true);
        assert!(call.check(&first, &[], &mut tally).unwrap());
        assert!(matches!(
            tally.finish(&call, 1).err(),
            Some(WrongAnswer::Total {
                handled: 2,
                expected: 3,
                ..
            })
        ));
        let again = summary(&[&p.users[1]], false);
        assert!(matches!(
            call.check(&again, &[], &mut tally),
            Err(WrongAnswer::Stray {
                why: "deleted twice",
                ..
            })
        ));
        let last = summary(&[&p.users[2]], false);
        assert!(!call.check(&last, &[], &mut tally).unwrap());
        assert!(tally.finish(&call, 3).is_ok());
        let other = Population::new(4, 1, 1000);
        let stray = summary(&[&other.users[0]], false);
        assert!(matches!(
            call.check(&stray, &[], &mut Tally::new(&p)),
            Err(WrongAnswer::Stray {
                why: "which does not match",
                ..
            })
        ));
    }

    #[test]
    fn purges_add_up_and_a_failure_must_leave_work_remaining() {
        let p = Population::new(2, 5, 1000);
        let mut tally = Tally::new(&p);
        let summary = |purged: usize, failed: usize, remaining: bool| {
            json!({"found": purged + failed, "purged": purged, "failed": failed,
                   "remaining": remaining, "filters": []})
        };
        assert!(
            Call::Purge
                .check(&summary(3, 1, true), &[], &mut tally)
                .unwrap()
        );
        assert!(
            !Call::Purge
                .check(&summary(2, 0, false), &[], &mut tally)
                .unwrap()
        );
        assert!(tally.finish(&Call::Purge, 2).is_ok());
        assert!(matches!(
            Call::Purge.check(&summary(1, 1, false), &[], &mut tally),
            Err(WrongAnswer::Summary(_))
        ));
        assert!(matches!(
            Call::Purge.check(&json!({"statusCode": 200}), &[], &mut tally),
            Err(WrongAnswer::Malformed(_))
        ));
    }
}
