//! A minimal AWS Lambda Runtime API on 127.0.0.1, enough to run a real function binary
//! (built with `lambda_runtime`) as a separate process and invoke it one event at a time.
//!
//! Served: `GET /2018-06-01/runtime/invocation/next` (long poll until an event is
//! queued), `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error` and
//! `POST /2018-06-01/runtime/init/error`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tiny_http::{Header, Method, Request, Response, Server};

use crate::error::BenchError;

const PREFIX: &str = "/2018-06-01/runtime";

/// The time a function behind API Gateway gets per invocation, as Lambda's
/// `Lambda-Runtime-Deadline-Ms` (the template's `Timeout: 29`; API Gateway waits 30 s).
pub const INVOCATION_BUDGET: Duration = Duration::from_secs(29);

/// How an invocation ended, as the function reported it.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// `POST .../response` with this body.
    Response(Vec<u8>),
    /// `POST .../error` with this body.
    Error(Vec<u8>),
}

/// One finished invocation.
#[derive(Clone, Debug)]
pub struct Finished {
    /// What the function answered.
    pub outcome: Outcome,
    /// From queueing the event to the answer (what a caller of Lambda waits, minus the
    /// network): the measured latency.
    pub elapsed: Duration,
    /// From handing the event to the function to its answer.
    pub in_function: Duration,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    queued_at: HashMap<String, Instant>,
    dispatched_at: HashMap<String, Instant>,
    done: HashMap<String, Finished>,
    first_next: Option<Instant>,
    init_error: Option<String>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    function_arn: String,
    budget: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The emulator: a listening socket and the thread serving it.
pub struct RuntimeApi {
    addr: SocketAddr,
    server: Arc<Server>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl RuntimeApi {
    /// Listens on a free port of 127.0.0.1; each invocation gets `budget` until its
    /// deadline (the function's configured timeout).
    pub fn start(function_name: &str, budget: Duration) -> Result<Self, BenchError> {
        let server = Server::http("127.0.0.1:0").map_err(BenchError::RuntimeApi)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| BenchError::RuntimeApi("not listening on an IP address".into()))?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function_name}"),
            budget,
        });
        let thread = {
            let (server, shared) = (server.clone(), shared.clone());
            std::thread::spawn(move || serve(&server, &shared))
        };
        Ok(Self {
            addr,
            server,
            shared,
            thread: Some(thread),
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for an event (it is initialised then).
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.lock().first_next
    }

    /// What the function reported to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        self.shared.lock().init_error.clone()
    }

    /// Queues an event under `request_id`.
    pub fn enqueue(&self, request_id: &str, event: Vec<u8>) {
        let mut state = self.shared.lock();
        state.queue.push_back((request_id.to_owned(), event));
        state
            .queued_at
            .insert(request_id.to_owned(), Instant::now());
        self.shared.changed.notify_all();
    }

    /// Waits up to `timeout` for the answer to `request_id`; `None` on timeout.
    pub fn wait(&self, request_id: &str, timeout: Duration) -> Option<Finished> {
        let until = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(f) = state.done.remove(request_id) {
                return Some(f);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &Server, shared: &Arc<Shared>) {
    for request in server.incoming_requests() {
        if shared.lock().shutdown {
            break;
        }
        route(request, shared);
    }
}

fn route(mut request: Request, shared: &Arc<Shared>) {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(request, 404, r#"{"errorMessage":"not found"}"#);
    };
    let method = request.method().clone();
    match (method, rest) {
        (Method::Get, "/invocation/next") => {
            {
                let mut state = shared.lock();
                state.first_next.get_or_insert_with(Instant::now);
            }
            // Long poll on a thread of its own: answers may arrive meanwhile.
            let shared = shared.clone();
            std::thread::spawn(move || next(request, &shared));
        }
        (Method::Post, "/init/error") => {
            let body = read_body(&mut request);
            shared.lock().init_error = Some(String::from_utf8_lossy(&body).into_owned());
            shared.changed.notify_all();
            reply(request, 202, r#"{"status":"OK"}"#);
        }
        (Method::Post, rest) => {
            let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
            let (id, kind) = match parts.as_slice() {
                ["invocation", id, kind @ ("response" | "error")] => {
                    ((*id).to_owned(), (*kind).to_owned())
                }
                _ => return reply(request, 404, r#"{"errorMessage":"not found"}"#),
            };
            let body = read_body(&mut request);
            let now = Instant::now();
            let mut state = shared.lock();
            let queued = state.queued_at.remove(&id);
            let dispatched = state.dispatched_at.remove(&id);
            let (Some(queued), Some(dispatched)) = (queued, dispatched) else {
                drop(state);
                return reply(request, 400, r#"{"errorMessage":"unknown request id"}"#);
            };
            let outcome = if kind == "response" {
                Outcome::Response(body)
            } else {
                Outcome::Error(body)
            };
            state.done.insert(
                id,
                Finished {
                    outcome,
                    elapsed: now - queued,
                    in_function: now - dispatched,
                },
            );
            drop(state);
            shared.changed.notify_all();
            reply(request, 202, r#"{"status":"OK"}"#);
        }
        _ => reply(request, 404, r#"{"errorMessage":"not found"}"#),
    }
}

/// Answers a `/next` once an event is queued (or never, at shutdown).
fn next(request: Request, shared: &Shared) {
    let mut state = shared.lock();
    let (id, event) = loop {
        if state.shutdown {
            return;
        }
        if let Some(e) = state.queue.pop_front() {
            break e;
        }
        state = shared
            .changed
            .wait_timeout(state, Duration::from_millis(200))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    };
    state.dispatched_at.insert(id.clone(), Instant::now());
    drop(state);
    let deadline = SystemTime::now()
        .checked_add(shared.budget)
        .unwrap_or_else(SystemTime::now)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        &uuid::Uuid::new_v4().simple().to_string()[..24],
        &uuid::Uuid::new_v4().simple().to_string()[..16],
    );
    let response = Response::from_data(event)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Lambda-Runtime-Aws-Request-Id", &id))
        .with_header(header("Lambda-Runtime-Deadline-Ms", &deadline.to_string()))
        .with_header(header(
            "Lambda-Runtime-Invoked-Function-Arn",
            &shared.function_arn,
        ))
        .with_header(header("Lambda-Runtime-Trace-Id", &trace));
    // A function that went away before reading its event is noticed by the caller.
    let _ = request.respond(response);
}

fn read_body(request: &mut Request) -> Vec<u8> {
    let mut body = Vec::with_capacity(request.body_length().unwrap_or(0));
    let _ = request.as_reader().read_to_end(&mut body);
    body
}

fn reply(request: Request, status: u16, body: &str) {
    let response = Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"));
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> Header {
    // Names and values are ASCII built by this module.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("an ASCII header")
}
