//! The `usersync` pass: the client's release binary syncs a generated HR export through
//! an HTTP gateway hosted by the bench, which hands each request to one of several
//! `upsert-users` processes (as API Gateway and Lambda do: one request per process at a
//! time, as many processes as requests in flight) and the limits request to a `scim`
//! process.
//!
//! Measured per run: the client's wall time and rows per second, the client's CPU time
//! against the summed in-function time of the requests it caused (its overhead, goal
//! ≤ 10%), and the client's peak RSS (goal ≤ 64 MB whatever the file size: a small and
//! a large export are both synced). The same large export is synced twice: the first
//! run creates every row, the second updates every row.

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tiny_http::{Header, Response, Server};

use crate::error::BenchError;
use crate::event::HttpEvent;
use crate::fixtures;
use crate::process::{FunctionProcess, cpu_time};
use crate::runner::{Bench, progress};
use crate::scenario::{SCIM, UPSERT};

/// Requests in flight: `usersync --concurrency` and the upsert processes serving them.
pub const SYNC_CONCURRENCY: usize = 4;
/// Rows of the export that shows the memory does not grow with the file.
pub const SMALL_ROWS: usize = 10_000;
/// Client overhead target: CPU time over the summed function time.
const OVERHEAD_TARGET: f64 = 0.10;
/// Client peak RSS target, MiB.
const PEAK_TARGET_MIB: f64 = 64.0;

/// What one sync measured.
#[derive(Clone, Debug)]
pub struct SyncRun {
    /// What the run was.
    pub label: String,
    /// Rows of the export.
    pub rows: usize,
    /// Its size.
    pub file_bytes: u64,
    /// The client's wall time.
    pub wall: Duration,
    /// The client's CPU time (user + system).
    pub client_cpu: Duration,
    /// The client's peak RSS (kB).
    pub client_peak_kb: u64,
    /// Requests the functions answered.
    pub requests: usize,
    /// Their summed in-function time.
    pub function_time: Duration,
}

impl SyncRun {
    /// Client CPU over the summed function time.
    pub fn overhead(&self) -> f64 {
        self.client_cpu.as_secs_f64() / self.function_time.as_secs_f64().max(1e-9)
    }

