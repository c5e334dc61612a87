//! A function binary running as a real process under the local Runtime API: spawn it,
//! time its start, invoke it, read its memory and its log lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::BenchError;
use crate::runtime_api::{INVOCATION_BUDGET, Outcome, RuntimeApi};

/// The AWS variables of the local stack (`local_aws_env` in scripts/lib.sh), passed on
/// from the bench's own environment when set.
pub const LOCAL_AWS_VARS: &[&str] = &[
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_EC2_METADATA_DISABLED",
];

/// What to run.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: String,
    /// The release binary.
    pub binary: PathBuf,
    /// The function's own settings (`TABLE_NAME`, `AUTH_JWT_SECRET`, `RUST_LOG`, ...).
    pub env: Vec<(String, String)>,
    /// Where to copy every line the function prints, if anywhere.
    pub log_file: Option<PathBuf>,
    /// Time from handing over an event to its deadline (the function's `Timeout`).
    pub budget: Duration,
}

impl FunctionSpec {
    /// A spec with the Lambda variables a 256 MB function sees plus [`LOCAL_AWS_VARS`].
    pub fn new(name: &str, binary: impl Into<PathBuf>) -> Self {
        let mut env: Vec<(String, String)> = LOCAL_AWS_VARS
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
            .collect();
        env.extend(
            [
                ("AWS_LAMBDA_FUNCTION_NAME", name),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/{name}")),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench"),
                ("TZ", ":UTC"),
                ("LANG", "en_US.UTF-8"),
                ("NO_COLOR", "1"),
                ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        Self {
            name: name.to_owned(),
            binary: binary.into(),
            env,
            log_file: None,
            budget: INVOCATION_BUDGET,
        }
    }

    /// Sets the time each invocation gets (default [`INVOCATION_BUDGET`], 29 s).
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Sets (or replaces) a variable.
    pub fn var(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Copies the function's output to `path`.
    pub fn log_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }
}

/// Resident memory of the process, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`, kB.
    pub rss_kb: u64,
    /// `VmHWM` (peak RSS since start or the last [`FunctionProcess::reset_peak`]), kB.
    pub peak_kb: u64,
}

/// One answered invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The `Lambda-Runtime-Aws-Request-Id`; the function's log lines carry it.
    pub request_id: String,
    /// From queueing the event to the answer.
    pub elapsed: Duration,
    /// From handing the event over to the answer.
    pub in_function: Duration,
    /// The response document the function posted.
    pub response: Value,
}

