//! The `Result` dialect (docs/contracts.md#result-dialect): every answer of
//! `POST api/v1/users/bulk/delete` is a `Result` object, in JSON or in the contract's
//! data-contract XML, whichever the client reads.
//!
//! Field names, member order and XML namespaces are the contract's; `id`, `name`, `url`
//! and `inner_exception` exist in the contract but this service never fills them.

mod json;
mod model;
mod xml;

use http::StatusCode;
use lambda_http::{Body, Request, Response};

pub use model::{
    MESSAGE_ERROR, ResultBody, ResultData, ResultMessage, error_message, removal_result,
};

use crate::http::error::RequestError;
use crate::http::negotiate::{Format, response_format};
use crate::http::pipeline::Dialect;
use crate::http::web::{self, json_response, with_body};
use crate::metrics::Metrics;
use crate::store::calls::CallCounts;

/// The answer in the given format, with status.
pub fn respond(status: StatusCode, body: &ResultBody, format: Format) -> Response<Body> {
    match format {
        Format::Json => json_response(status, &json::JsonResult::from(body)),
        Format::Xml => with_body(status, xml::CONTENT_TYPE, xml::to_xml(body)),
    }
}

/// A request-level error as a `Result`: status `err.status()`, one message (type 1, code =
/// the HTTP status number, message, field), count_of_errors 1, data null.
///
/// `format` is both the body's format (it names "JSON" or "XML" in body errors) and the
/// answer's; use [`request_error_in`] when they differ.
pub fn request_error(err: &RequestError, format: Format) -> Response<Body> {
    request_error_in(err, format, format)
}

/// [`request_error`] for a body read as `body` and an answer written as `answer` (a client
/// may send XML and `Accept: application/json`; the message still says "Wrong XML body").
pub fn request_error_in(err: &RequestError, body: Format, answer: Format) -> Response<Body> {
    let result = ResultBody {
        messages: vec![error_message(err, body)],
        count_of_errors: 1,
        data: None,
        text: None,
    };
    web::with_retry_after(respond(err.status(), &result, answer))
}

/// The `Result` dialect of the soft delete and restore: bodies in JSON or XML (by
/// `Content-Type`, JSON when absent), answers in JSON or XML (by `Accept`, else the
/// body's format); every answer, refusals included, is a `Result`.
#[derive(Clone, Copy, Debug)]
pub struct ResultDialect {
    /// The request body's format (it names "JSON" or "XML" in body errors).
    pub body: Format,
    /// The answer's format.
    pub answer: Format,
}

impl Dialect for ResultDialect {
    type Answer = ResultBody;

    fn negotiate(req: &Request) -> (Self, Result<(), RequestError>) {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let accept = header(http::header::ACCEPT);
        let body = match header(http::header::CONTENT_TYPE) {
            None => Some(Format::Json),
            Some(ct) => Format::from_content_type(ct),
        };
        match body {
            Some(body) => {
                let answer = response_format(accept, body);
                (Self { body, answer }, Ok(()))
            }
            None => {
                let answer = response_format(accept, Format::Json);
                let dialect = Self {
                    body: answer,
                    answer,
                };
                (dialect, Err(RequestError::UnsupportedMediaType))
            }
        }
    }

    fn error(&self, err: &RequestError) -> Response<Body> {
        request_error_in(err, self.body, self.answer)
    }

    fn success(&self, body: &ResultBody) -> Response<Body> {
        respond(StatusCode::OK, body, self.answer)
    }

    fn nothing_applied(&self, body: &ResultBody) -> bool {
        body.nothing_confirmed()
    }

    /// `items` (ids sent), `items_applied`, `items_not_found`, `items_not_processed`.
    fn metrics(&self, body: &ResultBody, metrics: &mut Metrics) {
        let code = |c| body.messages.iter().filter(|m| m.code == c).count();
        let applied = body.data.as_ref().map_or(0, |d| d.ids.len());
        metrics
            .add_count("items_applied", applied)
            .add_count("items_not_found", code(404))
            .add_count("items_not_processed", code(503))
            .add_count("items", applied + body.count_of_errors);
    }

