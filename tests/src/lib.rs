//! Test harness: a fresh table per test on the DynamoDB Local that `make test` starts,
//! handlers called in-process, direct reads of what was stored, and SDK-level fault
//! injection for the unprocessed-item paths.

pub mod faults;
pub mod iam;
pub mod proxy;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::app::App;
use shared::config::Config;
use shared::metrics::MetricsSink;
use shared::store::calls::{CallCounter, CallCounts};
use shared::store::keys;
use shared::store::records::{NameRegistry, TimeProfileRecord, UserRecord};
use uuid::Uuid;

/// The secret tests sign tokens with.
pub const SECRET: &str = "test-secret-0123456789";

/// The endpoint of DynamoDB Local; tests refuse to run without one rather than pass.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests through `make test` \
             (scripts/test.sh), which installs and starts DynamoDB Local"
        )
    })
}

/// An SDK configuration for DynamoDB Local.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .load()
        .await
}

/// A table of its own, an app over it and a plain client to look at what was stored.
pub struct TestApp {
    /// The app as a function builds it, with a counting (and maybe faulty) client.
    pub app: App,
    /// A client without interceptors, for setup and inspection.
    pub raw: Client,
    /// The table name.
    pub table: String,
    /// DynamoDB requests the app made.
    pub calls: CallCounter,
    /// The IAM permissions those requests needed.
    pub iam: iam::IamRecorder,
    owns_table: bool,
}

/// Settings of a [`TestApp`].
#[derive(Default)]
pub struct Options {
    /// Extra environment variables for the config (limits, ...).
    pub vars: Vec<(&'static str, String)>,
    /// An interceptor added to the app's client (fault injection).
    pub interceptor: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
    /// Where the app's client sends its requests instead of DynamoDB Local (a
    /// [`proxy::Proxy`] in front of it); setup and inspection still go direct.
    pub endpoint: Option<String>,
}

impl TestApp {
    /// Default limits.
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    /// Custom limits or interceptors.
    pub async fn with(options: Options) -> Self {
        let sdk = sdk_config().await;
        let raw = Client::new(&sdk);
        let table = format!("users_{}", Uuid::new_v4().simple());
        devctl::TableDefinition::from_template()
            .expect("template table")
            .create(&raw, &table)
            .await
            .expect("create table");
        Self::on_table(table, options, true).await
    }

    /// Another app on this app's table (e.g. with a fault injector).
    pub async fn sibling(&self, options: Options) -> Self {
        Self::on_table(self.table.clone(), options, false).await
    }

