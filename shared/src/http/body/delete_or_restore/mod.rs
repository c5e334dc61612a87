//! Parsing of the soft delete and restore's `DeleteOrRestore` body, sent as JSON or as
//! XML in the contract's data-contract style (docs/contracts.md#soft-delete-and-restore).
//!
//! Both formats give the same [`DeleteOrRestore`] value and the same errors, named by the
//! path a JSON client would use (`deleted`, `ids[2]`), so the `Result` dialect can answer
//! either way. When several problems are present, the first in this order is reported:
//! the byte limit, a malformed body, too many ids (found while reading, so an XML body is
//! not read further), then `deleted`, `state`, `ids` (and its elements), `system_information`
//! and finally an empty `ids`.
//!
//! One reader per format ([`json`], [`xml`]); this module holds what they share.

mod json;
mod xml;

use crate::config::Limits;
use crate::domain::LinkId;
use crate::domain::json::{BodyError, JsonPath};
use crate::http::error::RequestError;
use crate::http::negotiate::Format;

/// The parsed `DeleteOrRestore` body: which users, and whether to delete or restore them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteOrRestore {
    /// The users, as sent (duplicates kept: the service decides what they mean).
    pub ids: Vec<LinkId>,
    /// `true` to delete, `false` to restore (required by the contract).
    pub deleted: bool,
    /// The contract's optional `state`; absent or null is `None`.
    pub state: Option<bool>,
}