    fn log_done(&self, operation: &str, body: &ResultBody, calls: &CallCounts) {
        let applied = body.data.as_ref().map_or(0, |d| d.ids.len());
        tracing::info!(
            operation,
            applied,
            errors = body.count_of_errors,
            dynamodb_calls = %calls,
            "{operation} done"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;
    use crate::domain::json::BodyError;
    use crate::domain::json::JsonPath;
    use crate::testing::{A, B, id};
    use quick_xml::Reader;
    use quick_xml::events::Event;
    use serde_json::{Value, json};
    use xml::{ARRAYS_NAMESPACE, RESULT_NAMESPACE, XSI_NAMESPACE};

    fn json_body(r: &Response<Body>) -> Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    fn text_body(r: &Response<Body>) -> String {
        String::from_utf8(r.body().as_ref().to_vec()).unwrap()
    }

    /// An element read back from the XML answer.
    #[derive(Debug, Default)]
    struct Node {
        name: String,
        attrs: Vec<(String, String)>,
        text: String,
        children: Vec<Node>,
    }

    impl Node {
        fn child(&self, name: &str) -> &Node {
            self.children
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no <{name}> in <{}>", self.name))
        }

        fn names(&self) -> Vec<&str> {
            self.children.iter().map(|c| c.name.as_str()).collect()
        }

        fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }

        fn is_nil(&self) -> bool {
            self.attr("i:nil") == Some("true") && self.children.is_empty() && self.text.is_empty()
        }
    }

    fn node_of(e: &quick_xml::events::BytesStart<'_>) -> Node {
        Node {
            name: e.name().as_ref().to_owned(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        a.key.as_ref().to_owned(),
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned(),
                    )
                })
                .collect(),
            ..Node::default()
        }
    }

    /// Parses an answer with quick-xml (all checks on) into its root element.
    fn parse_xml(xml: &str) -> Node {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().enable_all_checks(true);
        let mut stack: Vec<Node> = vec![Node::default()];
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => stack.push(node_of(&e)),
                Event::Empty(e) => {
                    let n = node_of(&e);
                    stack.last_mut().unwrap().children.push(n);
                }
                Event::End(_) => {
                    let n = stack.pop().unwrap();
                    stack.last_mut().unwrap().children.push(n);
                }
                Event::Text(t) => stack.last_mut().unwrap().text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    let c = match r.resolve_char_ref().unwrap() {
                        Some(c) => c,
                        None => match &*r {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => panic!("unexpected entity {other}"),
                        },
                    };
                    stack.last_mut().unwrap().text.push(c);
                }
                Event::Decl(_) => {}
                Event::Eof => break,
                other => panic!("unexpected event {other:?}"),
            }
        }
        let mut doc = stack.pop().unwrap();
        assert!(stack.is_empty());
        assert_eq!(doc.children.len(), 1, "one root element");
        doc.children.pop().unwrap()
    }

    fn check_root(root: &Node) {
        assert_eq!(root.name, "Result");
        assert_eq!(root.attr("xmlns:i"), Some(XSI_NAMESPACE));
        assert_eq!(root.attr("xmlns"), Some(RESULT_NAMESPACE));
        assert_eq!(
            root.names(),
            [
                "count_of_errors",
                "data",
                "id",
                "inner_exception",
                "messages",
                "name",
                "text",
                "url"
            ]
        );
        for null in ["id", "inner_exception", "name", "url"] {
            assert!(root.child(null).is_nil(), "{null} is nil");
        }
    }

    fn error_cases() -> Vec<(RequestError, u16, &'static str, Option<&'static str>)> {
        vec![
            (
                RequestError::Body(BodyError::Malformed),
                400,
                "Wrong JSON body",
                None,
            ),
            (
                RequestError::Body(BodyError::Missing(JsonPath::root("deleted"))),
                400,
                "Wrong JSON body: no value for `deleted`",
                Some("deleted"),
            ),
            (
                RequestError::Body(BodyError::WrongType(JsonPath::root("ids").index(1))),
                400,
                "Wrong JSON body: value `ids[1]` was of the wrong type",
                Some("ids[1]"),
            ),
            (
                RequestError::EmptyList,
                400,
                "List cannot be empty",
                Some("ids"),
            ),
            (
                RequestError::TooManyItems { max: 1000 },
                400,
                "List cannot contain more than 1000 items",
                Some("ids"),
            ),
            (
                RequestError::BodyTooLarge { max: 10 },
                400,
                "Request body cannot be larger than 10 bytes",
                None,
            ),
            (
                RequestError::Unauthenticated(AuthError::Expired),
                401,
                "Log In",
                None,
            ),
            (
                RequestError::Forbidden,
                403,
                "Administrator rights required",
                None,
            ),
            (
                RequestError::Unavailable,
                503,
                "Service temporarily unavailable, try again later",
                None,
            ),
            (
                RequestError::UnsupportedMediaType,
                415,
                "Unsupported content type",
                None,
            ),
            (
                RequestError::EmptyAuthFactors,
                400,
                "auth_factors must contain at least one item",
                None,
            ),
        ]
    }

    #[test]
    fn request_errors_in_json() {
        for (err, status, message, field) in error_cases() {
            let r = request_error(&err, Format::Json);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()["content-type"], "application/json");
            assert_eq!(
                json_body(&r),
                json!({
                    "messages": [{"type": 1, "code": status, "message": message, "field": field}],
                    "count_of_errors": 1,
                    "id": null,
                    "name": null,
                    "data": null,
                    "url": null,
                    "text": null,
                    "inner_exception": null
                })
            );
        }
    }

    #[test]
    fn request_errors_in_xml() {
        for (err, status, message, field) in error_cases() {
            let r = request_error(&err, Format::Xml);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(
                r.headers()["content-type"],
                "application/xml; charset=utf-8"
            );
            let root = parse_xml(&text_body(&r));
            check_root(&root);
            assert_eq!(root.child("count_of_errors").text, "1");
            assert!(root.child("data").is_nil());
            assert!(root.child("text").is_nil());
            let messages = root.child("messages");
            assert_eq!(messages.names(), ["ResultMessage"]);
            let m = messages.child("ResultMessage");
            assert_eq!(m.names(), ["code", "field", "message", "type"]);
            assert_eq!(m.child("code").text, status.to_string());
            assert_eq!(m.child("type").text, "1");
            let expected = message.replacen("JSON", "XML", 1);
            assert_eq!(m.child("message").text, expected);
            match field {
                Some(f) => assert_eq!(m.child("field").text, f),
                None => assert!(m.child("field").is_nil()),
            }
        }
    }

    #[test]
    fn body_errors_name_the_body_format_not_the_answer_format() {
        let err = RequestError::Body(BodyError::Missing(JsonPath::root("ids")));
        let r = request_error_in(&err, Format::Xml, Format::Json);
        assert_eq!(
            json_body(&r)["messages"][0]["message"],
            "Wrong XML body: no value for `ids`"
        );
        assert_eq!(
            error_message(&RequestError::Body(BodyError::Malformed), Format::Xml),
            ResultMessage {
                kind: MESSAGE_ERROR,
                code: 400,
                message: "Wrong XML body".into(),
                field: None
            }
        );
    }

    fn sample() -> ResultBody {
        ResultBody {
            messages: vec![
                ResultMessage {
                    kind: MESSAGE_ERROR,
                    code: 404,
                    message: "User <b> & \"co\" isn't here ]]> \r\n\u{1}".into(),
                    field: Some("ids[1]".into()),
                },
                ResultMessage {
                    kind: MESSAGE_ERROR,
                    code: 409,
                    message: "second".into(),
                    field: None,
                },
            ],
            count_of_errors: 2,
            data: Some(ResultData {
                deleted: true,
                ids: vec![id(A), id(B)],
            }),
            text: Some("1 of 3 <done>".into()),
        }
    }

    #[test]
    fn results_in_json() {
        let r = respond(StatusCode::OK, &sample(), Format::Json);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(
            json_body(&r),
            json!({
                "messages": [
                    {"type": 1, "code": 404, "message": "User <b> & \"co\" isn't here ]]> \r\n\u{1}", "field": "ids[1]"},
                    {"type": 1, "code": 409, "message": "second", "field": null}
                ],
                "count_of_errors": 2,
                "id": null,
                "name": null,
                "data": {"deleted": true, "ids": [A, B]},
                "url": null,
                "text": "1 of 3 <done>",
                "inner_exception": null
            })
        );
        // Members in the contract's order.
        let text = text_body(&r);
        let order: Vec<usize> = [
            "\"messages\"",
            "\"count_of_errors\"",
            "\"id\"",
            "\"name\"",
            "\"data\"",
            "\"url\"",
            "\"text\"",
            "\"inner_exception\"",
        ]
        .iter()
        .map(|k| text.rfind(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn results_in_xml() {
        let r = respond(StatusCode::OK, &sample(), Format::Xml);
        assert_eq!(
            r.headers()["content-type"],
            "application/xml; charset=utf-8"
        );
        let xml = text_body(&r);
        assert!(xml.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><Result "#));
        let root = parse_xml(&xml);
        check_root(&root);
        assert_eq!(root.child("count_of_errors").text, "2");
        assert_eq!(root.child("text").text, "1 of 3 <done>");
        let data = root.child("data");
        assert_eq!(data.names(), ["deleted", "ids"]);
        assert_eq!(data.child("deleted").text, "true");
        let ids = data.child("ids");
        assert_eq!(ids.attr("xmlns:d2p1"), Some(ARRAYS_NAMESPACE));
        assert_eq!(ids.names(), ["d2p1:guid", "d2p1:guid"]);
        let texts: Vec<&str> = ids.children.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, [A, B]);
        let messages = &root.child("messages").children;
        assert_eq!(messages.len(), 2);
        assert_eq!(
            messages[0].child("message").text,
            "User <b> & \"co\" isn't here ]]> \r\n\u{FFFD}"
        );
        assert_eq!(messages[0].child("field").text, "ids[1]");
        assert_eq!(messages[0].child("code").text, "404");
        assert!(messages[1].child("field").is_nil());
        assert_eq!(messages[1].child("code").text, "409");
    }

    #[test]
    fn empty_lists_render_as_empty_elements() {
        let body = ResultBody {
            messages: vec![],
            count_of_errors: 0,
            data: Some(ResultData {
                deleted: false,
                ids: vec![],
            }),
            text: None,
        };
        let xml = text_body(&respond(StatusCode::OK, &body, Format::Xml));
        assert!(xml.contains("<messages />"), "{xml}");
        assert!(
            xml.contains(&format!(
                r#"<data><deleted>false</deleted><ids xmlns:d2p1="{ARRAYS_NAMESPACE}" /></data>"#
            )),
            "{xml}"
        );
        let root = parse_xml(&xml);
        check_root(&root);
        assert!(root.child("messages").children.is_empty());
        let j = json_body(&respond(StatusCode::OK, &body, Format::Json));
        assert_eq!(j["messages"], json!([]));
        assert_eq!(j["data"], json!({"deleted": false, "ids": []}));
    }
}
