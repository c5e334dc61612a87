//! The `Result` answer in JSON: members in the contract's order, the fields this service
//! never fills as `null`.

use serde::Serialize;

use super::model::ResultBody;
use crate::domain::LinkId;

/// The JSON shape, members in the contract's order.
#[derive(Serialize)]
pub(super) struct JsonResult<'a> {
    messages: Vec<JsonMessage<'a>>,
    count_of_errors: usize,
    id: Option<()>,
    name: Option<&'a str>,
    data: Option<JsonData<'a>>,
    url: Option<&'a str>,
    text: Option<&'a str>,
    inner_exception: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonMessage<'a> {
    #[serde(rename = "type")]
    kind: i32,
    code: i32,
    message: &'a str,
    field: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonData<'a> {
    deleted: bool,
    ids: &'a [LinkId],
}

impl<'a> From<&'a ResultBody> for JsonResult<'a> {
    fn from(body: &'a ResultBody) -> Self {
        Self {
            messages: body
                .messages
                .iter()
                .map(|m| JsonMessage {
                    kind: m.kind,
                    code: m.code,
                    message: &m.message,
                    field: m.field.as_deref(),
                })
                .collect(),
            count_of_errors: body.count_of_errors,
            id: None,
            name: None,
            data: body.data.as_ref().map(|d| JsonData {
                deleted: d.deleted,
                ids: &d.ids,
            }),
            url: None,
            text: body.text.as_deref(),
            inner_exception: None,
        }
    }
}