/// Parses a body; structural problems are request errors (nothing will be written).
///
/// The body size is checked first, against `limits.max_body_bytes`; the number of ids
/// against `limits.max_items`.
pub fn parse(
    body: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<DeleteOrRestore, RequestError> {
    if body.len() > limits.max_body_bytes {
        return Err(RequestError::BodyTooLarge {
            max: limits.max_body_bytes,
        });
    }
    match format {
        Format::Json => json::parse(body, limits.max_items),
        Format::Xml => xml::parse(body, limits.max_items),
    }
}

const DELETED: &str = "deleted";
const STATE: &str = "state";
const IDS: &str = "ids";
const SYSTEM_INFORMATION: &str = "system_information";

fn missing(field: &str) -> RequestError {
    RequestError::Body(BodyError::Missing(JsonPath::root(field)))
}

fn wrong_type(path: JsonPath) -> RequestError {
    RequestError::Body(BodyError::WrongType(path))
}

impl DeleteOrRestore {
    /// The body read by either reader; an empty `ids` is the last problem reported.
    fn checked(ids: Vec<LinkId>, deleted: bool, state: Option<bool>) -> Result<Self, RequestError> {
        if ids.is_empty() {
            return Err(RequestError::EmptyList);
        }
        Ok(Self {
            ids,
            deleted,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{A, B, id};
    use quick_xml::events::Event;
    use quick_xml::reader::Reader;
    use xml::MAX_XML_DEPTH;

    fn limits(max_items: usize) -> Limits {
        Limits {
            max_items,
            ..Limits::default()
        }
    }

    fn json(body: &str) -> Result<DeleteOrRestore, RequestError> {
        parse(body.as_bytes(), Format::Json, &limits(1000))
    }

    fn xml(body: &str) -> Result<DeleteOrRestore, RequestError> {
        parse(body.as_bytes(), Format::Xml, &limits(1000))
    }

    /// An XML body with the contract's root and namespaces around `inner`.
    fn doc(inner: &str) -> String {
        format!(
            r#"<DeleteOrRestore xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models">{inner}</DeleteOrRestore>"#
        )
    }

    fn ids_xml(ids: &[&str]) -> String {
        let items: String = ids
            .iter()
            .map(|i| format!("<d2p1:guid>{i}</d2p1:guid>"))
            .collect();
        format!(
            r#"<ids xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">{items}</ids>"#
        )
    }

    fn malformed_err() -> RequestError {
        RequestError::Body(BodyError::Malformed)
    }

    fn wrong(path: &str) -> RequestError {
        RequestError::Body(BodyError::WrongType(JsonPath::root(path)))
    }

    fn wrong_item(index: usize) -> RequestError {
        RequestError::Body(BodyError::WrongType(JsonPath::root("ids").index(index)))
    }

    fn expected_contract_value() -> DeleteOrRestore {
        DeleteOrRestore {
            ids: vec![id(A), id(B)],
            deleted: true,
            state: Some(true),
        }
    }

    const CONTRACT_JSON: &str = r#"{
  "ids": [
    "e98e00bb-a72b-43dc-951d-3e45be6dfd03",
    "41a4a250-747f-4aca-845d-c390ebc002ae"
  ],
  "state": true,
  "deleted": true,
  "system_information": {
    "creation": {
      "user": {
        "full_name": "sample string 12 sample string 11",
        "id": "c4555e76-184f-44ab-bb52-d02f62f1b392",
        "image_id": "e392da66-ad2b-49d7-a382-c06eb219e2a9",
        "id_user_work_position": "11700d39-560f-4b3c-845e-92fd54854a15",
        "id_shift": "8e6cb301-9c4e-4f0a-a331-7579de488c9d",
        "code": "sample string 5",
        "code2": "sample string 6",
        "title": "sample string 9",
        "introduction": "sample string 10",
        "first_name": "sample string 11",
        "last_name": "sample string 12"
      },
      "date": "2026-02-04T01:49:44Z"
    },
    "last_change": {
      "user": {
        "full_name": "sample string 12 sample string 11",
        "id": "c4555e76-184f-44ab-bb52-d02f62f1b392",
        "image_id": "e392da66-ad2b-49d7-a382-c06eb219e2a9",
        "id_user_work_position": "11700d39-560f-4b3c-845e-92fd54854a15",
        "id_shift": "8e6cb301-9c4e-4f0a-a331-7579de488c9d",
        "code": "sample string 5",
        "code2": "sample string 6",
        "title": "sample string 9",
        "introduction": "sample string 10",
        "first_name": "sample string 11",
        "last_name": "sample string 12"
      },
      "date": "2026-02-04T01:49:44Z"
    }
  }
}"#;

    const CONTRACT_XML: &str = r#"<DeleteOrRestore xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models">
  <deleted>true</deleted>
  <ids xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
    <d2p1:guid>e98e00bb-a72b-43dc-951d-3e45be6dfd03</d2p1:guid>
    <d2p1:guid>41a4a250-747f-4aca-845d-c390ebc002ae</d2p1:guid>
  </ids>
  <state>true</state>
  <system_information>
    <creation>
      <date>2026-02-04T02:49:44.2094022+01:00</date>
      <user>
        <code>sample string 5</code>
        <code2>sample string 6</code2>
        <first_name>sample string 11</first_name>
        <full_name>sample string 12 sample string 11</full_name>
        <id>c4555e76-184f-44ab-bb52-d02f62f1b392</id>
        <id_shift>8e6cb301-9c4e-4f0a-a331-7579de488c9d</id_shift>
        <id_user_work_position>11700d39-560f-4b3c-845e-92fd54854a15</id_user_work_position>
        <image_id>e392da66-ad2b-49d7-a382-c06eb219e2a9</image_id>
        <introduction>sample string 10</introduction>
        <last_name>sample string 12</last_name>
        <title>sample string 9</title>
      </user>
    </creation>
    <last_change>
      <date>2026-02-04T02:49:44.2094022+01:00</date>
      <user>
        <code>sample string 5</code>
        <code2>sample string 6</code2>
        <first_name>sample string 11</first_name>
        <full_name>sample string 12 sample string 11</full_name>
        <id>c4555e76-184f-44ab-bb52-d02f62f1b392</id>
        <id_shift>8e6cb301-9c4e-4f0a-a331-7579de488c9d</id_shift>
        <id_user_work_position>11700d39-560f-4b3c-845e-92fd54854a15</id_user_work_position>
        <image_id>e392da66-ad2b-49d7-a382-c06eb219e2a9</image_id>
        <introduction>sample string 10</introduction>
        <last_name>sample string 12</last_name>
        <title>sample string 9</title>
      </user>
    </last_change>
  </system_information>
</DeleteOrRestore>"#;

    #[test]
    fn the_contract_samples_parse() {
        assert_eq!(json(CONTRACT_JSON).unwrap(), expected_contract_value());
        assert_eq!(xml(CONTRACT_XML).unwrap(), expected_contract_value());
        let with_decl =
            format!("\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{CONTRACT_XML}\n");
        assert_eq!(xml(&with_decl).unwrap(), expected_contract_value());
    }

    #[test]
    fn json_rules() {
        let ok = json(&format!(
            r#"{{"ids":["{A}","{A}"],"deleted":false,"state":null}}"#
        ))
        .unwrap();
        assert_eq!(
            ok,
            DeleteOrRestore {
                ids: vec![id(A), id(A)],
                deleted: false,
                state: None
            }
        );
        let cases = [
            ("[]", malformed_err()),
            ("{", malformed_err()),
            (r#"{"ids":["x"]}"#, missing("deleted")),
            (r#"{"ids":["x"],"deleted":null}"#, missing("deleted")),
            (r#"{"deleted":true}"#, missing("ids")),
            (r#"{"deleted":true,"ids":null}"#, missing("ids")),
            (r#"{"deleted":"yes","ids":[]}"#, wrong("deleted")),
            (r#"{"deleted":true,"state":1,"ids":[]}"#, wrong("state")),
            (r#"{"deleted":true,"ids":"x"}"#, wrong("ids")),
            (r#"{"deleted":true,"ids":[]}"#, RequestError::EmptyList),
            (
                r#"{"deleted":true,"ids":[],"system_information":"x"}"#,
                wrong("system_information"),
            ),
        ];
        for (body, err) in cases {
            assert_eq!(json(body).unwrap_err(), err, "{body}");
        }
        let bad_third = format!(r#"{{"deleted":true,"ids":["{A}","{B}",7,"nope"]}}"#);
        assert_eq!(json(&bad_third).unwrap_err(), wrong_item(2));
        let ok = json(&format!(
            r#"{{"deleted":true,"ids":["{A}"],"system_information":null,"other":[1]}}"#
        ))
        .unwrap();
        assert_eq!(ok.ids, vec![id(A)]);
    }

    #[test]
    fn limits_apply_to_both_formats() {
        let body = format!(r#"{{"deleted":true,"ids":["{A}","{B}","{A}"]}}"#);
        assert_eq!(
            parse(body.as_bytes(), Format::Json, &limits(2)).unwrap_err(),
            RequestError::TooManyItems { max: 2 }
        );
        assert_eq!(
            parse(body.as_bytes(), Format::Json, &limits(3))
                .unwrap()
                .ids
                .len(),
            3
        );
        let small = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        for format in [Format::Json, Format::Xml] {
            // Checked before parsing: even garbage is reported as too large.
            assert_eq!(
                parse(&[b'<'; 11], format, &small).unwrap_err(),
                RequestError::BodyTooLarge { max: 10 }
            );
        }
        assert_eq!(
            parse(b"{}", Format::Json, &small).unwrap_err(),
            missing("deleted")
        );
    }

    #[test]
    fn xml_members_and_errors() {
        let ok = xml(&doc(&format!(
            "<state i:nil=\"true\"/><deleted> 0 </deleted>{}<unknown><x/>text</unknown>",
            ids_xml(&[A, A])
        )))
        .unwrap();
        assert_eq!(
            ok,
            DeleteOrRestore {
                ids: vec![id(A), id(A)],
                deleted: false,
                state: None
            }
        );
        let ids = ids_xml(&[A]);
        let cases = [
            (doc(&ids), missing("deleted")),
            (
                doc(&format!(r#"<deleted i:nil="true" />{ids}"#)),
                missing("deleted"),
            ),
            (doc("<deleted>true</deleted>"), missing("ids")),
            (
                doc(r#"<deleted>true</deleted><ids i:nil="true"/>"#),
                missing("ids"),
            ),
            (
                doc(&format!("<deleted>yes</deleted>{ids}")),
                wrong("deleted"),
            ),
            (doc(&format!("<deleted/>{ids}")), wrong("deleted")),
            (
                doc(&format!("<deleted><b>true</b></deleted>{ids}")),
                wrong("deleted"),
            ),
            (
                doc(&format!("<deleted>1</deleted><state>TRUE</state>{ids}")),
                wrong("state"),
            ),
            (
                doc("<deleted>1</deleted><ids>e98e00bb-a72b-43dc-951d-3e45be6dfd03</ids>"),
                wrong("ids"),
            ),
            (doc("<deleted>1</deleted><ids/>"), RequestError::EmptyList),
            (
                doc("<deleted>1</deleted><ids>\n  </ids>"),
                RequestError::EmptyList,
            ),
        ];
        for (body, err) in cases {
            assert_eq!(xml(&body).unwrap_err(), err, "{body}");
        }
        let state = xml(&doc(&format!(
            "<deleted>1</deleted><state>\n false\t</state>{ids}"
        )))
        .unwrap();
        assert_eq!(state.state, Some(false));
        assert!(state.deleted);
    }

    #[test]
    fn xml_ids_name_the_bad_element_by_index() {
        let body = doc(&format!(
            "<deleted>true</deleted>{}",
            ids_xml(&[A, B, "not-a-uuid", "also bad"])
        ));
        assert_eq!(xml(&body).unwrap_err(), wrong_item(2));
        let nested = doc(&format!(
            r#"<deleted>true</deleted><ids xmlns:a="urn:x"><a:guid>{A}</a:guid><a:guid><b>{B}</b></a:guid></ids>"#
        ));
        assert_eq!(xml(&nested).unwrap_err(), wrong_item(1));
        let nil = doc(&format!(
            r#"<deleted>true</deleted><ids><guid i:nil="true"/><guid>{A}</guid></ids>"#
        ));
        assert_eq!(xml(&nil).unwrap_err(), wrong_item(0));
        let empty_item = doc("<deleted>true</deleted><ids><guid/></ids>");
        assert_eq!(xml(&empty_item).unwrap_err(), wrong_item(0));
    }

    #[test]
    fn xml_ids_in_cdata_and_with_references() {
        let body = doc(&format!(
            "<deleted>true</deleted><ids><d:guid xmlns:d=\"urn:a\"><![CDATA[{A}]]></d:guid><guid> <![CDATA[{}]]>&#x31;{} </guid></ids>",
            &B[..1],
            &B[2..]
        ));
        assert_eq!(xml(&body).unwrap().ids, vec![id(A), id(B)]);
        let predefined = doc(&format!(
            "<deleted>&#116;ru&#x65;</deleted>{}<x a=\"&lt;&gt;&amp;&apos;&quot;\">&lt;&gt;&amp;&apos;&quot;</x>",
            ids_xml(&[A])
        ));
        assert!(xml(&predefined).unwrap().deleted);
    }

    #[test]
    fn xml_wrong_root_and_broken_documents_are_malformed() {
        let ids = ids_xml(&[A]);
        for body in [
            String::new(),
            "   ".to_owned(),
            "not xml".to_owned(),
            format!("<Other><deleted>true</deleted>{ids}</Other>"),
            format!("<DeleteOrRestore><deleted>true</deleted>{ids}"),
            format!("<DeleteOrRestore><deleted>true</deleted>{ids}</Other>"),
            format!(
                "{}<DeleteOrRestore/>",
                doc(&format!("<deleted>true</deleted>{ids}"))
            ),
            format!("{}trailing", doc(&format!("<deleted>true</deleted>{ids}"))),
            format!(
                "<DeleteOrRestore a=\"1\" a=\"2\"><deleted>true</deleted>{ids}</DeleteOrRestore>"
            ),
            doc(&format!("<deleted>true</deleted>{ids}<x>&#0;</x>")),
            doc(&format!("<deleted>true</deleted>{ids}<x>&#xD800;</x>")),
            doc(&format!("<deleted>true</deleted>{ids}<x>&#1;</x>")),
            format!(
                "<DeleteOrRestore>{ids}<?xml version=\"1.0\"?><deleted>1</deleted></DeleteOrRestore>"
            ),
        ] {
            assert_eq!(xml(&body).unwrap_err(), malformed_err(), "{body:?}");
        }
        assert_eq!(
            parse(
                b"<DeleteOrRestore>\xff</DeleteOrRestore>",
                Format::Xml,
                &limits(5)
            )
            .unwrap_err(),
            malformed_err()
        );
    }

    #[test]
    fn xml_doctype_is_refused_without_expansion() {
        let ids = ids_xml(&[A]);
        let xxe = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE DeleteOrRestore [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
            doc(&format!("<deleted>true</deleted>{ids}<x>&x;</x>"))
        );
        assert_eq!(xml(&xxe).unwrap_err(), malformed_err());
        // Refused at the DOCTYPE itself, the first thing after the declaration.
        let mut reader = Reader::from_str(&xxe);
        assert!(matches!(reader.read_event(), Ok(Event::Decl(_))));
        assert!(matches!(reader.read_event(), Ok(Event::DocType(_))));
        let mut laughs = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", i - 1)
            };
            laughs.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">",
                format!("&{prev};").repeat(10)
            ));
        }
        laughs.push_str("]>");
        laughs.push_str(&doc(&format!("<deleted>true</deleted>{ids}<x>&lol9;</x>")));
        assert_eq!(xml(&laughs).unwrap_err(), malformed_err());
        // A DOCTYPE without any entity is refused as well.
        let plain = format!(
            "<!DOCTYPE DeleteOrRestore>{}",
            doc(&format!("<deleted>true</deleted>{ids}"))
        );
        assert_eq!(xml(&plain).unwrap_err(), malformed_err());
    }

    #[test]
    fn xml_undeclared_entities_are_malformed() {
        let ids = ids_xml(&[A]);
        for body in [
            doc(&format!("<deleted>true</deleted>{ids}<x>&x;</x>")),
            doc(&format!("<deleted>true&nbsp;</deleted>{ids}")),
            doc(&format!("<deleted>true</deleted>{ids}<x a=\"&x;\"/>")),
            doc(&format!("<deleted>true</deleted>{ids}<x>& alone</x>")),
        ] {
            assert_eq!(xml(&body).unwrap_err(), malformed_err(), "{body}");
        }
    }

    #[test]
    fn xml_nesting_is_bounded() {
        let nested = |levels: usize| {
            // Root (1) + system_information (2) + `levels` more.
            doc(&format!(
                "<deleted>true</deleted>{}<system_information>{}{}</system_information>",
                ids_xml(&[A]),
                "<a>".repeat(levels),
                "</a>".repeat(levels)
            ))
        };
        assert!(xml(&nested(MAX_XML_DEPTH - 2)).is_ok());
        assert_eq!(
            xml(&nested(MAX_XML_DEPTH - 1)).unwrap_err(),
            malformed_err()
        );
        // Deep and never closed: refused at depth 33, not read further.
        let deep = doc(&format!("<deleted>true</deleted>{}", "<a>".repeat(100_000)));
        assert_eq!(xml(&deep).unwrap_err(), malformed_err());
        let deep_empty = format!("<DeleteOrRestore>{}<b/>", "<a>".repeat(MAX_XML_DEPTH - 1));
        assert_eq!(xml(&deep_empty).unwrap_err(), malformed_err());
    }

    #[test]
    fn xml_too_many_ids_stop_the_reader() {
        let three = doc(&format!("<deleted>true</deleted>{}", ids_xml(&[A, B, A])));
        assert_eq!(
            parse(three.as_bytes(), Format::Xml, &limits(2)).unwrap_err(),
            RequestError::TooManyItems { max: 2 }
        );
        assert_eq!(
            parse(three.as_bytes(), Format::Xml, &limits(3))
                .unwrap()
                .ids
                .len(),
            3
        );
        // The third id is never read, nor is the broken rest of the body: the reader
        // stopped at the limit.
        let truncated =
            format!("<DeleteOrRestore><ids><g>{A}</g><g>{B}</g><g>x</g><g>&x;</g></oops>");
        assert_eq!(
            parse(truncated.as_bytes(), Format::Xml, &limits(2)).unwrap_err(),
            RequestError::TooManyItems { max: 2 }
        );
        // A million ids with a limit of 10: refused after the 11th, quickly.
        let mut huge = String::from("<DeleteOrRestore><deleted>true</deleted><ids>");
        for _ in 0..1_000_000 {
            huge.push_str("<g>x</g>");
        }
        huge.push_str("</ids></DeleteOrRestore>");
        let roomy = Limits {
            max_items: 10,
            max_body_bytes: huge.len(),
            ..Limits::default()
        };
        let started = std::time::Instant::now();
        assert_eq!(
            parse(huge.as_bytes(), Format::Xml, &roomy).unwrap_err(),
            RequestError::TooManyItems { max: 10 }
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