    async fn on_table(table: String, options: Options, owns_table: bool) -> Self {
        let sdk = sdk_config().await;
        let raw = Client::new(&sdk);
        let mut vars: HashMap<String, String> = HashMap::from([
            ("TABLE_NAME".into(), table.clone()),
            ("AUTH_JWT_SECRET".into(), SECRET.into()),
        ]);
        vars.extend(options.vars.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let config = Config::from_vars(&vars).expect("config");
        let calls = CallCounter::default();
        let iam = iam::IamRecorder::default();
        let mut builder = shared::app::client_config(&sdk)
            .interceptor(calls.clone())
            .interceptor(iam.clone());
        if let Some(endpoint) = options.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        if let Some(i) = options.interceptor {
            builder = builder.interceptor(i);
        }
        let client = Client::from_conf(builder.build());
        let mut app = App::new(config, client, calls.clone());
        app.metrics = MetricsSink::memory(&app.config);
        Self {
            app,
            raw,
            table,
            calls,
            iam,
            owns_table,
        }
    }

    /// A token with the admin role.
    pub fn admin_token(&self) -> String {
        token(Some("admin"))
    }

    /// `POST /api/v1/users/bulk` as an admin, in-process.
    pub async fn upsert(&self, body: &Value) -> (u16, Value) {
        self.upsert_raw(body.to_string().into_bytes(), Some(&self.admin_token()))
            .await
    }

    /// `POST /api/v1/users/bulk` with any body and token.
    pub async fn upsert_raw(&self, body: Vec<u8>, token: Option<&str>) -> (u16, Value) {
        let req = request("POST", "/api/v1/users/bulk", body, token);
        let resp = upsert_users::handle(&self.app, req).await.expect("handler");
        response_json(resp)
    }

    /// `DELETE /api/v1/users/bulk` as an admin, in-process.
    pub async fn delete(&self, body: &Value) -> (u16, Value) {
        self.delete_raw(body.to_string().into_bytes(), Some(&self.admin_token()))
            .await
    }

    /// `DELETE /api/v1/users/bulk` with any body and token.
    pub async fn delete_raw(&self, body: Vec<u8>, token: Option<&str>) -> (u16, Value) {
        let req = request("DELETE", "/api/v1/users/bulk", body, token);
        let resp = delete_users::handle(&self.app, req).await.expect("handler");
        response_json(resp)
    }

    /// `POST /api/v1/users/bulk/delete` as an admin with a body of the given content
    /// type; answers status, content type and body text.
    pub async fn delete_or_restore(
        &self,
        body: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
    ) -> (u16, String, String) {
        self.delete_or_restore_as(body, content_type, accept, Some(&self.admin_token()))
            .await
    }

    /// `POST /api/v1/users/bulk/delete` with any token.
    pub async fn delete_or_restore_as(
        &self,
        body: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
        token: Option<&str>,
    ) -> (u16, String, String) {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri("/api/v1/users/bulk/delete");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        if let Some(a) = accept {
            builder = builder.header("accept", a);
        }
        if let Some(t) = token {
            builder = builder.header("x-auth-token", t);
        }
        let req = builder.body(Body::from(body.to_owned())).expect("request");
        let resp = delete_or_restore_users::handle(&self.app, req)
            .await
            .expect("handler");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = String::from_utf8_lossy(resp.body().as_ref()).into_owned();
        (status, ctype, text)
    }

    /// Soft delete (`deleted: true`) or restore the ids, as JSON; answers the `Result`.
    pub async fn soft(&self, ids: &[&str], deleted: bool, state: Option<bool>) -> (u16, Value) {
        let mut body = json!({ "ids": ids, "deleted": deleted });
        if let Some(s) = state {
            body["state"] = json!(s);
        }
        let (status, _, text) = self
            .delete_or_restore(&body.to_string(), Some("application/json"), None)
            .await;
        (status, serde_json::from_str(&text).expect("JSON Result"))
    }

    /// Any request, routed to the function serving its method and path as API Gateway
    /// does; answers the raw response.
    pub async fn call(&self, req: Request) -> http::Response<Body> {
        let route = (
            req.method().as_str().to_owned(),
            req.uri().path().to_owned(),
        );
        let app = &self.app;
        match (route.0.as_str(), route.1.as_str()) {
            ("POST", "/api/v1/users/bulk") => upsert_users::handle(app, req).await,
            ("DELETE", "/api/v1/users/bulk") => delete_users::handle(app, req).await,
            ("POST", "/api/v1/users/bulk/delete") => {
                delete_or_restore_users::handle(app, req).await
            }
            ("DELETE", "/api/v1/users") => delete_users_by_filter::handle(app, req).await,
            ("GET", path) if path == "/api/v1/users" || path.starts_with("/api/v1/users/") => {
                read_users::handle(app, req).await
            }
            (_, path) if path.starts_with("/scim/v2") => scim::handle(app, req).await,
            other => panic!("no route for {other:?}"),
        }
        .expect("handler")
    }

    /// `GET <uri>` (the read API) as an admin.
    pub async fn read(&self, uri: &str) -> (u16, Value) {
        self.read_as(uri, Some(&self.admin_token())).await
    }

    /// `GET <uri>` (the read API) with any token.
    pub async fn read_as(&self, uri: &str, token: Option<&str>) -> (u16, Value) {
        let mut builder = http::Request::builder().method("GET").uri(uri);
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        let req = builder.body(Body::Empty).expect("request");
        response_json(read_users::handle(&self.app, req).await.expect("handler"))
    }

    /// A SCIM request (`path` below `/scim/v2`) as an admin with a bearer token, a JSON
    /// body as Entra and Okta send it; answers status, headers and body (`null` when
    /// empty).
    pub async fn scim(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, http::HeaderMap, Value) {
        self.scim_as(method, path, body, Some(&self.admin_token()), &[])
            .await
    }

    /// A SCIM request with any token and extra headers.
    pub async fn scim_as(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, http::HeaderMap, Value) {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("/scim/v2{path}"))
            .header("host", "scim.test");
        if body.is_some() {
            builder = builder.header("content-type", "application/scim+json");
        }
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let body = body.map_or(Body::Empty, |b| Body::from(b.to_string()));
        let resp = scim::handle(&self.app, builder.body(body).expect("request"))
            .await
            .expect("handler");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes: &[u8] = resp.body().as_ref();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|_| panic!("not JSON: {status} {}", String::from_utf8_lossy(bytes)))
        };
        (status, headers, value)
    }

    /// `DELETE /api/v1/users?<query>` with the admin token in `X-Auth-Token`.
    pub async fn filter_delete(&self, query: &str) -> (u16, Value) {
        self.filter_delete_as(query, Some(&self.admin_token()))
            .await
    }

    /// `DELETE /api/v1/users?<query>` with any token.
    pub async fn filter_delete_as(&self, query: &str, token: Option<&str>) -> (u16, Value) {
        let mut builder = http::Request::builder()
            .method("DELETE")
            .uri(format!("/api/v1/users?{query}"))
            .header("accept", "application/json");
        if let Some(t) = token {
            builder = builder.header("x-auth-token", t);
        }
        let req = builder.body(Body::Empty).expect("request");
        let resp = delete_users_by_filter::handle(&self.app, req)
            .await
            .expect("handler");
        response_json(resp)
    }

    /// Runs the scheduled clean-up with this event payload, in-process.
    pub async fn cleanup(&self, payload: Value) -> Result<Value, String> {
        let event = lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
        cleanup_users::handle(&self.app, event)
            .await
            .map_err(|e| e.to_string())
    }

    /// Moves a soft-deleted user's `deleted_at` back by `age`.
    pub async fn backdate_soft_delete(&self, id: &str, age: Duration) {
        let at = shared::domain::Timestamp::now()
            .checked_sub(age)
            .expect("an age within the years 0000 to 9999")
            .to_db_string();
        self.raw
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(format!("USER#{id}")))
            .update_expression("SET deleted_at = :t")
            .condition_expression("attribute_exists(deleted_at)")
            .expression_attribute_values(":t", AttributeValue::S(at))
            .send()
            .await
            .expect("backdate");
    }

    /// The metric documents (EMF) the app's invocations wrote, oldest first.
    pub fn metrics(&self) -> Vec<Value> {
        self.app.metrics.documents()
    }

    /// DynamoDB requests made since `before`.
    pub fn calls_since(&self, before: &CallCounts) -> CallCounts {
        self.calls.snapshot().since(before)
    }

    /// The stored user, if any.
    pub async fn user(&self, id: &str) -> Option<UserRecord> {
        let id: shared::domain::LinkId = Uuid::parse_str(id).expect("uuid").into();
        self.get(&keys::user(&id))
            .await
            .map(|i| UserRecord::from_item(i).expect("user"))
    }

    /// The owner of a card or PIN claim, if claimed.
    pub async fn owner_of(&self, kind: &str, number: &str) -> Option<String> {
        let item = self.get(&format!("IDENT#{kind}#{number}")).await?;
        item.get("owner").and_then(|v| v.as_s().ok()).cloned()
    }

    /// Whether a card/PIN number is free for anyone to claim: no claim, or a claim naming a
    /// user that no longer exists or no longer carries the number (the next claimant
    /// takes such a claim over).
    pub async fn number_is_free(&self, kind: &str, number: &str) -> bool {
        let Some(owner) = self.owner_of(kind, number).await else {
            return true;
        };
        match self.user(&owner).await {
            None => true,
            Some(u) => !u
                .auth_factors
                .iter()
                .filter_map(|f| f.identifier())
                .any(|i| i.kind.as_str() == kind && i.number == number),
        }
    }

    /// The members of a name registry.
    pub async fn registry(&self, name: &str) -> Vec<String> {
        match self.get(&keys::name(name)).await {
            Some(item) => {
                let mut ids = NameRegistry::from_item(item).expect("registry").ids;
                ids.sort();
                ids
            }
            None => Vec::new(),
        }
    }

    /// `n` users carrying `name` (without cards), with the name's registry holding them
    /// all, as if each had been upserted: the first through the upsert, the others
    /// written straight into the table (a name shared by thousands, seeded in seconds).
    /// Returns their ids.
    pub async fn seed_namesakes(&self, name: &str, n: usize) -> Vec<String> {
        let first = new_id();
        let (status, body) = self
            .upsert(&list(vec![user(Some(&first), name, &first)]))
            .await;
        assert_eq!(status, 200, "{body}");
        let template = UserRecord {
            auth_factors: Vec::new(),
            name_dup: n > 1,
            ..self.user(&first).await.expect("first namesake")
        };
        let mut ids = vec![first];
        let mut writes = Vec::with_capacity(n);
        for i in 0..n {
            let record = if i == 0 {
                template.clone()
            } else {
                let id: shared::domain::LinkId = Uuid::new_v4().into();
                ids.push(id.to_string());
                UserRecord {
                    pk: keys::user(&id),
                    link_id: id,
                    ..template.clone()
                }
            };
            let put = aws_sdk_dynamodb::types::PutRequest::builder()
                .set_item(Some(record.to_item().expect("item")))
                .build()
                .expect("put");
            writes.push(
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(put)
                    .build(),
            );
        }
        for chunk in writes.chunks(25) {
            let mut pending = chunk.to_vec();
            while !pending.is_empty() {
                let out = self
                    .raw
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .expect("seed namesakes");
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        let registry = self.get(&keys::name(name)).await.expect("registry");
        let ver = NameRegistry::from_item(registry).expect("registry").ver;
        self.raw
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, AttributeValue::S(keys::name(name)))
            .item("ids", AttributeValue::Ss(ids.clone()))
            .item("ver", AttributeValue::N((ver + 1).to_string()))
            .send()
            .await
            .expect("registry");
        ids
    }

    /// Adds a time profile.
    pub async fn add_time_profile(&self) -> Uuid {
        let id = Uuid::new_v4();
        self.raw
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                TimeProfileRecord::new(id, "test").to_item().expect("item"),
            ))
            .send()
            .await
            .expect("put profile");
        id
    }

    /// Every item of the table, each as its debug text, sorted: two snapshots are equal
    /// exactly when nothing was written in between.
    pub async fn snapshot(&self) -> Vec<String> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .raw
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in out.items() {
                let value = AttributeValue::M(item.clone());
                items.push(canonical(&value));
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                items.sort();
                return items;
            }
        }
    }

    /// Number of items in the table (users, claims, registries, profiles).
    pub async fn item_count(&self) -> usize {
        self.snapshot().await.len()
    }

    async fn get(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.raw
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get")
            .item
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.owns_table {
            return;
        }
        // Best effort: each test leaves DynamoDB Local as it found it.
        let table = self.table.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let client = Client::new(&sdk_config().await);
                    let _ = client.delete_table().table_name(table).send().await;
                });
            }
        })
        .join();
    }
}

