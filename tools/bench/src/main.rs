//! `bench [--repeats N] [--removal-repeats N] [--removal-users N] [--skip-upsert]
//! [--skip-removal] [--sync-rows N] [--skip-sync] [--scaling-users N] [--skip-scaling]
//! [--out FILE] [--bin-dir DIR] [--log-dir DIR]`: runs every scenario
//! against the DynamoDB Local named by `AWS_ENDPOINT_URL_DYNAMODB` and writes the
//! markdown report. Run it through `make bench` (scripts/bench.sh), which starts a
//! DynamoDB Local of its own and builds the release binaries first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::contract::Timestamp;
use bench::error::{BenchError, chain};
use bench::report::{BinaryInfo, PassResult, Report, RunInfo};
use bench::runner::{Bench, CONCURRENCY, GroupRun, progress};
use bench::scenario::{
    self, FUNCTIONS, Group, REMOVAL_USERS, Table, WARMUP_REMOVAL_USERS, removal_repetition,
    upsert_repetition, upsert_warmup,
};

/// Peak RSS of one 1000-item request, MiB.
const PEAK_TARGET_MIB: f64 = 48.0;
/// Rows of the export the `usersync` pass syncs.
const SYNC_ROWS: usize = 100_000;
/// The scaling pass's plot, beside the report.
const SCALING_SVG: &str = "scaling.svg";
/// Processes of each function started only to time the start.
const EXTRA_STARTS: usize = 5;

struct Options {
    repeats: usize,
    removal_repeats: usize,
    removal_users: usize,
    skip_upsert: bool,
    skip_removal: bool,
    sync_rows: usize,
    skip_sync: bool,
    scaling_users: usize,
    skip_scaling: bool,
    out: PathBuf,
    bin_dir: PathBuf,
    log_dir: PathBuf,
}

const USAGE: &str = "usage: bench [--repeats N] [--removal-repeats N] [--removal-users N] \
                     [--skip-upsert] [--skip-removal] [--sync-rows N] [--skip-sync] [--scaling-users N] \
                     [--skip-scaling] [--out FILE] [--bin-dir DIR] [--log-dir DIR]";

