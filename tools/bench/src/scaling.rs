//! The scaling pass: 1, 2, 4 and 8 `upsert-users` processes fed at once, as Lambda runs
//! more instances of a function when requests arrive together. Each process has a
//! Runtime API of its own and is sent its own requests of 1,000 users one after the
//! other, so as many requests are in flight as there are processes. For each count, on a
//! fresh table: the create pass (new users, one card each, unique names), then the
//! update pass of the same users.
//!
//! Per pass: all users over the pass's wall time, the 50th and 99th percentile of the
//! time per request (queueing the event to the answer), and the CPU shares of DynamoDB
//! Local, of the function processes, of the whole machine and of other processes: CPU
//! seconds over wall seconds × cores. The report gets a table ([`markdown`]) and a plot
//! ([`svg`]).

use std::fmt::Write as _;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::calls::{Call, Tally};
use crate::error::BenchError;
use crate::fixtures::{self, PER_REQUEST, Population, Stage, User};
use crate::process::{FunctionProcess, cpu_time, machine_busy};
use crate::runner::{Bench, progress};
use crate::scenario::UPSERT;
use crate::stats::{millis, percentile, rate};

/// Function processes fed at once, in order.
pub const PROCESS_COUNTS: [usize; 4] = [1, 2, 4, 8];
/// Users each process is sent per pass (`--scaling-users`): 6 requests of 1,000, which
/// keeps the scaling pass to about four minutes on a 2-core machine.
pub const SCALING_USERS: usize = 6_000;

/// What one pass measured with `processes` processes at once.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingPass {
    /// Function processes fed at once.
    pub processes: usize,
    /// Create or update.
    pub stage: Stage,
    /// Users of the pass, over every process.
    pub users: usize,
    /// Requests of the pass, over every process.
    pub requests: usize,
    /// From releasing every process's first request to the last answer.
    pub wall: Duration,
    /// Median time per request, queueing its event to its answer.
    pub p50: Duration,
    /// 99th percentile (nearest rank) of the same.
    pub p99: Duration,
    /// CPU of DynamoDB Local during the pass, when its pid is known.
    pub server_cpu: Option<Duration>,
    /// CPU of the function processes during the pass, summed.
    pub functions_cpu: Duration,
    /// CPU of the bench process during the pass.
    pub bench_cpu: Duration,
    /// Busy time of the whole machine during the pass (`/proc/stat`), when readable.
    pub machine_cpu: Option<Duration>,
    /// Cores of the machine: a share of 100% is every core busy for the whole pass.
    pub cores: usize,
}

impl ScalingPass {
    /// All users over the wall time.
    pub fn users_per_second(&self) -> f64 {
        rate(self.users, self.wall)
    }

    /// `cpu` over wall time × cores (1.0 = every core busy throughout).
    pub fn share(&self, cpu: Duration) -> f64 {
        let capacity = self.wall.as_secs_f64() * self.cores.max(1) as f64;
        if capacity == 0.0 {
            0.0
        } else {
            cpu.as_secs_f64() / capacity
        }
    }

    /// DynamoDB Local's share of the machine.
    pub fn server_share(&self) -> Option<f64> {
        self.server_cpu.map(|c| self.share(c))
    }

    /// The function processes' share of the machine.
    pub fn functions_share(&self) -> f64 {
        self.share(self.functions_cpu)
    }

    /// The machine's busy share.
    pub fn machine_share(&self) -> Option<f64> {
        self.machine_cpu.map(|c| self.share(c))
    }

    /// The share of processes other than DynamoDB Local, the functions and the bench.
    pub fn other_share(&self) -> Option<f64> {
        let ours = self.server_cpu? + self.functions_cpu + self.bench_cpu;
        Some(self.share(self.machine_cpu?.saturating_sub(ours)))
    }
}