/// A running function.
pub struct FunctionProcess {
    name: String,
    child: Child,
    api: RuntimeApi,
    spawned_at: Instant,
    logs: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl FunctionProcess {
    /// Starts a Runtime API of its own and the binary under it (environment cleared,
    /// then `spec.env` and `AWS_LAMBDA_RUNTIME_API`).
    pub fn spawn(spec: &FunctionSpec) -> Result<Self, BenchError> {
        let api = RuntimeApi::start(&spec.name, spec.budget)?;
        let sink = match &spec.log_file {
            Some(p) => Some(Arc::new(Mutex::new(
                File::create(p).map_err(|e| BenchError::io(p.display(), e))?,
            ))),
            None => None,
        };
        let mut cmd = Command::new(&spec.binary);
        cmd.env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| BenchError::io(spec.binary.display(), e))?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect_lines(out, logs.clone(), sink.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect_lines(err, logs.clone(), sink));
        }
        Ok(Self {
            name: spec.name.clone(),
            child,
            api,
            spawned_at,
            logs,
            readers,
        })
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the function asks for its first event; returns the time from spawn
    /// to that request (the cold-start init time, without downloading the package).
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, BenchError> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(at) = self.api.first_next() {
                return Ok(at - self.spawned_at);
            }
            if let Some(e) = self.api.init_error() {
                return Err(self.failure(&format!("init error: {e}")));
            }
            self.check_alive()?;
            if Instant::now() >= until {
                return Err(self.failure(&format!("not ready within {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends one event and waits for the answer; an error answer, a crash or no answer
    /// within `timeout` is an error naming the last log lines.
    pub fn invoke(&mut self, event: &Value, timeout: Duration) -> Result<Invocation, BenchError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        self.api
            .enqueue(&request_id, event.to_string().into_bytes());
        let until = Instant::now() + timeout;
        let finished = loop {
            if let Some(f) = self.api.wait(&request_id, Duration::from_millis(100)) {
                break f;
            }
            self.check_alive()?;
            if Instant::now() >= until {
                return Err(self.failure(&format!("no answer to {request_id} within {timeout:?}")));
            }
        };
        match finished.outcome {
            Outcome::Response(body) => {
                let response =
                    serde_json::from_slice(&body).map_err(|source| BenchError::NotJson {
                        function: self.name.clone(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                        source,
                    })?;
                Ok(Invocation {
                    request_id,
                    elapsed: finished.elapsed,
                    in_function: finished.in_function,
                    response,
                })
            }
            Outcome::Error(body) => Err(self.failure(&format!(
                "invocation error: {}",
                String::from_utf8_lossy(&body)
            ))),
        }
    }

    /// Current and peak resident memory.
    pub fn memory(&self) -> Result<Memory, BenchError> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).map_err(|e| BenchError::io(&path, e))?;
        let field = |name: &'static str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .ok_or_else(|| BenchError::Proc {
                    path: path.clone(),
                    field: name,
                })
        };
        Ok(Memory {
            rss_kb: field("VmRSS:")?,
            peak_kb: field("VmHWM:")?,
        })
    }

    /// CPU time the process has used so far.
    pub fn cpu_time(&self) -> Result<Duration, BenchError> {
        cpu_time(self.pid())
    }

    /// Resets the peak (`VmHWM`) to the current RSS (`5` to `/proc/<pid>/clear_refs`).
    pub fn reset_peak(&self) -> Result<(), BenchError> {
        let path = format!("/proc/{}/clear_refs", self.pid());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"5"))
            .map_err(|e| BenchError::io(&path, e))
    }

    /// Every line printed so far (stdout and stderr, ANSI colours removed).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The number of log lines so far: a mark for [`Self::wait_log_since`].
    pub fn log_mark(&self) -> usize {
        self.logs.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Waits up to `timeout` for a line printed after `mark` that matches `pred` (log
    /// lines travel through a pipe and may arrive just after the answer).
    pub fn wait_log_since(
        &self,
        mark: usize,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        let until = Instant::now() + timeout;
        loop {
            let found = self.logs.lock().ok().and_then(|l| {
                l.get(mark..)
                    .and_then(|new| new.iter().find(|line| pred(line)).cloned())
            });
            if found.is_some() || Instant::now() >= until {
                return found;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The last `n` log lines, one per line.
    pub fn log_tail(&self, n: usize) -> String {
        let logs = self.logs();
        logs[logs.len().saturating_sub(n)..].join("\n")
    }

    fn check_alive(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.failure(&format!("exited ({status})"))),
            Err(e) => Err(self.failure(&format!("wait failed: {e}"))),
        }
    }

    fn failure(&self, what: &str) -> BenchError {
        // Give the pipes a moment so the last lines are included.
        std::thread::sleep(Duration::from_millis(50));
        BenchError::Process {
            function: self.name.clone(),
            pid: self.pid(),
            what: what.to_owned(),
            log_tail: self.log_tail(20),
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

fn collect_lines<R: Read + Send + 'static>(
    from: R,
    into: Arc<Mutex<Vec<String>>>,
    sink: Option<Arc<Mutex<File>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let line = strip_ansi(&line);
            if let Some(f) = &sink
                && let Ok(mut f) = f.lock()
            {
                let _ = writeln!(f, "{line}");
            }
            if let Ok(mut l) = into.lock() {
                l.push(line);
            }
        }
    })
}

/// CPU time (user + system, all threads, exited ones included) process `pid` has used
/// so far, from `/proc/<pid>/stat` (in USER_HZ ticks, 100 per second on Linux).
pub fn cpu_time(pid: u32) -> Result<Duration, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| BenchError::io(&path, e))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => Ok(Duration::from_millis((u + s) * 10)),
        _ => Err(BenchError::Proc {
            path,
            field: "utime/stime",
        }),
    }
}

/// CPU time all processes of the machine have used since boot (the busy fields of the
/// `cpu` line of `/proc/stat`: user, nice, system, irq, softirq, steal).
pub fn machine_busy() -> Result<Duration, BenchError> {
    let stat =
        std::fs::read_to_string("/proc/stat").map_err(|e| BenchError::io("/proc/stat", e))?;
    let no_cpu_line = || BenchError::Proc {
        path: "/proc/stat".into(),
        field: "full cpu line",
    };
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(no_cpu_line)?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    if f.len() < 8 {
        return Err(no_cpu_line());
    }
    // user nice system idle iowait irq softirq steal
    let busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
    Ok(Duration::from_millis(busy * 10))
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_of_this_process_is_read() {
        let before = cpu_time(std::process::id()).unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(std::process::id()).unwrap() >= before);
        assert!(machine_busy().unwrap() >= cpu_time(std::process::id()).unwrap());
    }

    #[test]
    fn ansi_colours_are_removed() {
        assert_eq!(
            strip_ansi("\u{1b}[32m INFO\u{1b}[0m upsert done \u{1b}[3mx\u{1b}[0m=1"),
            " INFO upsert done x=1"
        );
    }
}