    /// Rows per second of wall time.
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Runs the pass: a small export, then a large one twice, on a fresh table.
pub fn run(b: &mut Bench, rows: usize, usersync: &Path) -> Result<Vec<SyncRun>, BenchError> {
    let table = format!("bench_{}_sync", b.run_id);
    b.create_table(&table)?;
    let dir = b.log_dir().to_path_buf();
    let small = dir.join("sync-small.csv");
    let large = dir.join("sync-large.csv");
    let small_rows = SMALL_ROWS.min(rows);
    write_export(&small, 0, small_rows)?;
    write_export(&large, SMALL_ROWS, rows)?;
    let mut upserts = Vec::with_capacity(SYNC_CONCURRENCY);
    for i in 0..SYNC_CONCURRENCY {
        upserts.push(b.spawn(&UPSERT, &table, &format!("sync{i}"))?);
    }
    let scim = b.spawn(&SCIM, &table, "sync")?;
    let gateway = Gateway::start(upserts, scim)?;
    let runs = [
        (
            "small export, every row created",
            &small,
            small_rows,
            "created",
        ),
        ("large export, every row created", &large, rows, "created"),
        (
            "large export again, every row updated",
            &large,
            rows,
            "updated",
        ),
    ];
    let mut results = Vec::new();
    let mut outcome = Ok(());
    for (label, file, rows, expect) in runs {
        progress(&format!("usersync: {label}"));
        match sync_once(&gateway, usersync, (file, rows), label, expect, &dir) {
            Ok(run) => results.push(run),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    for f in gateway.stop() {
        b.retire(f);
    }
    let _ =
        b.rt.block_on(b.client.delete_table().table_name(&table).send());
    outcome.map(|()| results)
}

/// Writes `count` users numbered from `first` as the CSV an HR system exports.
fn write_export(path: &Path, first: usize, count: usize) -> Result<(), BenchError> {
    let file = std::fs::File::create(path).map_err(|e| BenchError::io(path.display(), e))?;
    let mut out = BufWriter::new(file);
    let io = |e| BenchError::io(path.display(), e);
    writeln!(out, "link_id,name,email,user_type,active,card,pin").map_err(io)?;
    for i in first..first + count {
        let id = uuid::Uuid::from_u128(0x5ce0_0000_0000_4000_8000_0000_0000_0000 | i as u128);
        writeln!(
            out,
            "{id},Sync Person {i},person{i}@example.com,employee,true,SC{i}|SD{i},{}",
            10_000_000 + i
        )
        .map_err(io)?;
    }
    out.flush().map_err(io)
}

/// Runs `usersync push` on `file` and measures it.
fn sync_once(
    gateway: &Gateway,
    usersync: &Path,
    (file, rows): (&Path, usize),
    label: &str,
    expect: &str,
    dir: &Path,
) -> Result<SyncRun, BenchError> {
    let report = dir.join("sync-report.json");
    let _ = std::fs::remove_file(&report);
    gateway.reset();
    let started = Instant::now();
    let mut child = Command::new(usersync)
        .arg("push")
        .arg(file)
        .arg("--concurrency")
        .arg(SYNC_CONCURRENCY.to_string())
        .arg("--quiet")
        .arg("--report")
        .arg(&report)
        .env("USERSYNC_URL", gateway.url())
        .env("USERSYNC_TOKEN", fixtures::admin_token())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::io(usersync.display(), e))?;
    let pid = child.id();
    // Sampled until the process has exited (a zombie still shows its CPU times; its
    // memory figures are gone, so the peak is the last one seen alive).
    let mut peak_kb = 0;
    let mut cpu = Duration::ZERO;
    loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak_kb = peak_kb.max(kb);
        }
        if let Ok(c) = cpu_time(pid) {
            cpu = c;
        }
        if is_zombie(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    let status = child
        .wait()
        .map_err(|e| BenchError::io(usersync.display(), e))?;
    let wall = started.elapsed();
    if !status.success() {
        return Err(BenchError::Scenario(format!(
            "usersync {label}: {status}\n{stdout}\n{stderr}"
        )));
    }
    let text = std::fs::read_to_string(&report).map_err(|e| BenchError::io(report.display(), e))?;
    let summary: Value = serde_json::from_str::<Value>(&text)
        .map(|v| v["summary"].clone())
        .map_err(|e| BenchError::Scenario(format!("usersync report: {e}")))?;
    if summary[expect].as_u64() != Some(rows as u64) || summary["failed"].as_u64() != Some(0) {
        return Err(BenchError::Scenario(format!(
            "usersync {label}: expected {rows} {expect}, the report says {summary}"
        )));
    }
    let (requests, function_time) = gateway.totals();
    Ok(SyncRun {
        label: label.to_owned(),
        rows,
        file_bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
        wall,
        client_cpu: cpu,
        client_peak_kb: peak_kb,
        requests,
        function_time,
    })
}

/// `VmHWM` of a live process, kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Whether the process has exited (and not been reaped yet), or is gone.
fn is_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// The HTTP front of the functions: worker threads, each with an `upsert-users`
/// process of its own, and one `scim` process they share for the limits.
struct Gateway {
    url: String,
    stop: Arc<AtomicBool>,
    totals: Arc<Mutex<(usize, Duration)>>,
    workers: Vec<std::thread::JoinHandle<FunctionProcess>>,
    scim: Arc<Mutex<FunctionProcess>>,
}

impl Gateway {
    fn start(upserts: Vec<FunctionProcess>, scim: FunctionProcess) -> Result<Self, BenchError> {
        let server = Server::http("127.0.0.1:0")
            .map_err(|e| BenchError::Scenario(format!("gateway: {e}")))?;
        let url = format!(
            "http://127.0.0.1:{}",
            server.server_addr().to_ip().map_or(0, |a| a.port())
        );
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let totals = Arc::new(Mutex::new((0, Duration::ZERO)));
        let scim = Arc::new(Mutex::new(scim));
        let workers = upserts
            .into_iter()
            .map(|mut upsert| {
                let (server, stop, totals, scim) =
                    (server.clone(), stop.clone(), totals.clone(), scim.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) else {
                            continue;
                        };
                        serve(req, &mut upsert, &scim, &totals);
                    }
                    upsert
                })
            })
            .collect();
        Ok(Self {
            url,
            stop,
            totals,
            workers,
            scim,
        })
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn reset(&self) {
        if let Ok(mut t) = self.totals.lock() {
            *t = (0, Duration::ZERO);
        }
    }

    /// Upsert requests answered and their summed in-function time since the reset.
    fn totals(&self) -> (usize, Duration) {
        self.totals.lock().map(|t| *t).unwrap_or_default()
    }

