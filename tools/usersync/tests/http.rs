//! The client loop over real HTTP, against a small fake of the API on a local port
//! (`tiny_http`): retries, re-sends, keys, stops, and the `usersync` binary end to end.
//! The fake keeps users in a map and replays answers by `Idempotency-Key` as the server
//! does; it is not a database mock, and the real stack's end-to-end tests live elsewhere.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use usersync::chunk::{Chunk, Item};
use usersync::client::{Client, ClientOptions, Request, SendError, Verb};
use usersync::retry::RetryPolicy;
use usersync::send::{Endpoint, ItemOutcome, Sender};
use usersync::stop::{Stop, StopReason};
use uuid::Uuid;

/// A request the fake received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or("")
    }

    fn query(&self) -> Vec<(String, String)> {
        self.url
            .split_once('?')
            .map(|(_, q)| {
                q.split('&')
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An answer of the fake.
struct Reply {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body: body.to_string(),
        headers: Vec::new(),
    }
}

/// A local HTTP server answering with `handler`, recording every request.
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
}

impl Fake {
    fn start(mut handler: impl FnMut(&Seen) -> Reply + Send + 'static) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (Arc::clone(&server), Arc::clone(&seen));
        std::thread::spawn(move || {
            for mut rq in s.incoming_requests() {
                let mut body = Vec::new();
                let _ = std::io::Read::read_to_end(rq.as_reader(), &mut body);
                let got = Seen {
                    method: rq.method().to_string(),
                    url: rq.url().to_owned(),
                    headers: rq
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                };
                log.lock().unwrap().push(got.clone());
                let r = handler(&got);
                let mut response = tiny_http::Response::from_string(r.body)
                    .with_status_code(r.status)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap(),
                    );
                for (k, v) in r.headers {
                    response = response
                        .with_header(tiny_http::Header::from_bytes(k, v.as_bytes()).unwrap());
                }
                let _ = rq.respond(response);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            seen,
            server,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn writes(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method != "GET")
            .collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn client(url: &str, retries: u32, stop: &Stop) -> Arc<Client> {
    let policy = RetryPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
        max_retries: retries,
    };
    Arc::new(
        Client::new(
            url,
            "test-token".into(),
            ClientOptions {
                timeout: Duration::from_secs(10),
                policy,
            },
            stop.clone(),
        )
        .unwrap(),
    )
}

fn sender(client: Arc<Client>, run_id: Uuid) -> Sender {
    Sender {
        client,
        input_sha256: "00".repeat(32),
        run_id,
        dry_run: false,
    }
}

fn chunk(names: &[&str]) -> Chunk {
    Chunk {
        index: 0,
        items: names
            .iter()
            .enumerate()
            .map(|(i, n)| Item {
                row: Some(i as u64 + 1),
                json: json!({"name": n, "auth_factors": [{"type": "card", "number": n}]})
                    .to_string(),
            })
            .collect(),
    }
}

fn created(n: usize) -> Value {
    let result: Vec<Value> = (0..n)
        .map(|_| json!({"link_id": Uuid::new_v4().to_string(), "success": true, "extended_info": "created", "has_dublicates": false}))
        .collect();
    json!({ "result": result })
}

#[tokio::test]
async fn a_503_is_retried_with_the_same_key_after_retry_after() {
    let mut calls = 0;
    let fake = Fake::start(move |_| {
        calls += 1;
        if calls == 1 {
            Reply {
                status: 503,
                body: json!({"error": "Service temporarily unavailable, try again later"})
                    .to_string(),
                headers: vec![("Retry-After", "1".into())],
            }
        } else {
            reply(200, created(2))
        }
    });
    let stop = Stop::new();
    let s = sender(client(&fake.url, 3, &stop), Uuid::new_v4());
    let start = Instant::now();
    let run = s.run_chunk(Endpoint::Upsert, &chunk(&["a", "b"])).await;
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert!(!run.stopped);
    assert_eq!(
        run.outcomes,
        [Some(ItemOutcome::Created), Some(ItemOutcome::Created)]
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    let key = seen[0].header("Idempotency-Key").unwrap();
    assert_eq!(key.len(), 64);
    assert_eq!(seen[1].header("Idempotency-Key"), Some(key));
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].url, "/api/v1/users/bulk");
    assert_eq!(seen[0].header("Authorization"), Some("Bearer test-token"));
    assert_eq!(seen[0].header("Content-Type"), Some("application/json"));
    assert_eq!(seen[0].json()["list_items"][1]["name"], "b");
}

#[tokio::test]
async fn not_processed_items_are_sent_again_alone_with_a_new_key() {
    let mut calls = 0;
    let fake = Fake::start(move |_| {
        calls += 1;
        if calls == 1 {
            reply(
                200,
                json!({"result": [
                    {"link_id": "a", "success": true, "extended_info": "created", "has_dublicates": false},
                    {"link_id": null, "success": false, "extended_info": "not_processed", "has_dublicates": false},
                    {"link_id": null, "success": false, "extended_info": "has_dublicates", "has_dublicates": true}
                ]}),
            )
        } else {
            reply(
                200,
                json!({"result": [{"link_id": "b", "success": true, "extended_info": "updated", "has_dublicates": false}]}),
            )
        }
    });
    let stop = Stop::new();
    let s = sender(client(&fake.url, 3, &stop), Uuid::new_v4());
    let run = s
        .run_chunk(Endpoint::Upsert, &chunk(&["a", "b", "c"]))
        .await;
    assert_eq!(
        run.outcomes,
        [
            Some(ItemOutcome::Created),
            Some(ItemOutcome::Updated),
            Some(ItemOutcome::Failed {
                info: "has_dublicates".into(),
                link_id: None
            })
        ]
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    let items = seen[1].json()["list_items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "b");
    assert_ne!(
        seen[0].header("Idempotency-Key"),
        seen[1].header("Idempotency-Key")
    );
}

#[tokio::test]
async fn items_still_not_processed_after_the_retries_fail() {
    let fake = Fake::start(|seen| {
        let n = seen.json()["list_items"].as_array().map_or(0, Vec::len);
        let result: Vec<Value> = (0..n)
            .map(|_| json!({"link_id": null, "success": false, "extended_info": "not_processed", "has_dublicates": false}))
            .collect();
        reply(200, json!({ "result": result }))
    });
    let stop = Stop::new();
    let s = sender(client(&fake.url, 2, &stop), Uuid::new_v4());
    let run = s.run_chunk(Endpoint::Upsert, &chunk(&["a"])).await;
    assert_eq!(
        run.outcomes,
        [Some(ItemOutcome::Failed {
            info: "not_processed".into(),
            link_id: None
        })]
    );
    let keys: HashSet<String> = fake
        .seen()
        .iter()
        .filter_map(|s| s.header("Idempotency-Key").map(str::to_owned))
        .collect();
    assert_eq!(
        keys.len(),
        3,
        "one request per round, each with its own key"
    );
}

#[tokio::test]
async fn a_401_stops_the_run_and_a_400_fails_the_chunk_without_retrying() {
    let fake = Fake::start(|_| reply(401, json!({"error": "Log In"})));
    let stop = Stop::new();
    let s = sender(client(&fake.url, 3, &stop), Uuid::new_v4());
    let run = s.run_chunk(Endpoint::Upsert, &chunk(&["a"])).await;
    assert!(run.stopped);
    assert_eq!(run.outcomes, [None]);
    assert_eq!(
        stop.reason(),
        Some(StopReason::Auth("HTTP 401: Log In".into()))
    );
    assert_eq!(fake.seen().len(), 1);

    let fake = Fake::start(|_| reply(400, json!({"error": "Wrong JSON body"})));
    let stop = Stop::new();
    let s = sender(client(&fake.url, 3, &stop), Uuid::new_v4());
    let run = s.run_chunk(Endpoint::Upsert, &chunk(&["a", "b"])).await;
    assert!(!run.stopped);
    let failed = Some(ItemOutcome::Failed {
        info: "HTTP 400: Wrong JSON body".into(),
        link_id: None,
    });
    assert_eq!(run.outcomes, [failed.clone(), failed]);
    assert_eq!(fake.seen().len(), 1);
    assert_eq!(stop.reason(), None);
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_after_the_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let stop = Stop::new();
    let c = client(&format!("http://127.0.0.1:{port}"), 2, &stop);
    let e = c
        .send(&Request {
            verb: Verb::Get,
            path: "/scim/v2/ServiceProviderConfig",
            query: &[],
            body: None,
            key: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Connect(_)), "{e:?}");
    assert!(e.to_string().contains("3 attempts"), "{e}");
}

/// A fake of the API: users by id, answers replayed by `Idempotency-Key`.
#[derive(Default)]
struct Api {
    users: HashMap<String, Value>,
    deleted: HashSet<String>,
    replies: HashMap<String, (Vec<u8>, String)>,
    taken_cards: HashSet<String>,
    limits: Option<(u64, u64)>,
    refuse_token: bool,
}

impl Api {
    fn handle(&mut self, seen: &Seen) -> Reply {
        if self.refuse_token {
            return reply(401, json!({"error": "Log In"}));
        }
        let key = seen.header("Idempotency-Key").map(str::to_owned);
        if let Some(k) = &key
            && let Some((body, answer)) = self.replies.get(k)
        {
            if body == &seen.body {
                return Reply {
                    status: 200,
                    body: answer.clone(),
                    headers: vec![("Idempotent-Replayed", "true".into())],
                };
            }
            return reply(
                422,
                json!({"error": "Idempotency-Key was already used for a different request"}),
            );
        }
        let dry = seen.query().contains(&("dry_run".into(), "true".into()));
        let r = match (seen.method.as_str(), seen.path()) {
            ("GET", "/scim/v2/ServiceProviderConfig") => match self.limits {
                Some((ops, bytes)) => reply(
                    200,
                    json!({"bulk": {"supported": true, "maxOperations": ops, "maxPayloadSize": bytes}}),
                ),
                None => reply(404, json!({"detail": "not found"})),
            },
            ("POST", "/api/v1/users/bulk") => {
                let mut result = Vec::new();
                for item in seen.json()["list_items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let id = item["link_id"]
                        .as_str()
                        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
                    let card = item["auth_factors"][0]["number"].as_str().unwrap_or("");
                    if self.taken_cards.contains(card) {
                        result.push(json!({"link_id": id, "success": false, "extended_info": "number_taken_by_another_identifier", "has_dublicates": false}));
                        continue;
                    }
                    let info = if self.users.contains_key(&id) {
                        "updated"
                    } else {
                        "created"
                    };
                    if !dry {
                        self.users.insert(id.clone(), item.clone());
                    }
                    result.push(json!({"link_id": id, "success": true, "extended_info": info, "has_dublicates": false}));
                }
                reply(200, json!({ "result": result }))
            }
            ("GET", "/api/v1/users") => {
                // Two users a page, to follow the cursor.
                let mut live: Vec<&String> = self
                    .users
                    .keys()
                    .filter(|id| !self.deleted.contains(*id))
                    .collect();
                live.sort();
                let q = seen.query();
                let start: usize = q
                    .iter()
                    .find(|(k, _)| k == "cursor")
                    .map_or(0, |(_, v)| v.parse().unwrap_or(0));
                let items: Vec<Value> = live
                    .iter()
                    .skip(start)
                    .take(2)
                    .map(|id| json!({"link_id": id}))
                    .collect();
                let next = (start + 2 < live.len()).then(|| (start + 2).to_string());
                reply(200, json!({"items": items, "next_cursor": next}))
            }
            ("POST", "/api/v1/users/bulk/delete") => {
                let ids: Vec<String> = seen.json()["ids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let mut messages = Vec::new();
                let mut applied = Vec::new();
                for (i, id) in ids.iter().enumerate() {
                    if self.users.contains_key(id) {
                        if !dry {
                            self.deleted.insert(id.clone());
                        }
                        applied.push(id.clone());
                    } else {
                        messages.push(json!({"type": 1, "code": 404, "message": format!("User {id} not found"), "field": format!("ids[{i}]")}));
                    }
                }
                reply(
                    200,
                    json!({"messages": messages, "count_of_errors": messages.len(), "id": null, "name": null,
                           "data": {"deleted": true, "ids": applied}, "url": null, "text": "", "inner_exception": null}),
                )
            }
            ("DELETE", "/api/v1/users/bulk") => {
                let mut result = Vec::new();
                for id in seen.json()["link_ids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let id = id.as_str().unwrap_or("").to_owned();
                    let found = !dry && self.users.remove(&id).is_some();
                    let info = if found { "deleted" } else { "not_found" };
                    result.push(json!({"link_id": id, "success": found, "extended_info": info}));
                }
                reply(200, json!({ "result": result }))
            }
            _ => reply(404, json!({"error": "no route"})),
        };
        if let Some(k) = key
            && r.status == 200
        {
            self.replies.insert(k, (seen.body.clone(), r.body.clone()));
        }
        r
    }
}

fn fake_api(api: Api) -> (Fake, Arc<Mutex<Api>>) {
    let api = Arc::new(Mutex::new(api));
    let shared = Arc::clone(&api);
    let fake = Fake::start(move |seen| shared.lock().unwrap().handle(seen));
    (fake, api)
}

#[tokio::test]
async fn the_same_run_is_replayed_and_a_new_run_applies_again() {
    let (fake, _) = fake_api(Api::default());
    let stop = Stop::new();
    let c = client(&fake.url, 2, &stop);
    let run_id = Uuid::new_v4();
    let mut ch = chunk(&["a"]);
    ch.items[0].json =
        json!({"link_id": "91c615e3-1040-4815-8ecb-039a18b756b5", "name": "a", "auth_factors": [{"type": "card", "number": "1"}]})
            .to_string();
    let first = sender(Arc::clone(&c), run_id)
        .run_chunk(Endpoint::Upsert, &ch)
        .await;
    let resumed = sender(Arc::clone(&c), run_id)
        .run_chunk(Endpoint::Upsert, &ch)
        .await;
    let fresh = sender(c, Uuid::new_v4())
        .run_chunk(Endpoint::Upsert, &ch)
        .await;
    assert_eq!(first.outcomes, [Some(ItemOutcome::Created)]);
    assert_eq!(
        resumed.outcomes,
        [Some(ItemOutcome::Created)],
        "same key: the first answer, replayed"
    );
    assert_eq!(fresh.outcomes, [Some(ItemOutcome::Updated)]);
}

// ---- The binary, end to end against the fake. ----

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("usersync-it-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn usersync(url: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_usersync"))
        .args(args)
        .env("USERSYNC_URL", url)
        .env("USERSYNC_TOKEN", "test-token")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const IDS: [&str; 5] = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003",
    "00000000-0000-4000-8000-000000000004",
    "00000000-0000-4000-8000-000000000005",
];

fn people(dir: &Path) -> PathBuf {
    let mut text = String::from("link_id,name,card,pin,active\n");
    for (i, id) in IDS.iter().enumerate() {
        text.push_str(&format!(
            "{id},Person {i},{},{}|9{i},yes\n",
            100 + i,
            500 + i
        ));
    }
    let path = dir.join("people.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn push_reports_failures_writes_them_back_and_resumes() {
    let (fake, api) = fake_api(Api {
        limits: Some((2, 100_000)),
        taken_cards: HashSet::from(["102".to_owned()]),
        ..Api::default()
    });
    let dir = temp_dir();
    let input = people(&dir);
    let (report, failed, state) = (
        dir.join("report.json"),
        dir.join("failed.csv"),
        dir.join("state.json"),
    );
    let args = [
        "push",
        p(&input),
        "--report",
        p(&report),
        "--failed-rows",
        p(&failed),
        "--resume",
        p(&state),
    ];
    let run = usersync(&fake.url, &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.last_line(),
        "usersync: 5 rows: 4 created, 0 updated, 0 deleted, 1 failed, 0 skipped"
    );
    // maxOperations 2: three requests of 2, 2 and 1 items.
    let sizes: Vec<usize> = fake
        .writes()
        .iter()
        .map(|s| s.json()["list_items"].as_array().unwrap().len())
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 2]);
    let first = fake.writes()[0].json();
    assert_eq!(
        first["list_items"][0]["auth_factors"],
        json!([{"type": "card", "number": "100"}, {"type": "pin", "number": "500"}, {"type": "pin", "number": "90"}])
    );
    assert_eq!(first["list_items"][0]["active"], json!(true));

    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        r["summary"],
        json!({"total": 5, "created": 4, "updated": 0, "deleted": 0, "failed": 1, "skipped": 0})
    );
    assert_eq!(
        r["failures"],
        json!([{"row": 3, "link_id": IDS[2], "name": "Person 2", "extended_info": "number_taken_by_another_identifier"}])
    );
    assert_eq!(
        std::fs::read_to_string(&failed).unwrap(),
        format!(
            "link_id,name,card,pin,active,error\n{},Person 2,102,502|92,yes,number_taken_by_another_identifier\n",
            IDS[2]
        )
    );
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(s["chunks"].as_array().unwrap().len(), 3);

    // The same state again: everything was confirmed, nothing is sent.
    let before = fake.writes().len();
    let again = usersync(&fake.url, &args);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert_eq!(
        again.last_line(),
        "usersync: 5 rows: 0 created, 0 updated, 0 deleted, 1 failed, 4 skipped"
    );
    assert_eq!(fake.writes().len(), before);

    // A fresh run of the same file really runs again: updated.
    api.lock().unwrap().taken_cards.clear();
    let fresh = usersync(&fake.url, &["push", p(&input), "--quiet"]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_eq!(
        fresh.last_line(),
        "usersync: 5 rows: 1 created, 4 updated, 0 deleted, 0 failed, 0 skipped"
    );

    // A changed input is refused with that state.
    std::fs::write(&input, "link_id,name,card\n,Other,1\n").unwrap();
    let changed = usersync(&fake.url, &args);
    assert_eq!(changed.code, 2);
    assert!(
        changed.stderr.contains("input file changed"),
        "{}",
        changed.stderr
    );
}

#[test]
fn invalid_rows_are_listed_and_nothing_is_sent() {
    let (fake, _) = fake_api(Api::default());
    let dir = temp_dir();
    let input = dir.join("bad.csv");
    std::fs::write(
        &input,
        "link_id,name,card,active\n\
         00000000-0000-4000-8000-000000000001,Ann,1,yes\n\
         00000000-0000-4000-8000-000000000001,Bo,2,maybe\n\
         ,Cy,1,\n",
    )
    .unwrap();
    let run = usersync(&fake.url, &["push", p(&input)]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("row 2, column active: `maybe` is not a boolean"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("row 3, column card: the same card number as row 1"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.last_line(),
        "usersync: 3 rows: 0 created, 0 updated, 0 deleted, 0 failed, 0 skipped (refused: nothing sent)"
    );
    assert!(fake.seen().is_empty());
}

#[test]
fn delete_missing_refuses_over_max_delete_before_sending_anything() {
    let mut users = HashMap::new();
    for i in 0..10 {
        users.insert(format!("10000000-0000-4000-8000-00000000000{i}"), json!({}));
    }
    let (fake, _) = fake_api(Api {
        users,
        limits: Some((1000, 6_000_000)),
        ..Api::default()
    });
    let dir = temp_dir();
    let input = people(&dir);
    let run = usersync(
        &fake.url,
        &[
            "push",
            p(&input),
            "--delete-missing",
            "--scope",
            "user_type=employee",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "would delete 10 of the 10 users in scope, more than --max-delete 5% allows (0)"
        ),
        "{}",
        run.stderr
    );
    assert!(fake.writes().is_empty());
    let listing: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path() == "/api/v1/users")
        .collect();
    assert_eq!(listing.len(), 5, "two users a page");
    assert!(listing[0].url.contains("limit=1000&user_type=employee"));
    assert!(listing[1].url.ends_with("&cursor=2"));
}

#[test]
fn delete_missing_soft_deletes_the_users_not_in_the_export() {
    let extra = "20000000-0000-4000-8000-000000000001";
    let mut users = HashMap::new();
    users.insert(extra.to_owned(), json!({}));
    users.insert(IDS[0].to_owned(), json!({}));
    let (fake, api) = fake_api(Api {
        users,
        limits: Some((1000, 6_000_000)),
        ..Api::default()
    });
    let dir = temp_dir();
    let input = people(&dir);
    let run = usersync(
        &fake.url,
        &["push", p(&input), "--delete-missing", "--max-delete", "1"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.last_line(),
        "usersync: 5 rows: 4 created, 1 updated, 1 deleted, 0 failed, 0 skipped"
    );
    let deletes: Vec<Seen> = fake
        .writes()
        .into_iter()
        .filter(|s| s.path() == "/api/v1/users/bulk/delete")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].json(), json!({"ids": [extra], "deleted": true}));
    assert!(deletes[0].header("Idempotency-Key").is_some());
    assert!(api.lock().unwrap().deleted.contains(extra));
}

#[test]
fn dry_runs_send_dry_run_true_and_say_so() {
    let (fake, api) = fake_api(Api::default());
    let dir = temp_dir();
    let input = people(&dir);
    let run = usersync(&fake.url, &["push", p(&input), "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: GET /scim/v2/ServiceProviderConfig answered 404"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.last_line(),
        "usersync: 5 rows: 5 created, 0 updated, 0 deleted, 0 failed, 0 skipped (dry run)"
    );
    assert!(
        fake.writes()
            .iter()
            .all(|s| s.url == "/api/v1/users/bulk?dry_run=true")
    );
    assert!(api.lock().unwrap().users.is_empty());
}

#[test]
fn a_refused_token_exits_3() {
    let (fake, _) = fake_api(Api {
        refuse_token: true,
        ..Api::default()
    });
    let dir = temp_dir();
    let input = people(&dir);
    let run = usersync(&fake.url, &["push", p(&input)]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("authentication failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("test-token"));
    assert!(!run.stdout.contains("test-token"));
}

#[test]
fn jsonl_input_and_failed_rows_round_trip() {
    let (fake, _) = fake_api(Api {
        taken_cards: HashSet::from(["7".to_owned()]),
        ..Api::default()
    });
    let dir = temp_dir();
    let input = dir.join("people.jsonl");
    std::fs::write(
        &input,
        "{\"name\": \"Ann\", \"auth_factors\": [{\"type\": \"card\", \"number\": \"7\"}, {\"type\": \"pin\", \"number\": 42}]}\n\
         \n\
         {\"name\": \"Bo\", \"auth_factors\": [{\"type\": \"card\", \"number\": \"8\"}]}\n",
    )
    .unwrap();
    let failed = dir.join("failed.jsonl");
    let run = usersync(
        &fake.url,
        &["push", p(&input), "--failed-rows", p(&failed), "--quiet"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line: Value =
        serde_json::from_str(std::fs::read_to_string(&failed).unwrap().trim()).unwrap();
    assert_eq!(line["name"], "Ann");
    assert_eq!(line["error"], "number_taken_by_another_identifier");
    assert_eq!(line["auth_factors"][1]["number"], 42);
}

#[cfg(unix)]
#[test]
fn sigint_stops_records_the_state_and_a_resume_finishes_without_applying_twice() {
    let api = Arc::new(Mutex::new(Api {
        limits: Some((1000, 6_000_000)),
        ..Api::default()
    }));
    let shared = Arc::clone(&api);
    let fake = Fake::start(move |seen| {
        if seen.method == "POST" {
            std::thread::sleep(Duration::from_millis(150));
        }
        shared.lock().unwrap().handle(seen)
    });
    let dir = temp_dir();
    let mut text = String::from("link_id,name,card\n");
    for i in 0..40 {
        text.push_str(&format!("00000000-0000-4000-8000-{i:012},P{i},c{i}\n"));
    }
    let input = dir.join("people.csv");
    std::fs::write(&input, text).unwrap();
    let state = dir.join("state.json");
    let args = [
        "push",
        p(&input),
        "--resume",
        p(&state),
        "--concurrency",
        "1",
        "--max-items",
        "2",
    ];
    let child = Command::new(env!("CARGO_BIN_EXE_usersync"))
        .args(args)
        .env("USERSYNC_URL", &fake.url)
        .env("USERSYNC_TOKEN", "test-token")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while fake.writes().len() < 3 {
        assert!(Instant::now() < until, "no requests");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.trim_end().ends_with("(interrupted)"), "{stdout}");
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let confirmed = recorded["chunks"].as_array().unwrap().len();
    assert!((1..20).contains(&confirmed), "{confirmed} chunks confirmed");
    assert_eq!(recorded["limits"]["max_items"], 2);

    // Resumed without --max-items: the recorded chunking, the confirmed chunks skipped.
    let run = usersync(
        &fake.url,
        &["push", p(&input), "--resume", p(&state), "--quiet"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let skipped = 2 * confirmed as u64;
    assert_eq!(
        run.last_line(),
        format!(
            "usersync: 40 rows: {} created, 0 updated, 0 deleted, 0 failed, {skipped} skipped",
            40 - skipped
        )
    );
    assert_eq!(api.lock().unwrap().users.len(), 40);
}
