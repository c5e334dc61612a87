//! The one pipeline every HTTP endpoint runs. An endpoint is its [`Dialect`] (how its
//! answers look to the clients that already parse them), its parse function and its
//! service call; the steps are written here once:
//!
//! 1. the deadline starts (the Lambda deadline minus the margin);
//! 2. the dialect reads what the answers depend on (the body's format, `Accept`) and may
//!    refuse a body it cannot read (415);
//! 3. the caller must be an administrator (401, 403);
//! 4. the request is parsed; a structural problem refuses it whole (400), nothing written;
//! 5. an `Idempotency-Key` is claimed, or its first answer replayed (409, 422) — by
//!    endpoints that write; a read is safe to repeat and ignores the header;
//! 6. the service runs, its DynamoDB requests counted;
//! 7. one summary log line; the answer — or a 503 with `Retry-After` when nothing could
//!    be applied because DynamoDB could not be reached, a 404 when the one user named
//!    does not exist;
//! 8. one metrics document (EMF): the answer's status class, the dialect's counts, the
//!    DynamoDB requests and retries.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Mutex;

use lambda_http::{Body, Request, Response};

use crate::app::App;
use crate::auth::Principal;
use crate::deadline::Deadline;
use crate::http::error::RequestError;
use crate::http::idempotency;
use crate::http::query;
use crate::http::web;
use crate::metrics::Metrics;
use crate::store::calls::CallCounts;
use crate::store::{Store, StoreError};

/// How one endpoint's answers look. Clients of each endpoint already parse one shape, so
/// every answer, success or refusal, is rendered by the endpoint's dialect
/// (docs/contracts.md#dialects).
pub trait Dialect: Sized {
    /// What the service answers with when it ran.
    type Answer;

    /// The dialect of this request (formats read from its headers), and a refusal when
    /// the request cannot be read at all (a body in a format the endpoint does not read).
    fn negotiate(req: &Request) -> (Self, Result<(), RequestError>);

    /// A request-level error: a refusal before any work, an `Idempotency-Key` refusal,
    /// a 404 or a 503.
    fn error(&self, err: &RequestError) -> Response<Body>;

    /// The answer of a service that ran.
    fn success(&self, answer: &Self::Answer) -> Response<Body>;

    /// Nothing was applied because DynamoDB could not be reached, stalled or kept
    /// throttling for the whole request: the request is then answered 503.
    fn nothing_applied(&self, answer: &Self::Answer) -> bool;

    /// The summary log line of a service that ran (the dialect's own counts).
    fn log_done(&self, operation: &str, answer: &Self::Answer, calls: &CallCounts);

    /// The dialect's counts of a service that ran, as metrics (`items`,
    /// `items_not_processed`, ...; docs/operations.md lists them).
    fn metrics(&self, answer: &Self::Answer, metrics: &mut Metrics);
}