    /// Stops the workers; gives back every process.
    fn stop(self) -> Vec<FunctionProcess> {
        self.stop.store(true, Ordering::Relaxed);
        let mut processes: Vec<FunctionProcess> = self
            .workers
            .into_iter()
            .filter_map(|w| w.join().ok())
            .collect();
        if let Ok(scim) = Arc::try_unwrap(self.scim)
            && let Ok(f) = scim.into_inner()
        {
            processes.push(f);
        }
        processes
    }
}

/// Answers one request through the function its path belongs to.
fn serve(
    mut req: tiny_http::Request,
    upsert: &mut FunctionProcess,
    scim: &Mutex<FunctionProcess>,
    totals: &Mutex<(usize, Duration)>,
) {
    let event = to_event(&mut req);
    let is_scim = event.path.starts_with("/scim/");
    let invoked = if is_scim {
        match scim.lock() {
            Ok(mut f) => f.invoke(&event.to_event(), SCIM.timeout),
            Err(_) => Err(BenchError::Scenario("scim process lock".into())),
        }
    } else {
        upsert.invoke(&event.to_event(), UPSERT.timeout)
    };
    let answer = match invoked {
        Ok(inv) => {
            if !is_scim && let Ok(mut t) = totals.lock() {
                t.0 += 1;
                t.1 += inv.in_function;
            }
            to_response(&inv.response)
        }
        Err(e) => {
            Response::from_string(format!("{{\"error\":\"gateway: {e}\"}}")).with_status_code(502)
        }
    };
    let _ = req.respond(answer);
}

/// The API Gateway event of an HTTP request.
fn to_event(req: &mut tiny_http::Request) -> HttpEvent {
    let url = req.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut event = HttpEvent::new(req.method().as_str(), path);
    event.query = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    event.headers = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .filter(|(k, _)| k != "host" && k != "content-length")
        .collect();
    let mut body = String::new();
    if req.as_reader().read_to_string(&mut body).is_ok() && !body.is_empty() {
        event.body = Some(body);
    }
    event
}

/// The HTTP answer of a function's response document.
fn to_response(response: &Value) -> Response<std::io::Cursor<Vec<u8>>> {
    let status = response["statusCode"].as_u64().unwrap_or(502) as u16;
    let body = response["body"].as_str().unwrap_or_default().to_owned();
    let mut answer = Response::from_string(body).with_status_code(status);
    if let Some(headers) = response["headers"].as_object() {
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("content-length") {
                continue;
            }
            if let Some(h) = v
                .as_str()
                .and_then(|v| Header::from_bytes(k.as_bytes(), v.as_bytes()).ok())
            {
                answer.add_header(h);
            }
        }
    }
    answer
}

/// The report's section.
pub fn markdown(runs: &[SyncRun]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## usersync: an HR export synced through the API\n");
    let _ = writeln!(
        o,
        "`usersync push FILE --concurrency {SYNC_CONCURRENCY}` (release build) against an HTTP \
         gateway in the bench that hands each request to one of {SYNC_CONCURRENCY} \
         `upsert-users` processes. Overhead: the client's CPU time over the summed \
         in-function time of its requests (target ≤ {:.0}%); peak RSS target \
         {PEAK_TARGET_MIB:.0} MiB whatever the file size.\n",
        OVERHEAD_TARGET * 100.0
    );
    let _ = writeln!(
        o,
        "| run | rows | file | wall | rows/s | requests | function time (sum) | client CPU | overhead | client peak RSS |"
    );
    let _ = writeln!(
        o,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in runs {
        let mark = |ok: bool| if ok { "" } else { " **(missed)**" };
        let peak = r.client_peak_kb as f64 / 1024.0;
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} MiB | {:.1} s | {:.0} | {} | {:.1} s | {:.2} s | {:.1}%{} | {:.1} MiB{} |",
            r.label,
            r.rows,
            r.file_bytes as f64 / 1_048_576.0,
            r.wall.as_secs_f64(),
            r.rows_per_second(),
            r.requests,
            r.function_time.as_secs_f64(),
            r.client_cpu.as_secs_f64(),
            r.overhead() * 100.0,
            mark(r.overhead() <= OVERHEAD_TARGET),
            peak,
            mark(peak <= PEAK_TARGET_MIB),
        );
    }
    o.push('\n');
    o
}

/// Where `usersync` is: beside the bench binary.
pub fn binary(bin_dir: &Path) -> PathBuf {
    bin_dir.join("usersync")
}