impl Options {
    fn parse() -> Result<Self, BenchError> {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("target/release"));
        let env_count = |k: &str, default: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let mut o = Options {
            repeats: env_count("BENCH_REPEATS", 5),
            removal_repeats: env_count("BENCH_DELETE_REPEATS", 3),
            removal_users: REMOVAL_USERS,
            skip_upsert: false,
            skip_removal: false,
            sync_rows: SYNC_ROWS,
            skip_sync: false,
            scaling_users: bench::scaling::SCALING_USERS,
            skip_scaling: false,
            out: PathBuf::from("target/bench/report.md"),
            bin_dir: exe_dir,
            log_dir: PathBuf::from("target/bench"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| BenchError::Usage(format!("{a} needs a value")))
            };
            let count = |v: String| {
                v.parse()
                    .map_err(|e| BenchError::Usage(format!("{a}: {e}")))
            };
            match a.as_str() {
                "--repeats" => o.repeats = count(value()?)?,
                "--removal-repeats" => o.removal_repeats = count(value()?)?,
                "--removal-users" => o.removal_users = count(value()?)?,
                "--skip-upsert" => o.skip_upsert = true,
                "--skip-removal" => o.skip_removal = true,
                "--sync-rows" => o.sync_rows = count(value()?)?,
                "--skip-sync" => o.skip_sync = true,
                "--scaling-users" => o.scaling_users = count(value()?)?,
                "--skip-scaling" => o.skip_scaling = true,
                "--out" => o.out = PathBuf::from(value()?),
                "--bin-dir" => o.bin_dir = PathBuf::from(value()?),
                "--log-dir" => o.log_dir = PathBuf::from(value()?),
                "-h" | "--help" => return Err(BenchError::Usage(USAGE.into())),
                other => {
                    return Err(BenchError::Usage(format!(
                        "unknown argument {other}\n{USAGE}"
                    )));
                }
            }
        }
        o.repeats = o.repeats.max(1);
        o.removal_repeats = o.removal_repeats.max(1);
        o.removal_users = o.removal_users.max(1);
        o.scaling_users = o.scaling_users.max(1);
        Ok(o)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), BenchError> {
    let opts = Options::parse()?;
    std::fs::create_dir_all(&opts.log_dir)
        .map_err(|e| BenchError::io(opts.log_dir.display(), e))?;
    let mut b = Bench::connect(opts.bin_dir.clone(), opts.log_dir.clone())?;

    let mut binaries = Vec::new();
    for function in FUNCTIONS {
        let binary = opts.bin_dir.join(function.binary);
        let bytes = std::fs::read(&binary).map_err(|e| BenchError::io(binary.display(), e))?;
        binaries.push(BinaryInfo {
            function: function.binary.into(),
            path: format!("target/release/{}", function.binary),
            bytes: bytes.len() as u64,
            stripped: !bytes.windows(8).any(|w| w == b".symtab\0"),
        });
    }
    let mut report = Report {
        info: run_info(opts.repeats, opts.removal_repeats),
        binaries,
        peak_target_mib: PEAK_TARGET_MIB,
        ..Report::default()
    };
    let started = Instant::now();

    // Warm-up (not reported): DynamoDB Local is a JVM and runs slowly until it has
    // compiled its hot paths, for every kind of request the passes make.
    let warm = upsert_warmup();
    progress(&format!(
        "warm-up: {} users created and updated through the function and the floor",
        scenario::WARMUP_USERS
    ));
    let warm_tables = b.create_tables(&warm)?;
    report.seed_check = b.run_group_on(&warm, &warm_tables, true)?.seed_check;
    if !opts.skip_removal {
        let n = WARMUP_REMOVAL_USERS.min(opts.removal_users);
        progress(&format!("warm-up: every delete pass with {n} users"));
        for group in removal_repetition("warm", n) {
            b.run_group(&group, false)?;
        }
    }
    let start_table = warm_tables.name(Table::Function)?.to_owned();
    for function in FUNCTIONS {
        for i in 0..EXTRA_STARTS {
            let f = b.spawn(function, &start_table, &format!("start{i}"))?;
            b.retire(f);
        }
    }
    b.delete_tables(warm_tables);

    let measured_from = Instant::now();
    let machine_before = bench::process::machine_busy();
    let ours_before = ours(b.server_pid);
    b.functions_cpu = Duration::ZERO;
    let mut upsert = Repetitions::default();
    if !opts.skip_upsert {
        for rep in 0..opts.repeats {
            progress(&format!(
                "upsert passes, repetition {}/{}",
                rep + 1,
                opts.repeats
            ));
            // Alternate which side runs first so neither always meets a fresher JVM heap.
            let group = upsert_repetition(rep);
            let run = upsert.run(&mut b, &[group], rep % 2 == 1)?;
            report.item_check = report.item_check.take().or(run.item_check);
        }
    }
    let mut removal = Repetitions::default();
    if !opts.skip_removal {
        for rep in 0..opts.removal_repeats {
            progress(&format!(
                "delete passes, repetition {}/{}",
                rep + 1,
                opts.removal_repeats
            ));
            let groups = removal_repetition(&format!("r{rep}"), opts.removal_users);
            removal.run(&mut b, &groups, rep % 2 == 1)?;
        }
    }
    report.info.measured_wall = measured_from.elapsed();
    let mut sync_section = String::new();
    if !opts.skip_sync {
        progress(&format!(
            "usersync: exports of {} and {} rows",
            bench::sync::SMALL_ROWS.min(opts.sync_rows),
            opts.sync_rows
        ));
        let runs = bench::sync::run(&mut b, opts.sync_rows, &bench::sync::binary(&opts.bin_dir))?;
        sync_section = bench::sync::markdown(&runs);
    }
    report.info.machine_cpu = match (
        machine_before,
        bench::process::machine_busy(),
        ours_before,
        ours(b.server_pid),
    ) {
        (Ok(m0), Ok(m1), Some(o0), Some(o1)) => Some((
            m1.saturating_sub(m0),
            o1.saturating_sub(o0) + b.functions_cpu,
        )),
        _ => None,
    };
    report.passes = upsert.passes;
    report.passes.extend(removal.passes);
    report.starts = FUNCTIONS
        .iter()
        .filter_map(|f| b.starts.remove(f.binary))
        .collect();

    // After the figures above are taken, so that its processes and CPU leave them as
    // they were.
    let mut scaling_section = String::new();
    if !opts.skip_scaling {
        progress(&format!(
            "scaling: 1, 2, 4 and 8 upsert-users processes at once, {} users each per pass",
            opts.scaling_users
        ));
        let scaling_started = Instant::now();
        let passes = bench::scaling::run(&mut b, opts.scaling_users)?;
        let svg_path = opts
            .out
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(SCALING_SVG);
        if let Some(dir) = svg_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir.display(), e))?;
        }
        std::fs::write(&svg_path, bench::scaling::svg(&passes))
            .map_err(|e| BenchError::io(svg_path.display(), e))?;
        scaling_section = bench::scaling::markdown(&passes, SCALING_SVG);
        progress(&format!(
            "scaling: done in {:.0} s, plot written to {}",
            scaling_started.elapsed().as_secs_f64(),
            svg_path.display()
        ));
    }

    let text = report.markdown() + &sync_section + &scaling_section;
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir.display(), e))?;
    }
    std::fs::write(&opts.out, &text).map_err(|e| BenchError::io(opts.out.display(), e))?;
    println!("{text}");
    progress(&format!(
        "report written to {} after {:.0} s",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Every repetition of the same groups' passes: one report entry per pass, one sample
/// per repetition.
#[derive(Default)]
struct Repetitions {
    passes: Vec<PassResult>,
}

impl Repetitions {
    /// Runs one repetition of `groups`, each on fresh tables, adding its samples.
    fn run(
        &mut self,
        b: &mut Bench,
        groups: &[Group],
        function_first: bool,
    ) -> Result<GroupRun, BenchError> {
        if self.passes.is_empty() {
            self.passes = groups
                .iter()
                .flat_map(|g| g.passes.iter().map(|p| p.result()))
                .collect();
        }
        let mut all = GroupRun::default();
        for group in groups {
            let run = b.run_group(group, function_first)?;
            all.samples.extend(run.samples);
            all.item_check = all.item_check.or(run.item_check);
        }
        for (p, s) in self.passes.iter_mut().zip(all.samples.drain(..)) {
            p.samples.push(s);
        }
        Ok(all)
    }
}

/// CPU used so far by the bench and DynamoDB Local (`None` without DynamoDB Local's pid).
fn ours(server_pid: Option<u32>) -> Option<Duration> {
    let own = bench::process::cpu_time(std::process::id()).ok()?;
    let server = bench::process::cpu_time(server_pid?).ok()?;
    Some(own + server)
}

fn run_info(repeats: usize, removal_repeats: usize) -> RunInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let memory_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024);
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "unknown".into());
    RunInfo {
        date: Timestamp::now().to_db_string(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        memory_mib,
        git: env("BENCH_GIT"),
        dynamodb_local: env("BENCH_DYNAMODB_LOCAL"),
        repeats,
        removal_repeats,
        concurrency: CONCURRENCY,
        load_at_start: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into()),
        ..RunInfo::default()
    }
}