/// Why a service ended without an answer of its own.
#[derive(Debug)]
pub enum Failure {
    /// The one user the request names does not exist (404).
    NotFound,
    /// The store failed before anything was applied (503).
    Store(StoreError),
    /// The request is refused for what the service found (nothing applied).
    Refused(RequestError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// An endpoint of dialect `D`, named `operation` in logs and `Idempotency-Key` scopes.
#[derive(Debug)]
pub struct Endpoint<D> {
    operation: &'static str,
    writes: bool,
    /// A dry run: its answer's counts are not published as outcomes.
    dry: bool,
    dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> Endpoint<D> {
    /// The endpoint `operation`, which writes (`Idempotency-Key` honoured).
    pub const fn new(operation: &'static str) -> Self {
        Self {
            operation,
            writes: true,
            dry: false,
            dialect: PhantomData,
        }
    }

    /// The endpoint `operation`, which only reads (no `Idempotency-Key` step).
    pub const fn reading(operation: &'static str) -> Self {
        Self {
            operation,
            writes: false,
            dry: false,
            dialect: PhantomData,
        }
    }

    /// [`Endpoint::serve`] for a bulk endpoint that also answers dry runs
    /// (`?dry_run=true`): the service is given the store to work on, which for a dry run
    /// is [`Store::dry_run`]'s copy (it reads the table and writes nothing), and a dry
    /// run skips the `Idempotency-Key` step (it neither replays nor records an answer;
    /// a malformed key is still refused).
    /// A bad `dry_run` value is refused like a bad body, after the caller's check.
    pub async fn serve_or_dry_run<T, P, S, F>(
        &self,
        app: &App,
        req: &Request,
        parse: P,
        service: S,
    ) -> Response<Body>
    where
        P: FnOnce(&Request, &D) -> Result<T, RequestError>,
        S: FnOnce(Store, Principal, T, Deadline) -> F,
        F: Future<Output = Result<D::Answer, Failure>>,
    {
        // A bad value is refused by `parse` below, after the caller's check.
        let dry_run = query::dry_run(req);
        let dry = matches!(dry_run, Ok(true));
        let endpoint = Self {
            operation: self.operation,
            writes: self.writes && !dry,
            dry,
            dialect: PhantomData,
        };
        let store = if dry {
            app.store.dry_run()
        } else {
            app.store.clone()
        };
        endpoint
            .serve(
                app,
                req,
                |req, dialect| {
                    dry_run?;
                    let input = parse(req, dialect)?;
                    if dry {
                        // Not claimed, but refused as a real request would refuse it.
                        idempotency::key(req)?;
                    }
                    Ok(input)
                },
                |who, input, deadline| service(store, who, input, deadline),
            )
            .await
    }

    /// Runs the pipeline: `parse` reads the request (the dialect tells the body's
    /// format), `service` does the work for the administrator who sent it.
    pub async fn serve<T, P, S, F>(
        &self,
        app: &App,
        req: &Request,
        parse: P,
        service: S,
    ) -> Response<Body>
    where
        P: FnOnce(&Request, &D) -> Result<T, RequestError>,
        S: FnOnce(Principal, T, Deadline) -> F,
        F: Future<Output = Result<D::Answer, Failure>>,
    {
        let metrics = Mutex::new(Metrics::new(self.operation));
        let response = self.respond(app, req, parse, service, &metrics).await;
        let mut metrics = metrics.into_inner().unwrap_or_else(|e| e.into_inner());
        let status = response.status();
        metrics
            .add("requests", 1)
            .add("responses_4xx", u64::from(status.is_client_error()))
            .add("responses_5xx", u64::from(status.is_server_error()));
        app.metrics.emit(&metrics);
        response
    }

    /// The pipeline's answer; what the service did goes into `metrics`.
    async fn respond<T, P, S, F>(
        &self,
        app: &App,
        req: &Request,
        parse: P,
        service: S,
        metrics: &Mutex<Metrics>,
    ) -> Response<Body>
    where
        P: FnOnce(&Request, &D) -> Result<T, RequestError>,
        S: FnOnce(Principal, T, Deadline) -> F,
        F: Future<Output = Result<D::Answer, Failure>>,
    {
        let operation = self.operation;
        let deadline = web::deadline(req, &app.config);
        let (dialect, readable) = D::negotiate(req);
        if let Err(e) = readable {
            return dialect.error(&e);
        }
        let principal = match web::require_admin(req, &app.config.auth) {
            Ok(p) => p,
            Err(e) => return dialect.error(&e),
        };
        let input = match parse(req, &dialect) {
            Ok(input) => input,
            Err(e) => return dialect.error(&e),
        };
        let subject = principal.subject.clone();
        let run = || async {
            let (result, calls) = app.counted(service(principal, input, deadline)).await;
            if let Ok(mut m) = metrics.lock() {
                m.dynamodb(&calls);
                match &result {
                    Ok(_) if self.dry => {
                        m.add("dry_runs", 1);
                    }
                    Ok(answer) => dialect.metrics(answer, &mut m),
                    Err(_) => {}
                }
            }
            match result {
                Ok(answer) if dialect.nothing_applied(&answer) => {
                    tracing::error!(
                        operation,
                        dynamodb_calls = %calls,
                        "{operation}: DynamoDB could not be reached, nothing applied"
                    );
                    dialect.error(&RequestError::Unavailable)
                }
                Ok(answer) => {
                    dialect.log_done(operation, &answer, &calls);
                    dialect.success(&answer)
                }
                Err(Failure::NotFound) => dialect.error(&RequestError::NotFound),
                Err(Failure::Refused(e)) => dialect.error(&e),
                Err(Failure::Store(e)) => {
                    tracing::error!(operation, error = ?e, dynamodb_calls = %calls, "{operation} failed before writing");
                    dialect.error(&RequestError::Unavailable)
                }
            }
        };
        if !self.writes {
            return run().await;
        }
        let refuse = |e: &RequestError| dialect.error(e);
        idempotency::once(&app.store, req, operation, &subject, &deadline, refuse, run).await
    }
}
