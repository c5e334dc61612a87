//! The `Result` answer in the contract's data-contract XML: members in alphabetical
//! order, nulls as `i:nil`, empty lists as self-closing elements written as .NET's
//! `DataContractSerializer` writes them (`<messages />`, with the space), which is why
//! it is written by hand: quick-xml's serde serializer writes neither `i:nil` members
//! nor that spelling of an empty element.

use std::fmt::Write as _;

use super::model::ResultBody;

/// The data-contract namespace of the contract's `Result` XML.
pub(super) const RESULT_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/UP.Core.Data";
/// The XML Schema instance namespace, for `i:nil`.
pub(super) const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The namespace of serialized arrays (`d2p1:guid`).
pub(super) const ARRAYS_NAMESPACE: &str =
    "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
/// The XML answer's content type.
pub(super) const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// Appends `text` as XML character data: markup characters escaped, `\r` kept as a
/// reference (parsers would fold it), characters XML 1.0 cannot carry replaced by U+FFFD.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => {
                out.push(c)
            }
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// `<name>text</name>`, text escaped.
fn push_element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>");
    push_escaped(out, text);
    let _ = write!(out, "</{name}>");
}

/// `<name i:nil="true" />`, the data contract's null.
fn push_nil(out: &mut String, name: &str) {
    let _ = write!(out, r#"<{name} i:nil="true" />"#);
}

fn push_optional(out: &mut String, name: &str, text: Option<&str>) {
    match text {
        Some(t) => push_element(out, name, t),
        None => push_nil(out, name),
    }
}

/// The contract's data-contract XML: members in alphabetical order, nulls as `i:nil`.
pub(super) fn to_xml(body: &ResultBody) -> String {
    let mut out = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    let _ = write!(
        out,
        r#"<Result xmlns:i="{XSI_NAMESPACE}" xmlns="{RESULT_NAMESPACE}">"#
    );
    push_element(
        &mut out,
        "count_of_errors",
        &body.count_of_errors.to_string(),
    );
    match &body.data {
        None => push_nil(&mut out, "data"),
        Some(data) => {
            out.push_str("<data>");
            push_element(
                &mut out,
                "deleted",
                if data.deleted { "true" } else { "false" },
            );
            if data.ids.is_empty() {
                let _ = write!(out, r#"<ids xmlns:d2p1="{ARRAYS_NAMESPACE}" />"#);
            } else {
                let _ = write!(out, r#"<ids xmlns:d2p1="{ARRAYS_NAMESPACE}">"#);
                for id in &data.ids {
                    let _ = write!(out, "<d2p1:guid>{id}</d2p1:guid>");
                }
                out.push_str("</ids>");
            }
            out.push_str("</data>");
        }
    }
    push_nil(&mut out, "id");
    push_nil(&mut out, "inner_exception");
    if body.messages.is_empty() {
        out.push_str("<messages />");
    } else {
        out.push_str("<messages>");
        for m in &body.messages {
            out.push_str("<ResultMessage>");
            push_element(&mut out, "code", &m.code.to_string());
            push_optional(&mut out, "field", m.field.as_deref());
            push_element(&mut out, "message", &m.message);
            push_element(&mut out, "type", &m.kind.to_string());
            out.push_str("</ResultMessage>");
        }
        out.push_str("</messages>");
    }
    push_nil(&mut out, "name");
    push_optional(&mut out, "text", body.text.as_deref());
    push_nil(&mut out, "url");
    out.push_str("</Result>");
    out
}