/// An attribute value as text whose maps and sets are sorted (a map's debug text follows
/// its hash order).
fn canonical(value: &AttributeValue) -> String {
    match value {
        AttributeValue::M(m) => {
            let sorted: std::collections::BTreeMap<&String, String> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            format!("M{sorted:?}")
        }
        AttributeValue::L(l) => format!("L{:?}", l.iter().map(canonical).collect::<Vec<_>>()),
        AttributeValue::Ss(set) => {
            let mut set = set.clone();
            set.sort();
            format!("Ss{set:?}")
        }
        other => format!("{other:?}"),
    }
}

/// A token for `role` (`None`: no role claim), valid for an hour.
pub fn token(role: Option<&str>) -> String {
    shared::auth::mint_hs256(SECRET, "tester", role, Duration::from_secs(3600))
}

/// An HTTP request as lambda_http hands it to a handler.
pub fn request(method: &str, uri: &str, body: Vec<u8>, token: Option<&str>) -> Request {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    builder.body(Body::from(body)).expect("request")
}

/// Status and JSON body of a response.
pub fn response_json(resp: http::Response<Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: &[u8] = resp.body().as_ref();
    let value = serde_json::from_slice(body).unwrap_or_else(|_| {
        panic!(
            "response is not JSON: {status} {}",
            String::from_utf8_lossy(body)
        )
    });
    (status, value)
}

