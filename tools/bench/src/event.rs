//! API Gateway HTTP API (payload format 2.0) events and their answers.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::error::WrongAnswer;

/// An HTTP API request event as API Gateway hands it to a function.
#[derive(Clone, Debug)]
pub struct HttpEvent {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, e.g. `/api/v1/users/bulk`.
    pub path: String,
    /// The query parameters, decoded, in order (sent percent-encoded as `rawQueryString`).
    pub query: Vec<(String, String)>,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body, if any (sent as text, `isBase64Encoded: false`).
    pub body: Option<String>,
}

impl HttpEvent {
    /// A request without a body.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A request with a JSON body.
    pub fn json(method: &str, path: &str, body: &Value) -> Self {
        let mut e = Self::new(method, path);
        e.headers
            .push(("content-type".into(), "application/json".into()));
        e.body = Some(body.to_string());
        e
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `x-auth-token: <token>` (the header of the delete by filter's contract).
    pub fn auth_token(mut self, token: &str) -> Self {
        self.headers.push(("x-auth-token".into(), token.to_owned()));
        self
    }

    /// The query string as API Gateway passes it (`rawQueryString`).
    pub fn raw_query(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Adds `authorization: Bearer <token>`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization".into(), format!("Bearer {token}")));
        self
    }

    /// The event document.
    pub fn to_event(&self) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let route_key = format!("{} {}", self.method, self.path);
        let mut headers = serde_json::Map::new();
        headers.insert(
            "host".into(),
            json!("bench.execute-api.us-east-1.amazonaws.com"),
        );
        headers.insert("user-agent".into(), json!("bench"));
        headers.insert("x-forwarded-proto".into(), json!("https"));
        if let Some(b) = &self.body {
            headers.insert("content-length".into(), json!(b.len().to_string()));
        }
        for (k, v) in &self.headers {
            headers.insert(k.clone(), json!(v));
        }
        let mut params = serde_json::Map::new();
        for (k, v) in &self.query {
            // API Gateway joins repeated parameters with commas.
            let joined = match params.get(k).and_then(Value::as_str) {
                Some(before) => format!("{before},{v}"),
                None => v.clone(),
            };
            params.insert(k.clone(), json!(joined));
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.raw_query(),
            "headers": headers,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "bench",
                "domainName": "bench.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "bench",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "bench"
                },
                "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": route_key,
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": now
            },
            "body": self.body,
            "isBase64Encoded": false
        });
        if !params.is_empty() {
            event["queryStringParameters"] = Value::Object(params);
        }
        event
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The HTTP answer inside a function's response document.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    /// `statusCode`.
    pub status: u16,
    /// `body`, parsed as JSON.
    pub body: Value,
}

impl HttpAnswer {
    /// Reads `{"statusCode": .., "headers": .., "body": ".."}`.
    pub fn from_response(response: &Value) -> Result<Self, WrongAnswer> {
        let status = response["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| {
                WrongAnswer::Malformed(format!("no statusCode in {}", preview(response)))
            })?;
        let text = response["body"].as_str().ok_or_else(|| {
            WrongAnswer::Malformed(format!("no text body in {}", preview(response)))
        })?;
        if response["isBase64Encoded"].as_bool() == Some(true) {
            return Err(WrongAnswer::Malformed(
                "base64 bodies are not expected from these functions".into(),
            ));
        }
        let body = serde_json::from_str(text).map_err(|source| WrongAnswer::BodyNotJson {
            body: text.to_owned(),
            source,
        })?;
        Ok(Self { status, body })
    }
}

/// The first few hundred characters of a document, for error messages.
pub fn preview(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(400) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_is_an_http_api_v2_request_for_lambda_http() {
        let e = HttpEvent::json("POST", "/api/v1/users/bulk", &json!({"list_items": []}))
            .bearer("t0k")
            .to_event();
        let req: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(e.clone()).unwrap();
        assert_eq!(req.raw_path.as_deref(), Some("/api/v1/users/bulk"));
        assert_eq!(req.request_context.http.method, "POST");
        assert_eq!(req.headers["authorization"], "Bearer t0k");
        // Not mistaken for a REST API (payload 1.0) event, which lambda_http tries first.
        let v1 = serde_json::from_value::<
            lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequest,
        >(e);
        assert!(v1.is_err());
    }

    #[test]
    fn a_filter_request_carries_its_query_and_no_body() {
        let e = HttpEvent::new("DELETE", "/api/v1/users")
            .query("email", "a+b@example.com")
            .query("user_type", "bench visitor")
            .auth_token("t0k");
        assert_eq!(
            e.raw_query(),
            "email=a%2Bb%40example.com&user_type=bench%20visitor"
        );
        let v = e.to_event();
        assert_eq!(v["queryStringParameters"]["email"], "a+b@example.com");
        let req: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(v).unwrap();
        assert_eq!(req.headers["x-auth-token"], "t0k");
        assert!(req.body.is_none());
        assert_eq!(
            req.raw_query_string.as_deref(),
            Some("email=a%2Bb%40example.com&user_type=bench%20visitor")
        );
    }

    #[test]
    fn answers_are_read_and_their_body_parsed() {
        let a = HttpAnswer::from_response(&json!({
            "statusCode": 200, "headers": {}, "body": "{\"result\":[]}", "isBase64Encoded": false
        }))
        .unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.body, json!({"result": []}));
        assert!(HttpAnswer::from_response(&json!({"statusCode": 200})).is_err());
    }
}
