//! Content negotiation, for every endpoint: which format a request body is in
//! (`Content-Type`), and which one the answer should be in (`Accept`).

use lambda_http::Request;

use crate::http::error::RequestError;

/// The body formats of the soft delete and restore (application/json, text/json,
/// application/xml, text/xml; docs/contracts.md#content-types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/json` or `text/json`.
    Json,
    /// `application/xml` or `text/xml`, in the contract's data-contract style.
    Xml,
}

impl Format {
    /// From a Content-Type value: application/json and text/json -> Json; application/xml
    /// and text/xml -> Xml; parameters (charset) ignored, case-insensitive; anything else
    /// -> None, which the endpoint answers with `UnsupportedMediaType`.
    pub fn from_content_type(value: &str) -> Option<Format> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        Self::from_media_type(essence)
    }

    /// A bare media type (no parameters) naming one of the contract's formats.
    fn from_media_type(media_type: &str) -> Option<Format> {
        let is = |name: &str| media_type.eq_ignore_ascii_case(name);
        if is("application/json") || is("text/json") {
            Some(Format::Json)
        } else if is("application/xml") || is("text/xml") {
            Some(Format::Xml)
        } else {
            None
        }
    }
}

/// Refuses a body declared as anything but JSON (`application/json` or `text/json`,
/// parameters such as `charset` ignored) with 415, so that an XML document, a form or a
/// multipart upload is not read as JSON and answered with a misleading `Wrong JSON body`.
/// A request without `Content-Type` is read as JSON, as clients of the upsert and delete
/// send it.
pub fn require_json_body(req: &Request) -> Result<(), RequestError> {
    let Some(declared) = req.headers().get(http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    match declared.to_str().ok().and_then(Format::from_content_type) {
        Some(Format::Json) => Ok(()),
        _ => Err(RequestError::UnsupportedMediaType),
    }
}

/// The answer format: from `Accept` when it names JSON (application/json, text/json) or
/// XML (application/xml, text/xml), honouring q-values roughly; `*/*`, absent or unusable
/// -> the request's format (the contract offers both, so the client's own format is safest).
///
/// Each format scores the highest q of the ranges naming it, or else of a matching
/// wildcard (`*/*`, `application/*`, `text/*`); the higher score wins, a tie keeps the
/// request's format.
pub fn response_format(accept: Option<&str>, request: Format) -> Format {
    let Some(accept) = accept else {
        return request;
    };
    let mut json: Option<u16> = None;
    let mut xml: Option<u16> = None;
    let mut wildcard: Option<u16> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let Some(q) = quality(parts) else {
            continue;
        };
        let best = match Format::from_media_type(media) {
            Some(Format::Json) => &mut json,
            Some(Format::Xml) => &mut xml,
            None if ["*/*", "application/*", "text/*"]
                .iter()
                .any(|w| media.eq_ignore_ascii_case(w)) =>
            {
                &mut wildcard
            }
            None => continue,
        };
        *best = Some(best.map_or(q, |b| b.max(q)));
    }
    let json = json.or(wildcard).unwrap_or(0);
    let xml = xml.or(wildcard).unwrap_or(0);
    match json.cmp(&xml) {
        std::cmp::Ordering::Greater => Format::Json,
        std::cmp::Ordering::Less => Format::Xml,
        std::cmp::Ordering::Equal => request,
    }
}

/// The q-value of a media range's parameters in thousandths (1000 when absent); `None`
/// when it does not parse, so the range is ignored.
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    for param in params {
        if let Some((key, value)) = param.split_once('=')
            && key.trim().eq_ignore_ascii_case("q")
        {
            let q: f32 = value.trim().parse().ok()?;
            if !(0.0..=1.0).contains(&q) {
                return None;
            }
            // In range 0..=1000 by the check above.
            return Some((q * 1000.0).round() as u16);
        }
    }
    Some(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_map_to_formats() {
        assert_eq!(
            Format::from_content_type("application/json"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("Text/JSON; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("application/xml;charset=UTF-8"),
            Some(Format::Xml)
        );
        assert_eq!(Format::from_content_type(" text/xml "), Some(Format::Xml));
        assert_eq!(Format::from_content_type("text/plain"), None);
        assert_eq!(
            Format::from_content_type("application/x-www-form-urlencoded"),
            None
        );
        assert_eq!(Format::from_content_type(""), None);
        assert_eq!(Format::from_content_type("application/jsonx"), None);
    }

    #[test]
    fn the_answer_format_follows_accept() {
        use Format::{Json, Xml};
        let cases = [
            (None, Json, Json),
            (None, Xml, Xml),
            (Some("*/*"), Xml, Xml),
            (Some("application/json"), Xml, Json),
            (Some("text/json"), Xml, Json),
            (Some("application/xml"), Json, Xml),
            (Some("Text/XML; charset=utf-8"), Json, Xml),
            (Some("text/html"), Xml, Xml),
            (Some(""), Json, Json),
            (Some("garbage;;;q=="), Json, Json),
            (Some("application/xml;q=0.5, application/json"), Xml, Json),
            (Some("application/json;q=0.1, text/xml;q=0.9"), Json, Xml),
            (Some("application/json, application/xml"), Xml, Xml),
            (Some("application/json, application/xml"), Json, Json),
            (Some("application/json;q=0, */*"), Json, Xml),
            (Some("application/xml;q=0.4, */*;q=0.8"), Xml, Json),
            (Some("application/json;q=0"), Json, Json),
            (
                Some("application/json;q=2, application/xml;q=0.3"),
                Json,
                Xml,
            ),
            (Some("text/*, application/json;q=0.5"), Json, Xml),
        ];
        for (accept, request, expected) in cases {
            assert_eq!(
                response_format(accept, request),
                expected,
                "{accept:?} {request:?}"
            );
        }
    }
}
