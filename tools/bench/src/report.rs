//! What a run measured and its markdown report. Scenarios of any function fill in
//! [`PassResult`]s; the report compares each with its floor.

use std::fmt::Write as _;
use std::time::Duration;

use crate::floor::{Calls, FloorRun};
use crate::invoke::Measured;
use crate::stats::{median, mib, ms, rate, ratio};

/// What one pass of a function measured.
#[derive(Clone, Debug, Default)]
pub struct FunctionRun {
    /// Sum over the invocations (sent one after the other) of queue-to-answer time.
    pub elapsed: Duration,
    /// Invocations made.
    pub invocations: usize,
    /// DynamoDB requests the function logged, summed over the invocations.
    pub calls: Calls,
    /// Highest peak RSS (`VmHWM`, kB) of any one invocation, the peak reset before each.
    pub peak_kb: u64,
    /// CPU time of the function process over the pass.
    pub cpu: Duration,
    /// CPU time of the DynamoDB server over the pass, when its pid is known.
    pub server_cpu: Option<Duration>,
}

impl FunctionRun {
    /// Adds one measured invocation.
    pub fn record(&mut self, m: &Measured) {
        self.elapsed += m.invocation.elapsed;
        self.invocations += 1;
        self.calls.merge(&m.calls);
        self.peak_kb = self.peak_kb.max(m.peak_kb);
        self.cpu += m.cpu;
        self.server_cpu = match (self.server_cpu, m.server_cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// One repetition of a pass: the function and its floors.
#[derive(Clone, Debug)]
pub struct PassSample {
    /// The function.
    pub function: FunctionRun,
    /// The floor the function is judged against.
    pub floor: FloorRun,
    /// A second floor shown for reference (upsert create: (a) `BatchWriteItem` only;
    /// upsert update: (b) `BatchGetItem` + unconditional `BatchWriteItem`; hard delete:
    /// (t) the function's own transactions, raw).
    pub second: Option<FloorRun>,
    /// Other designs of the same work, measured for comparison (see
    /// [`PassResult::alternatives`]).
    pub alternatives: Vec<FloorRun>,
}

/// Every repetition of one pass of one scenario.
#[derive(Clone, Debug)]
pub struct PassResult {
    /// The function, e.g. `upsert-users`.
    pub function: String,
    /// E.g. `1000 users, 1 request of 1000`.
    pub scenario: String,
    /// E.g. `create`, `hard delete`.
    pub pass: String,
    /// Users the pass handles.
    pub items: usize,
    /// What the floor does, e.g. `(b) BatchGet+BatchWrite`.
    pub floor: String,
    /// What the second floor does, if the pass has one.
    pub second: Option<String>,
    /// What each alternative of [`PassSample::alternatives`] does.
    pub alternatives: Vec<String>,
    /// The ratio function / floor this pass must stay under, if any.
    pub target_ratio: Option<f64>,
    /// Whether each invocation is one request of at most 1000 items, judged by the
    /// per-request peak RSS target (a filter delete or a purge handles many more).
    pub per_request_peak: bool,
    /// One per repetition.
    pub samples: Vec<PassSample>,
}

/// SCIM `/Bulk` creates / the same number of users through the bulk upsert.
pub const SCIM_BULK_TARGET: f64 = 1.3;

impl PassResult {
    /// A pass with no samples yet.
    pub fn new(function: &str, scenario: &str, pass: &str, items: usize, floor: &str) -> Self {
        Self {
            function: function.to_owned(),
            scenario: scenario.to_owned(),
            pass: pass.to_owned(),
            items,
            floor: floor.to_owned(),
            second: None,
            alternatives: Vec::new(),
            target_ratio: None,
            per_request_peak: true,
            samples: Vec::new(),
        }
    }

    /// Median function time.
    pub fn function_median(&self) -> Duration {
        median(&self.collect(|s| s.function.elapsed))
    }

    /// Median floor time.
    pub fn floor_median(&self) -> Duration {
        median(&self.collect(|s| s.floor.elapsed))
    }

    /// Median time of the second floor, when the pass has one.
    pub fn second_median(&self) -> Option<Duration> {
        let v: Vec<Duration> = self
            .samples
            .iter()
            .filter_map(|s| s.second.as_ref().map(|f| f.elapsed))
            .collect();
        (!v.is_empty()).then(|| median(&v))
    }

    /// Median function / median floor.
    pub fn ratio(&self) -> f64 {
        ratio(self.function_median(), self.floor_median())
    }

    /// Highest peak RSS over the repetitions, kB.
    pub fn peak_kb(&self) -> u64 {
        self.samples
            .iter()
            .map(|s| s.function.peak_kb)
            .max()
            .unwrap_or(0)
    }

    /// The median of the per-repetition ratios function / floor (each repetition's
    /// function and floor ran back to back, so their ratio shares the machine's state).
    pub fn paired_ratio(&self) -> f64 {
        let r: Vec<f64> = self
            .samples
            .iter()
            .map(|s| ratio(s.function.elapsed, s.floor.elapsed))
            .collect();
        median(&r)
    }

    /// Whether the ratio target (if any) is met.
    pub fn target_met(&self) -> Option<bool> {
        self.target_ratio.map(|t| self.ratio() <= t)
    }

    fn collect(&self, f: impl Fn(&PassSample) -> Duration) -> Vec<Duration> {
        self.samples.iter().map(f).collect()
    }

    /// Call counts of the first repetition, and whether every repetition made the same.
    fn calls(&self, f: impl Fn(&PassSample) -> Option<&Calls>) -> String {
        let Some(first) = self.samples.first().and_then(&f) else {
            return "-".into();
        };
        let same = self.samples.iter().all(|s| f(s) == Some(first));
        if same {
            first.to_string()
        } else {
            let all: Vec<String> = self
                .samples
                .iter()
                .map(|s| f(s).map_or("-".into(), ToString::to_string))
                .collect();
            all.join(" / ")
        }
    }

    /// The function's median call counts per 1000 items.
    fn calls_per_thousand(&self) -> String {
        let mut by_op: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
        for s in &self.samples {
            for (op, n) in &s.function.calls.0 {
                by_op.entry(op).or_default().push(*n as f64);
            }
        }
        if by_op.is_empty() || self.items == 0 {
            return "-".into();
        }
        by_op
            .iter()
            .map(|(op, v)| {
                let per = median(v) * 1000.0 / self.items as f64;
                if (per - per.round()).abs() < 0.05 {
                    format!("{op}={per:.0}")
                } else {
                    format!("{op}={per:.1}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Facts about the run, printed in the report's head.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// UTC time of the run.
    pub date: String,
    /// `nproc`.
    pub cores: usize,
    /// From /proc/cpuinfo.
    pub cpu: String,
    /// MemTotal, MiB.
    pub memory_mib: u64,
    /// The commit measured (and whether the tree was dirty).
    pub git: String,
    /// DynamoDB Local version.
    pub dynamodb_local: String,
    /// Repetitions of the upsert passes.
    pub repeats: usize,
    /// Repetitions of the delete, soft delete, filter delete and purge passes.
    pub removal_repeats: usize,
    /// The function's `DYNAMODB_CONCURRENCY` and the floor's requests in flight.
    pub concurrency: usize,
    /// Load average (1 min) when the run started.
    pub load_at_start: String,
    /// Wall time of the measured repetitions.
    pub measured_wall: Duration,
    /// CPU time the whole machine used during the measured repetitions, and the part of
    /// it the bench, its functions and DynamoDB Local used (`None` when DynamoDB Local's
    /// pid is unknown).
    pub machine_cpu: Option<(Duration, Duration)>,
}

/// Size of a function binary.
#[derive(Clone, Debug)]
pub struct BinaryInfo {
    /// The function.
    pub function: String,
    /// Path shown in the report.
    pub path: String,
    /// Bytes.
    pub bytes: u64,
    /// Whether it has no symbol table.
    pub stripped: bool,
}

/// Cold-start figures of a function.
#[derive(Clone, Debug, Default)]
pub struct StartInfo {
    /// The function.
    pub function: String,
    /// Spawn to first `GET .../invocation/next`, one per process started.
    pub ready: Vec<Duration>,
    /// RSS right after ready, kB, one per process started.
    pub idle_rss_kb: Vec<u64>,
}

/// One stored user item as the function wrote it, against the floor's.
#[derive(Clone, Debug, Default)]
pub struct ItemCheck {
    /// Billable size of the function's item.
    pub function_bytes: usize,
    /// Billable size of the floor's item.
    pub floor_bytes: usize,
    /// Attributes only the function stores.
    pub only_function: Vec<String>,
    /// Attributes only the floor stores.
    pub only_floor: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Run facts.
    pub info: RunInfo,
    /// Binaries.
    pub binaries: Vec<BinaryInfo>,
    /// Cold starts.
    pub starts: Vec<StartInfo>,
    /// Passes.
    pub passes: Vec<PassResult>,
    /// Peak RSS target per request, MiB.
    pub peak_target_mib: f64,
    /// The stored-item comparison, if made.
    pub item_check: Option<ItemCheck>,
    /// How the users the delete passes start from compare with what upsert-users
    /// writes, if checked.
    pub seed_check: Option<String>,
}

impl Report {
    /// The markdown text.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let i = &self.info;
        let _ = writeln!(o, "# Benchmark report\n");
        let _ = writeln!(
            o,
            "Run {} on {} cores ({}), {} MiB RAM; commit {}; DynamoDB Local {} in memory. \
             The upsert passes ran {} times, the delete, soft delete, filter delete and purge \
             passes {} times; times are medians. Functions and floors keep {} DynamoDB \
             requests in flight.\n",
            i.date,
            i.cores,
            i.cpu,
            i.memory_mib,
            i.git,
            i.dynamodb_local,
            i.repeats,
            i.removal_repeats,
            i.concurrency
        );
        if let Some((machine, ours)) = i.machine_cpu {
            // Per-process and machine-wide tick accounting differ slightly: a small
            // negative difference is noise.
            let other = machine.as_secs_f64() - ours.as_secs_f64();
            let share =
                other / i.measured_wall.as_secs_f64().max(1e-9) / i.cores.max(1) as f64 * 100.0;
            let _ = writeln!(
                o,
                "During the {:.1} s of measured repetitions the machine used {:.1} s of CPU, \
                 the bench, its functions and DynamoDB Local {:.1} s: other processes {:.1} s \
                 ({share:.0}% of the machine; load average {} at the start). {}\n",
                i.measured_wall.as_secs_f64(),
                machine.as_secs_f64(),
                ours.as_secs_f64(),
                other,
                i.load_at_start,
                if share < 5.0 {
                    "The machine was otherwise quiet."
                } else {
                    "**The machine was not quiet: these figures are disturbed by other work.**"
                }
            );
        }
        self.targets(&mut o);
        self.times(&mut o);
        self.alternatives(&mut o);
        self.calls(&mut o);
        self.cpu(&mut o);
        self.memory(&mut o);
        self.size_and_start(&mut o);
        self.items(&mut o);
        self.raw(&mut o);
        o
    }

    /// The SCIM `/Bulk` create pass and the upsert create pass of as many users in one
    /// request, when both ran.
    fn scim_versus_upsert(&self) -> Option<(&PassResult, &PassResult)> {
        let scim = self.passes.iter().find(|p| p.function == "scim")?;
        let upsert = self.passes.iter().find(|p| {
            p.function == "upsert-users" && p.pass == "create" && p.items == scim.items
        })?;
        Some((scim, upsert))
    }

    fn targets(&self, o: &mut String) {
        let _ = writeln!(o, "## Targets\n");
        let _ = writeln!(
            o,
            "Ratios: median function time / median floor time; the verdict is on this \
             figure. In brackets: the median of the per-repetition ratios.\n"
        );
        let _ = writeln!(o, "| figure | measured | target | verdict |");
        let _ = writeln!(o, "| --- | ---: | ---: | --- |");
        for p in &self.passes {
            let target = p
                .target_ratio
                .map_or("reported".to_owned(), |t| format!("≤ {t:.1}×"));
            let verdict = match p.target_met() {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "-",
            };
            let _ = writeln!(
                o,
                "| {} {}, {} / floor {} | {:.2}× ({:.2}×) | {target} | {verdict} |",
                p.function,
                p.pass,
                p.scenario,
                p.floor,
                p.ratio(),
                p.paired_ratio()
            );
        }
        if let Some((scim, upsert)) = self.scim_versus_upsert() {
            let r = ratio(scim.function_median(), upsert.function_median());
            let paired: Vec<f64> = scim
                .samples
                .iter()
                .zip(&upsert.samples)
                .map(|(a, b)| ratio(a.function.elapsed, b.function.elapsed))
                .collect();
            let verdict = if r <= SCIM_BULK_TARGET {
                "met"
            } else {
                "**missed**"
            };
            let _ = writeln!(
                o,
                "| {} {}, {} / {} {} of the same number of users (function / function) | {:.2}× ({:.2}×) | ≤ {SCIM_BULK_TARGET:.1}× | {verdict} |",
                scim.function,
                scim.pass,
                scim.scenario,
                upsert.function,
                upsert.pass,
                r,
                median(&paired)
            );
        }
        let per_request: Vec<&PassResult> =
            self.passes.iter().filter(|p| p.per_request_peak).collect();
        if let Some(top) = per_request.iter().max_by_key(|p| p.peak_kb()) {
            let peak = top.peak_kb();
            let met = (peak as f64 / 1024.0) <= self.peak_target_mib;
            let _ = writeln!(
                o,
                "| peak RSS of one request of at most 1000 items (highest: {} {}) | {} MiB | ≤ {:.0} MiB | {} |",
                top.function,
                top.pass,
                mib(peak),
                self.peak_target_mib,
                if met { "met" } else { "**missed**" }
            );
        }
        for p in self.passes.iter().filter(|p| !p.per_request_peak) {
            let _ = writeln!(
                o,
                "| peak RSS of one invocation, {} {} ({}) | {} MiB | reported | - |",
                p.function,
                p.pass,
                p.scenario,
                mib(p.peak_kb())
            );
        }
        let _ = writeln!(o);
    }

    fn times(&self, o: &mut String) {
        let _ = writeln!(o, "## Passes (median wall time)\n");
        let _ = writeln!(
            o,
            "Function ms: queue-to-answer time summed over the pass's invocations. Floor: the \
             same DynamoDB work done directly with the SDK (see docs/benchmark.md).\n"
        );
        let _ = writeln!(
            o,
            "| function | scenario | pass | invocations | function ms | floor | floor ms | function / floor | second floor | second floor ms | function / second | function items/s |"
        );
        let _ = writeln!(
            o,
            "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |"
        );
        for p in &self.passes {
            let f = p.function_median();
            let invocations = p
                .samples
                .iter()
                .map(|s| s.function.invocations.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join("/");
            let (a_ms, a_ratio) = match p.second_median() {
                Some(a) => (ms(a), format!("{:.2}×", ratio(f, a))),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {:.2}× | {} | {} | {} | {:.0} |",
                p.function,
                p.scenario,
                p.pass,
                invocations,
                ms(f),
                p.floor,
                ms(p.floor_median()),
                p.ratio(),
                p.second.as_deref().unwrap_or("-"),
                a_ms,
                a_ratio,
                rate(p.items, f)
            );
        }
        let _ = writeln!(o);
    }

    fn alternatives(&self, o: &mut String) {
        let rows: Vec<(&PassResult, usize, &String)> = self
            .passes
            .iter()
            .flat_map(|p| {
                p.alternatives
                    .iter()
                    .enumerate()
                    .map(move |(i, a)| (p, i, a))
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(o, "## Other designs of the same work (median wall time)\n");
        let _ = writeln!(
            o,
            "Measured beside the floor in the same repetitions, to show what the design the \
             function uses is chosen over (see docs/benchmark.md).\n"
        );
        let _ = writeln!(
            o,
            "| function | scenario | pass | design | ms | function / design | floor / design | requests |"
        );
        let _ = writeln!(o, "| --- | --- | --- | --- | ---: | ---: | ---: | --- |");
        for (p, i, name) in rows {
            let runs: Vec<&FloorRun> = p
                .samples
                .iter()
                .filter_map(|s| s.alternatives.get(i))
                .collect();
            let alt = median(&runs.iter().map(|r| r.elapsed).collect::<Vec<_>>());
            let calls = runs
                .iter()
                .map(|r| r.calls.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(" / ");
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {:.2}× | {:.2}× | {} |",
                p.function,
                p.scenario,
                p.pass,
                name,
                ms(alt),
                ratio(p.function_median(), alt),
                ratio(p.floor_median(), alt),
                calls
            );
        }
        let _ = writeln!(o);
    }

    fn calls(&self, o: &mut String) {
        let _ = writeln!(o, "## DynamoDB requests per pass\n");
        let _ = writeln!(
            o,
            "Function: from its `dynamodb_calls` log field, summed over the pass's \
             invocations (SDK retries included). Several values separated by `/` mean the \
             repetitions differed. Per 1000 items: the function's median counts scaled to \
             1000 users.\n"
        );
        let _ = writeln!(
            o,
            "| function | scenario | pass | function | function, per 1000 items | floor | second floor |"
        );
        let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- | --- |");
        for p in &self.passes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.function,
                p.scenario,
                p.pass,
                p.calls(|s| Some(&s.function.calls)),
                p.calls_per_thousand(),
                p.calls(|s| Some(&s.floor.calls)),
                p.calls(|s| s.second.as_ref().map(|f| &f.calls))
            );
        }
        let _ = writeln!(o);
    }

    fn cpu(&self, o: &mut String) {
        let _ = writeln!(o, "## CPU time per pass (median ms)\n");
        let _ = writeln!(
            o,
            "User + system time from `/proc/<pid>/stat` (10 ms ticks), all threads. The \
             function and DynamoDB Local share the machine's cores, so CPU the function \
             spends is CPU DynamoDB Local cannot use.\n"
        );
        let _ = writeln!(
            o,
            "| function | scenario | pass | function process | DynamoDB Local, function pass | bench (SDK client), floor | DynamoDB Local, floor | DynamoDB Local, second floor |"
        );
        let _ = writeln!(o, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for p in &self.passes {
            let server = |f: &dyn Fn(&PassSample) -> Option<Duration>| {
                let v: Vec<Duration> = p.samples.iter().filter_map(f).collect();
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.0}", median(&v).as_secs_f64() * 1000.0)
                }
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.0} | {} | {:.0} | {} | {} |",
                p.function,
                p.scenario,
                p.pass,
                median(&p.collect(|s| s.function.cpu)).as_secs_f64() * 1000.0,
                server(&|s| s.function.server_cpu),
                median(&p.collect(|s| s.floor.client_cpu)).as_secs_f64() * 1000.0,
                server(&|s| s.floor.server_cpu),
                server(&|s| s.second.as_ref().and_then(|f| f.server_cpu)),
            );
        }
        let _ = writeln!(o);
    }

    fn memory(&self, o: &mut String) {
        let _ = writeln!(o, "## Peak RSS per invocation\n");
        let _ = writeln!(
            o,
            "`VmHWM` of the function process after each invocation, the peak reset (`5` to \
             `/proc/<pid>/clear_refs`) before it; highest invocation of the pass, highest \
             repetition. An upsert, delete or soft delete invocation is one request of 1000 \
             ids; a filter delete or purge invocation handles every user it finds.\n"
        );
        let _ = writeln!(
            o,
            "| function | scenario | pass | peak RSS MiB | per repetition MiB |"
        );
        let _ = writeln!(o, "| --- | --- | --- | ---: | --- |");
        for p in &self.passes {
            let each: Vec<String> = p.samples.iter().map(|s| mib(s.function.peak_kb)).collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                p.function,
                p.scenario,
                p.pass,
                mib(p.peak_kb()),
                each.join(", ")
            );
        }
        let _ = writeln!(o);
    }

    fn size_and_start(&self, o: &mut String) {
        let _ = writeln!(o, "## Binary size and start\n");
        let _ = writeln!(o, "| function | binary | bytes | MiB | stripped |");
        let _ = writeln!(o, "| --- | --- | ---: | ---: | --- |");
        for b in &self.binaries {
            let _ = writeln!(
                o,
                "| {} | `{}` | {} | {:.2} | {} |",
                b.function,
                b.path,
                b.bytes,
                b.bytes as f64 / 1_048_576.0,
                if b.stripped { "yes" } else { "no" }
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Ready time: spawn of the process to its first `GET /2018-06-01/runtime/invocation/next` \
             (runtime and AWS SDK initialised, configuration read).\n"
        );
        let _ = writeln!(
            o,
            "| function | processes | ready ms (median) | min | max | idle RSS MiB (median) |"
        );
        let _ = writeln!(o, "| --- | ---: | ---: | ---: | ---: | ---: |");
        for s in &self.starts {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                s.function,
                s.ready.len(),
                ms(median(&s.ready)),
                ms(s.ready.iter().min().copied().unwrap_or_default()),
                ms(s.ready.iter().max().copied().unwrap_or_default()),
                mib(median(&s.idle_rss_kb))
            );
        }
        let _ = writeln!(o);
    }

    fn items(&self, o: &mut String) {
        if self.item_check.is_none() && self.seed_check.is_none() {
            return;
        }
        let _ = writeln!(o, "## Stored items: function vs floor\n");
        if let Some(c) = &self.item_check {
            let same = c.only_function.is_empty() && c.only_floor.is_empty();
            let _ = writeln!(
                o,
                "One user read back after the upsert update pass: {} bytes as the function \
                 stored it, {} bytes as the floor wrote it; attributes {}.\n",
                c.function_bytes,
                c.floor_bytes,
                if same {
                    "identical".to_owned()
                } else {
                    format!(
                        "differ (only function: {:?}; only floor: {:?})",
                        c.only_function, c.only_floor
                    )
                }
            );
        }
        if let Some(text) = &self.seed_check {
            let _ = writeln!(o, "{text}\n");
        }
    }

    fn raw(&self, o: &mut String) {
        let _ = writeln!(o, "## Every repetition (ms)\n");
        let _ = writeln!(
            o,
            "| function | scenario | pass | function | floor | second floor | function / floor |"
        );
        let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- | --- |");
        for p in &self.passes {
            let list = |f: &dyn Fn(&PassSample) -> Option<Duration>| {
                let v: Vec<String> = p.samples.iter().filter_map(f).map(ms).collect();
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    v.join(", ")
                }
            };
            let ratios: Vec<String> = p
                .samples
                .iter()
                .map(|s| format!("{:.2}", ratio(s.function.elapsed, s.floor.elapsed)))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.function,
                p.scenario,
                p.pass,
                list(&|s| Some(s.function.elapsed)),
                list(&|s| Some(s.floor.elapsed)),
                list(&|s| s.second.as_ref().map(|f| f.elapsed)),
                ratios.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(function_ms: u64, floor_ms: u64, peak_kb: u64) -> PassSample {
        let floor = FloorRun {
            elapsed: Duration::from_millis(floor_ms),
            ..FloorRun::default()
        };
        PassSample {
            function: FunctionRun {
                elapsed: Duration::from_millis(function_ms),
                invocations: 1,
                peak_kb,
                ..FunctionRun::default()
            },
            second: Some(floor.clone()),
            alternatives: vec![floor.clone()],
            floor,
        }
    }

    fn pass(name: &str, target: Option<f64>, samples: Vec<PassSample>) -> PassResult {
        PassResult {
            target_ratio: target,
            samples,
            ..PassResult::new("f", "1000 users", name, 1000, "(b)")
        }
    }

    #[test]
    fn ratios_are_of_medians_and_verdicts_follow_the_targets() {
        let mut update = pass(
            "update",
            Some(1.3),
            vec![
                sample(120, 100, 1000),
                sample(200, 100, 3000),
                sample(110, 100, 2000),
            ],
        );
        update.alternatives = vec!["(d) PutItem each".into()];
        for (s, ms) in update.samples.iter_mut().zip([300, 400, 350]) {
            s.alternatives[0].elapsed = Duration::from_millis(ms);
        }
        assert!((update.ratio() - 1.2).abs() < 1e-9);
        assert!((update.paired_ratio() - 1.2).abs() < 1e-9);
        assert_eq!(update.target_met(), Some(true));
        assert_eq!(update.peak_kb(), 3000);
        let slow = pass("update", Some(1.3), vec![sample(140, 100, 60_000)]);
        assert_eq!(slow.target_met(), Some(false));
        let create = pass("create", None, vec![sample(500, 100, 1000)]);
        let mut purge = pass("purge", Some(1.3), vec![sample(90, 100, 90_000)]);
        purge.per_request_peak = false;
        purge.second = None;
        purge.samples[0].second = None;
        let report = Report {
            passes: vec![update, slow, create, purge],
            peak_target_mib: 48.0,
            ..Report::default()
        };
        let text = report.markdown();
        assert!(
            text.contains("| f update, 1000 users / floor (b) | 1.20× (1.20×) | ≤ 1.3× | met |"),
            "{text}"
        );
        assert!(
            text.contains("| 1.40× (1.40×) | ≤ 1.3× | **missed** |"),
            "{text}"
        );
        assert!(text.contains("| 5.00× (5.00×) | reported | - |"), "{text}");
        assert!(
            text.contains("(highest: f update) | 58.6 MiB | ≤ 48 MiB | **missed** |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| peak RSS of one invocation, f purge (1000 users) | 87.9 MiB | reported | - |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| f | 1000 users | purge | 90.0 | 100.0 | - | 0.90 |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| f | 1000 users | update | (d) PutItem each | 350.0 | 0.34× | 0.29× | none |"
            ),
            "{text}"
        );
    }

    #[test]
    fn calls_are_scaled_to_a_thousand_items() {
        let mut p = pass("hard delete", Some(1.3), vec![sample(1, 1, 1)]);
        p.items = 10_000;
        p.samples[0].function.calls = Calls::parse("BatchGetItem=100 TransactWriteItems=205");
        assert_eq!(
            p.calls_per_thousand(),
            "BatchGetItem=10 TransactWriteItems=20.5"
        );
    }
}