/// A user item of an upsert request with one card.
pub fn user(link_id: Option<&str>, name: &str, card: &str) -> Value {
    let mut v = json!({
        "name": name,
        "auth_factors": [{"type": "card", "number": card}],
    });
    if let Some(id) = link_id {
        v["link_id"] = json!(id);
    }
    v
}

/// The namespaces of the soft delete's data-contract XML root.
pub const XML_NS: &str = r#"xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models""#;

/// A `DeleteOrRestore` XML body (`state` true, a creation date as the contract's sample has).
pub fn xml_body(ids: &[&str], deleted: bool) -> String {
    let guids: String = ids
        .iter()
        .map(|id| format!("<d2p1:guid>{id}</d2p1:guid>"))
        .collect();
    format!(
        r#"<DeleteOrRestore {XML_NS}><deleted>{deleted}</deleted><ids xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">{guids}</ids><state>true</state><system_information><creation><date>2026-02-04T02:49:44.2094022+01:00</date></creation></system_information></DeleteOrRestore>"#
    )
}

/// `{"list_items": items}`.
pub fn list(items: Vec<Value>) -> Value {
    json!({ "list_items": items })
}

/// A new random link id.
pub fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// The `extended_info` values of a result, in order.
pub fn infos(body: &Value) -> Vec<String> {
    body["result"]
        .as_array()
        .expect("result array")
        .iter()
        .map(|r| {
            r["extended_info"]
                .as_str()
                .expect("extended_info")
                .to_owned()
        })
        .collect()
}
