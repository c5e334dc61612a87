//! One measured invocation of a running function: its latency, the CPU of the function
//! and of DynamoDB Local meanwhile, its peak RSS, and the DynamoDB requests its summary
//! log line reports. Every scenario invokes through here.

use std::time::Duration;

use serde_json::Value;

use crate::error::BenchError;
use crate::floor::{Calls, CpuMark};
use crate::process::{FunctionProcess, Invocation};

/// What one invocation measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The answer and its timing.
    pub invocation: Invocation,
    /// The `dynamodb_calls` field of the invocation's summary log line.
    pub calls: Calls,
    /// `VmHWM` after the invocation, the peak reset before it (kB).
    pub peak_kb: u64,
    /// CPU time of the function process during the invocation.
    pub cpu: Duration,
    /// CPU time of DynamoDB Local during the invocation, when its pid is known.
    pub server_cpu: Option<Duration>,
}

/// Sends `event`, waits for the answer, measures it, runs `check` on the response
/// document (an `Err` aborts the bench), then reads the `dynamodb_calls` of the log line
/// containing `done` that the function printed for this request.
pub fn invoke_checked<T>(
    f: &mut FunctionProcess,
    event: &Value,
    done: &str,
    server_pid: Option<u32>,
    timeout: Duration,
    check: impl FnOnce(&Value) -> Result<T, BenchError>,
) -> Result<(Measured, T), BenchError> {
    f.reset_peak()?;
    let mark = f.log_mark();
    let cpu_before = f.cpu_time()?;
    let server = CpuMark::now(server_pid);
    let invocation = f.invoke(event, timeout)?;
    let (_, server_cpu) = server.since(server_pid);
    let cpu = f.cpu_time()?.saturating_sub(cpu_before);
    let peak_kb = f.memory()?.peak_kb;
    let checked = check(&invocation.response)?;
    let line = f
        .wait_log_since(mark, |l| l.contains(done), Duration::from_secs(5))
        .ok_or_else(|| BenchError::Log {
            function: f.name().to_owned(),
            what: format!(
                "no `{done}` log line for request {} (is RUST_LOG=info?)\n{}",
                invocation.request_id,
                f.log_tail(10)
            ),
        })?;
    let log_error = |what: String| BenchError::Log {
        function: f.name().to_owned(),
        what,
    };
    if line.contains("requestId=") && !line.contains(&invocation.request_id) {
        return Err(log_error(format!(
            "the `{done}` line belongs to another request: {line}"
        )));
    }
    let calls = line
        .split_once("dynamodb_calls=")
        .map(|(_, rest)| Calls::parse(rest))
        .ok_or_else(|| log_error(format!("no dynamodb_calls in: {line}")))?;
    Ok((
        Measured {
            invocation,
            calls,
            peak_kb,
            cpu,
            server_cpu,
        },
        checked,
    ))
}