/// Runs the scaling pass: for each of [`PROCESS_COUNTS`], a fresh table, that many
/// `upsert-users` processes, the create pass then the update pass, `users_per_process`
/// users per process in requests of 1,000. A wrong answer aborts it.
pub fn run(b: &mut Bench, users_per_process: usize) -> Result<Vec<ScalingPass>, BenchError> {
    let users_per_process = users_per_process.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = Vec::new();
    for processes in PROCESS_COUNTS {
        let table = format!("bench_{}_scale{processes}", b.run_id);
        b.create_table(&table)?;
        let populations: Vec<Population> = (0..processes)
            .map(|k| {
                Population::new(
                    500 + (processes * 10 + k) as u32,
                    users_per_process,
                    PER_REQUEST,
                )
            })
            .collect();
        let mut functions = Vec::with_capacity(processes);
        let mut outcome = Ok(());
        for k in 0..processes {
            match b.spawn(&UPSERT, &table, &format!("scale{processes}-{k}")) {
                Ok(f) => functions.push(f),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if outcome.is_ok() {
            for stage in [Stage::Create, Stage::Update] {
                match run_pass(b, &mut functions, &populations, stage, cores) {
                    Ok(pass) => {
                        progress(&format!(
                            "scaling: {processes} process{} at once, {}: {} users in {:.1} s, {:.0} users/s, p50 {:.0} ms, p99 {:.0} ms, DynamoDB Local CPU {}, functions CPU {}, machine busy {}",
                            if processes == 1 { "" } else { "es" },
                            stage.name(),
                            pass.users,
                            pass.wall.as_secs_f64(),
                            pass.users_per_second(),
                            millis(pass.p50),
                            millis(pass.p99),
                            percent(pass.server_share()),
                            percent(Some(pass.functions_share())),
                            percent(pass.machine_share()),
                        ));
                        out.push(pass);
                    }
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
        }
        for f in functions {
            b.retire(f);
        }
        let _ =
            b.rt.block_on(b.client.delete_table().table_name(&table).send());
        outcome?;
    }
    Ok(out)
}

/// The scenario column of a pass's error.
fn scenario(processes: usize, users_per_process: usize) -> String {
    format!(
        "{processes} process{} at once, {users_per_process} users each in requests of {PER_REQUEST}",
        if processes == 1 { "" } else { "es" }
    )
}

/// One pass: every process sent its requests one after the other, all processes at
/// once; every answer checked.
fn run_pass(
    b: &Bench,
    functions: &mut [FunctionProcess],
    populations: &[Population],
    stage: Stage,
    cores: usize,
) -> Result<ScalingPass, BenchError> {
    let call = Call::Upsert(stage);
    let token = fixtures::admin_token();
    // The events are built before the pass so that building them is not timed.
    let events: Vec<Vec<(Value, &[User])>> = populations
        .iter()
        .map(|p| {
            p.requests()
                .map(|users| (call.event(users, &token), users))
                .collect()
        })
        .collect();
    let processes = functions.len();
    let per_process = populations.first().map_or(0, Population::len);
    let start = Barrier::new(processes + 1);
    let server_before = b.server_pid.and_then(|p| cpu_time(p).ok());
    let functions_before: Vec<Duration> = functions
        .iter()
        .map(|f| f.cpu_time().unwrap_or_default())
        .collect();
    let bench_before = cpu_time(std::process::id()).unwrap_or_default();
    let machine_before = machine_busy().ok();
    let (started, results) = std::thread::scope(|s| {
        let handles: Vec<_> = functions
            .iter_mut()
            .zip(&events)
            .zip(populations)
            .map(|((f, requests), population)| {
                let (start, call) = (&start, &call);
                s.spawn(move || {
                    start.wait();
                    let mut times = Vec::with_capacity(requests.len());
                    let mut tally = Tally::new(population);
                    for (event, users) in requests {
                        let invocation = f.invoke(event, UPSERT.timeout)?;
                        call.check(&invocation.response, users, &mut tally)
                            .map_err(|wrong| BenchError::Answer {
                                function: UPSERT.binary,
                                pass: stage.name(),
                                scenario: scenario(processes, per_process),
                                wrong: Box::new(wrong),
                            })?;
                        times.push(invocation.elapsed);
                    }
                    Ok::<_, BenchError>(times)
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(BenchError::Scenario("a scaling thread panicked".into()))
                })
            })
            .collect();
        (started, results)
    });
    let wall = started.elapsed();
    let machine_cpu = match (machine_before, machine_busy().ok()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let bench_cpu = cpu_time(std::process::id())
        .unwrap_or_default()
        .saturating_sub(bench_before);
    let server_cpu = match (server_before, b.server_pid.and_then(|p| cpu_time(p).ok())) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let functions_cpu = functions
        .iter()
        .zip(functions_before)
        .map(|(f, before)| f.cpu_time().unwrap_or_default().saturating_sub(before))
        .sum();
    let mut times = Vec::new();
    for r in results {
        times.extend(r?);
    }
    Ok(ScalingPass {
        processes,
        stage,
        users: populations.iter().map(Population::len).sum(),
        requests: times.len(),
        wall,
        p50: percentile(&times, 0.50),
        p99: percentile(&times, 0.99),
        server_cpu,
        functions_cpu,
        bench_cpu,
        machine_cpu,
        cores,
    })
}

/// `42%`, or `-` when not measured.
fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".into(), |s| format!("{:.0}%", s * 100.0))
}

/// The report's section: one row per pass, and where the plot is.
pub fn markdown(passes: &[ScalingPass], svg_name: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## Scaling: function processes at once\n");
    let cores = passes.first().map_or(0, |p| p.cores);
    let per_process = passes.first().map_or(0, |p| p.users / p.processes.max(1));
    let _ = writeln!(
        o,
        "{} `upsert-users` processes fed at once, each sent {per_process} users in requests \
         of {PER_REQUEST}, one after the other (as many requests in flight as processes, each \
         process keeping its own DynamoDB requests in flight), on a fresh table per count: \
         the create pass, then the update pass of the same users. users/s: every user of the \
         pass over its wall time; p50 and p99: time per request, queueing its event to its \
         answer (nearest rank); CPU: CPU seconds over wall seconds × {cores} cores (100% = \
         every core busy). Other processes: the machine's busy time minus DynamoDB Local's, \
         the functions' and the bench's. Plot: `{svg_name}`.\n",
        PROCESS_COUNTS
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    let _ = writeln!(
        o,
        "| processes | pass | users | requests | wall s | users/s | × 1 process | p50 ms | p99 ms | DynamoDB Local CPU | functions CPU | machine busy | other processes |"
    );
    let _ = writeln!(
        o,
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for p in passes {
        let one = passes
            .iter()
            .find(|q| q.processes == 1 && q.stage == p.stage)
            .map(ScalingPass::users_per_second)
            .filter(|r| *r > 0.0);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {:.1} | {:.0} | {} | {:.0} | {:.0} | {} | {} | {} | {} |",
            p.processes,
            p.stage.name(),
            p.users,
            p.requests,
            p.wall.as_secs_f64(),
            p.users_per_second(),
            one.map_or_else(
                || "-".into(),
                |one| format!("{:.2}×", p.users_per_second() / one)
            ),
            millis(p.p50),
            millis(p.p99),
            percent(p.server_share()),
            percent(Some(p.functions_share())),
            percent(p.machine_share()),
            percent(p.other_share()),
        );
    }
    o.push('\n');
    o
}

/// Plot size and the plot area inside it (SVG user units).
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 492.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 670.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 360.0;
/// Space between the axes and the first and last process count.
const PAD: f64 = 40.0;
/// Create and update colours.
const COLOURS: [(Stage, &str); 2] = [(Stage::Create, "#1f77b4"), (Stage::Update, "#d62728")];

/// How a series is drawn.
enum Line {
    Solid,
    Dashed,
    Dotted,
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at least `v` (1 for nothing to show).
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

/// Where the plot puts its figures.
struct Scale {
    counts: Vec<usize>,
    users_max: f64,
}

impl Scale {
    fn new(passes: &[ScalingPass]) -> Self {
        let mut counts: Vec<usize> = passes.iter().map(|p| p.processes).collect();
        counts.sort_unstable();
        counts.dedup();
        let top = passes
            .iter()
            .map(ScalingPass::users_per_second)
            .fold(0.0, f64::max);
        Self {
            counts,
            users_max: nice_ceiling(top * 1.1),
        }
    }

    /// The x of a process count: the counts evenly spaced (1, 2, 4, 8 double each step).
    fn x(&self, processes: usize) -> f64 {
        let i = self
            .counts
            .iter()
            .position(|c| *c == processes)
            .unwrap_or(0);
        match self.counts.len() {
            0 | 1 => (LEFT + RIGHT) / 2.0,
            n => LEFT + PAD + i as f64 * (RIGHT - LEFT - 2.0 * PAD) / (n - 1) as f64,
        }
    }

    /// The y of users/s (left axis).
    fn y_users(&self, v: f64) -> f64 {
        BOTTOM - v / self.users_max * (BOTTOM - TOP)
    }

    /// The y of a CPU share (right axis, 0 to 100%).
    fn y_share(share: f64) -> f64 {
        BOTTOM - share.clamp(0.0, 1.0) * (BOTTOM - TOP)
    }
}

/// `x,y x,y ...` of a series, in process order.
fn points(items: &[(f64, f64)]) -> String {
    items
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The users/s of `stage`'s passes as polyline points.
fn users_points(scale: &Scale, passes: &[ScalingPass], stage: Stage) -> Vec<(f64, f64)> {
    let mut of: Vec<&ScalingPass> = passes.iter().filter(|p| p.stage == stage).collect();
    of.sort_by_key(|p| p.processes);
    of.iter()
        .map(|p| (scale.x(p.processes), scale.y_users(p.users_per_second())))
        .collect()
}

/// A CPU share (`share` of a pass) in `stage`'s passes as polyline points.
fn share_points(
    scale: &Scale,
    passes: &[ScalingPass],
    stage: Stage,
    share: impl Fn(&ScalingPass) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let mut of: Vec<&ScalingPass> = passes.iter().filter(|p| p.stage == stage).collect();
    of.sort_by_key(|p| p.processes);
    of.iter()
        .filter_map(|p| Some((scale.x(p.processes), Scale::y_share(share(p)?))))
        .collect()
}

/// A plot of the passes: x the process counts, the left axis users/s of the create and
/// update passes (solid), the right axis (0 to 100% of the machine's cores) DynamoDB
/// Local's CPU share (dashed) and the function processes' (dotted), with a grey line at
/// each whole core.
pub fn svg(passes: &[ScalingPass]) -> String {
    let scale = Scale::new(passes);
    let cores = passes.first().map_or(0, |p| p.cores);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        o,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        o,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="15" font-weight="bold">upsert-users processes at once against one DynamoDB Local ({cores} cores)</text>"#,
        WIDTH / 2.0
    );
    // Grid and the left axis: users/s, five steps.
    for i in 0..=5 {
        let v = scale.users_max * f64::from(i) / 5.0;
        let y = scale.y_users(v);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#e0e0e0"/>"##
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{v:.0}</text>"#,
            LEFT - 6.0,
            y + 4.0
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="start">{}%</text>"#,
            RIGHT + 6.0,
            Scale::y_share(f64::from(i) / 5.0) + 4.0,
            i * 20
        );
    }
    // A line at each whole core (1 of 2 cores: 50%), on the right axis.
    for k in 1..cores.min(8) {
        let y = Scale::y_share(k as f64 / cores as f64);
        let _ = writeln!(
            o,
            r##"<line class="core" x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#888888" stroke-width="1.5" stroke-dasharray="2 4"/>"##
        );
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666666">{k} of {cores} cores</text>"##,
            RIGHT - 6.0,
            y - 5.0
        );
    }
    let _ = writeln!(
        o,
        r#"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    // The x axis: the process counts.
    for c in &scale.counts {
        let x = scale.x(*c);
        let _ = writeln!(
            o,
            r#"<line x1="{x:.1}" y1="{BOTTOM}" x2="{x:.1}" y2="{:.1}" stroke="black"/>"#,
            BOTTOM + 5.0
        );
        let _ = writeln!(
            o,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{c}</text>"#,
            BOTTOM + 20.0
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">function processes at once</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 40.0
    );
    let mid = (TOP + BOTTOM) / 2.0;
    let _ = writeln!(
        o,
        r#"<text x="24" y="{mid:.1}" text-anchor="middle" transform="rotate(-90 24 {mid:.1})">users/s (all processes)</text>"#
    );
    let right_label = RIGHT + 56.0;
    let _ = writeln!(
        o,
        r#"<text x="{right_label:.1}" y="{mid:.1}" text-anchor="middle" transform="rotate(90 {right_label:.1} {mid:.1})">CPU share (% of {cores} cores)</text>"#
    );
    // The series.
    for (stage, colour) in COLOURS {
        let users = users_points(&scale, passes, stage);
        let _ = writeln!(
            o,
            r#"<polyline class="users-{}" points="{}" fill="none" stroke="{colour}" stroke-width="2.5"/>"#,
            stage.name(),
            points(&users)
        );
        let mut of: Vec<&ScalingPass> = passes.iter().filter(|p| p.stage == stage).collect();
        of.sort_by_key(|p| p.processes);
        for ((x, y), p) in users.iter().zip(&of) {
            let _ = writeln!(
                o,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}"/>"#
            );
            let _ = writeln!(
                o,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{colour}">{:.0}</text>"#,
                y - 9.0,
                p.users_per_second()
            );
        }
        let functions = share_points(&scale, passes, stage, |p| Some(p.functions_share()));
        let _ = writeln!(
            o,
            r#"<polyline class="functions-cpu-{}" points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="1 4" stroke-linecap="round"/>"#,
            stage.name(),
            points(&functions)
        );
        let share = share_points(&scale, passes, stage, ScalingPass::server_share);
        let _ = writeln!(
            o,
            r#"<polyline class="dynamodb-cpu-{}" points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="7 5"/>"#,
            stage.name(),
            points(&share)
        );
        for (x, y) in &share {
            let _ = writeln!(
                o,
                r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="white" stroke="{colour}" stroke-width="2"/>"#,
                x - 3.5,
                y - 3.5
            );
        }
    }
    // The legend, under the x axis label.
    let legend = [
        ("create: users/s (left axis)", COLOURS[0].1, Line::Solid),
        ("update: users/s (left axis)", COLOURS[1].1, Line::Solid),
        (
            "create: DynamoDB Local CPU (right axis)",
            COLOURS[0].1,
            Line::Dashed,
        ),
        (
            "update: DynamoDB Local CPU (right axis)",
            COLOURS[1].1,
            Line::Dashed,
        ),
        (
            "create: functions' CPU (right axis)",
            COLOURS[0].1,
            Line::Dotted,
        ),
        (
            "update: functions' CPU (right axis)",
            COLOURS[1].1,
            Line::Dotted,
        ),
    ];
    for (i, (label, colour, line)) in legend.iter().enumerate() {
        let x = LEFT - 10.0 + (i % 2) as f64 * 320.0;
        let y = BOTTOM + 62.0 + (i / 2) as f64 * 22.0;
        let dash = match line {
            Line::Solid => "",
            Line::Dashed => r#" stroke-dasharray="7 5""#,
            Line::Dotted => r#" stroke-dasharray="1 4" stroke-linecap="round""#,
        };
        let _ = writeln!(
            o,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2.5"{dash}/>"#,
            x + 34.0
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}">{label}</text>"#,
            x + 42.0,
            y + 4.0
        );
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(processes: usize, stage: Stage, wall_ms: u64, server_ms: u64) -> ScalingPass {
        ScalingPass {
            processes,
            stage,
            users: processes * 10_000,
            requests: processes * 10,
            wall: Duration::from_millis(wall_ms),
            p50: Duration::from_millis(1200),
            p99: Duration::from_millis(1900),
            server_cpu: Some(Duration::from_millis(server_ms)),
            functions_cpu: Duration::from_millis(wall_ms / 10),
            bench_cpu: Duration::from_millis(wall_ms / 100),
            machine_cpu: Some(Duration::from_millis(wall_ms * 2 * 3 / 4)),
            cores: 2,
        }
    }

    /// Create: 1,000, 1,600, 2,000, 2,000 users/s; update 2,000 to 4,000. DynamoDB Local:
    /// 50%, 75%, 90%, 95% of two cores in the create passes.
    fn passes() -> Vec<ScalingPass> {
        vec![
            pass(1, Stage::Create, 10_000, 10_000),
            pass(1, Stage::Update, 5_000, 4_000),
            pass(2, Stage::Create, 12_500, 18_750),
            pass(2, Stage::Update, 6_250, 7_500),
            pass(4, Stage::Create, 20_000, 36_000),
            pass(4, Stage::Update, 10_000, 16_000),
            pass(8, Stage::Create, 40_000, 76_000),
            pass(8, Stage::Update, 20_000, 36_000),
        ]
    }

    #[test]
    fn the_axes_round_up_to_a_nice_figure() {
        assert_eq!(nice_ceiling(4400.0), 5000.0);
        assert_eq!(nice_ceiling(2000.0), 2000.0);
        assert_eq!(nice_ceiling(2200.0), 2500.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
    }

    #[test]
    fn the_polylines_put_each_figure_where_its_axis_says() {
        let svg = svg(&passes());
        // users/s at most 4,000 → axis 0..5,000 over y 360..60 (300 units): 1,000 users/s
        // is y = 360 - 0.2 × 300 = 300. x: 1, 2, 4, 8 evenly from 130 to 630.
        assert!(
            svg.contains(
                r#"<polyline class="users-create" points="130.0,300.0 296.7,264.0 463.3,240.0 630.0,240.0""#
            ),
            "{svg}"
        );
        assert!(svg.contains(
            r#"<polyline class="users-update" points="130.0,240.0 296.7,168.0 463.3,120.0 630.0,120.0""#
        ));
        // DynamoDB Local's CPU share on 0..100%: 50% is y = 210, 95% y = 75.
        assert!(svg.contains(
            r#"<polyline class="dynamodb-cpu-create" points="130.0,210.0 296.7,135.0 463.3,90.0 630.0,75.0""#
        ));
        assert!(svg.contains(
            r#"<polyline class="dynamodb-cpu-update" points="130.0,240.0 296.7,180.0 463.3,120.0 630.0,90.0""#
        ));
        // The functions' share, 5% in every pass: y = 360 - 0.05 × 300 = 345.
        assert!(svg.contains(
            r#"<polyline class="functions-cpu-update" points="130.0,345.0 296.7,345.0 463.3,345.0 630.0,345.0""#
        ));
        // One of the two cores: 50%.
        assert!(svg.contains(r#"<line class="core" x1="90" y1="210.0" x2="670" y2="210.0""#));
        for label in [
            "1 of 2 cores",
            "create: functions' CPU (right axis)",
            "function processes at once",
            "users/s (all processes)",
            "CPU share (% of 2 cores)",
            "create: users/s (left axis)",
            "update: DynamoDB Local CPU (right axis)",
            ">5000</text>",
            ">100%</text>",
        ] {
            assert!(svg.contains(label), "no {label}");
        }
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
    }

    #[test]
    fn the_table_gives_each_pass_its_rate_percentiles_and_cpu_shares() {
        let md = markdown(&passes(), "scaling.svg");
        assert!(md.starts_with("## Scaling: function processes at once\n"));
        assert!(md.contains("1, 2, 4, 8 `upsert-users` processes"));
        assert!(md.contains("each sent 10000 users"));
        // 2 processes, create: 20,000 users in 12.5 s = 1,600/s, 1.6× one process;
        // DynamoDB Local 18.75 s of 25 core-seconds = 75%; functions 1.25 s = 5%; machine
        // 75%; others 75% - 75% - 5% - 0.5% → 0.
        assert!(
            md.contains(
                "| 2 | create | 20000 | 20 | 12.5 | 1600 | 1.60× | 1200 | 1900 | 75% | 5% | 75% | 0% |"
            ),
            "{md}"
        );
        assert!(md.contains(
            "| 8 | update | 80000 | 80 | 20.0 | 4000 | 2.00× | 1200 | 1900 | 90% | 5% | 75% | 0% |"
        ));
    }

    #[test]
    fn a_share_is_cpu_over_wall_time_and_cores() {
        let p = pass(1, Stage::Create, 10_000, 10_000);
        assert_eq!(p.server_share(), Some(0.5));
        assert_eq!(p.functions_share(), 0.05);
        assert_eq!(p.machine_share(), Some(0.75));
        // 15 s busy - 10 - 1 - 0.1 = 3.9 s of 20 core-seconds.
        assert!((p.other_share().unwrap() - 0.195).abs() < 1e-9);
        let unknown = ScalingPass {
            server_cpu: None,
            ..p
        };
        assert_eq!(unknown.other_share(), None);
        assert!(markdown(&[unknown], "s.svg").contains("| - | 5% | 75% | - |"));
    }
}
