//! `bench [--repeats N] [--out FILE] [--bin-dir DIR] [--log-dir DIR]`: runs every
//! scenario against the DynamoDB Local named by `AWS_ENDPOINT_URL_DYNAMODB` and writes
//! the markdown report. Run it through `make bench` (scripts/bench.sh), which starts a
//! DynamoDB Local of its own and builds the release binaries first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use bench::floor::{Floor, item_size};
use bench::process::{FunctionProcess, FunctionSpec};
use bench::report::{BinaryInfo, ItemCheck, PassResult, PassSample, Report, RunInfo, StartInfo};
use bench::upsert::{self, Pass, Population};
use shared::store::keys;
use tokio::runtime::Runtime;

/// Requests in flight, for the function (`DYNAMODB_CONCURRENCY`) and the floor alike.
const CONCURRENCY: usize = 8;
/// The function's `AUTH_JWT_SECRET` and the key the bench signs its token with.
const SECRET: &str = "bench-secret-not-for-production";
/// Peak RSS of one 1000-item request, MiB.
const PEAK_TARGET_MIB: f64 = 48.0;
/// Update pass / floor (b).
const UPDATE_TARGET: f64 = 1.3;
/// Spawn to ready, at most.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Processes started only to time the start, besides one per repetition.
const EXTRA_STARTS: usize = 5;
/// Users of the warm-up (not reported).
const WARMUP_USERS: usize = 3000;
/// Items per request (the API's limit).
const PER_REQUEST: usize = 1000;

struct Options {
    repeats: usize,
    out: PathBuf,
    bin_dir: PathBuf,
    log_dir: PathBuf,
}

impl Options {
    fn parse() -> Result<Self, String> {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("target/release"));
        let mut o = Options {
            repeats: std::env::var("BENCH_REPEATS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
            out: PathBuf::from("target/bench/report.md"),
            bin_dir: exe_dir,
            log_dir: PathBuf::from("target/bench"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
            match a.as_str() {
                "--repeats" => {
                    o.repeats = value()?.parse().map_err(|e| format!("--repeats: {e}"))?
                }
                "--out" => o.out = PathBuf::from(value()?),
                "--bin-dir" => o.bin_dir = PathBuf::from(value()?),
                "--log-dir" => o.log_dir = PathBuf::from(value()?),
                "-h" | "--help" => {
                    return Err(
                        "usage: bench [--repeats N] [--out FILE] [--bin-dir DIR] [--log-dir DIR]"
                            .into(),
                    );
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        o.repeats = o.repeats.max(1);
        Ok(o)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

/// The three tables of one repetition.
struct Tables {
    function: String,
    floor_a: String,
    floor_b: String,
}

impl Tables {
    fn new(prefix: &str) -> Self {
        Self {
            function: format!("{prefix}_fn"),
            floor_a: format!("{prefix}_floor_a"),
            floor_b: format!("{prefix}_floor_b"),
        }
    }

    fn all(&self) -> [&str; 3] {
        [&self.function, &self.floor_a, &self.floor_b]
    }

    fn create(&self, rt: &Runtime, client: &Client) -> Result<(), String> {
        let def = devctl::TableDefinition::from_template().map_err(|e| e.to_string())?;
        for t in self.all() {
            rt.block_on(def.create(client, t))
                .map_err(|e| format!("create table {t}: {e}"))?;
        }
        Ok(())
    }

    fn delete(&self, rt: &Runtime, client: &Client) {
        for t in self.all() {
            let _ = rt.block_on(client.delete_table().table_name(t).send());
        }
    }
}

fn run() -> Result<(), String> {
    let opts = Options::parse()?;
    std::fs::create_dir_all(&opts.log_dir)
        .map_err(|e| format!("{}: {e}", opts.log_dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        return Err("AWS_ENDPOINT_URL_DYNAMODB is not set: run `make bench`".into());
    }
    let client = rt.block_on(devctl::client_from_env());
    rt.block_on(devctl::wait_for_dynamodb(&client, Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    // DynamoDB Local's pid (scripts/bench.sh passes it): its CPU time is reported too.
    let server_pid = std::env::var("BENCH_DYNAMODB_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|p| bench::process::cpu_time(*p).is_ok());
    let floor = Floor::new(client.clone(), CONCURRENCY).with_server_pid(server_pid);

    let binary = opts.bin_dir.join(upsert::BINARY);
    let bytes = std::fs::read(&binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let mut report = Report {
        info: run_info(opts.repeats),
        binaries: vec![BinaryInfo {
            function: upsert::BINARY.into(),
            path: format!("target/release/{}", upsert::BINARY),
            bytes: bytes.len() as u64,
            stripped: !bytes.windows(8).any(|w| w == b".symtab\0"),
        }],
        peak_target_mib: PEAK_TARGET_MIB,
        ..Report::default()
    };
    drop(bytes);
    let token = shared::auth::mint_hs256(
        SECRET,
        upsert::ACTOR,
        Some("admin"),
        Duration::from_secs(6 * 3600),
    );
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let spec = |table: &str, log: &str| {
        FunctionSpec::new(upsert::BINARY, &binary)
            .var("TABLE_NAME", table)
            .var("AUTH_JWT_SECRET", SECRET)
            .var("RUST_LOG", "info")
            .var("DYNAMODB_CONCURRENCY", CONCURRENCY.to_string())
            .log_to(opts.log_dir.join(log))
    };
    let mut start = StartInfo {
        function: upsert::BINARY.into(),
        ..StartInfo::default()
    };

    // Warm-up (not reported): DynamoDB Local is a JVM and runs slowly until it has
    // compiled its hot paths.
    progress(&format!(
        "warm-up: {WARMUP_USERS} users created and updated through the function and the floor"
    ));
    let warm = Tables::new(&format!("bench_{run_id}_warm"));
    warm.create(&rt, &client)?;
    {
        let mut f = FunctionProcess::spawn(&spec(&warm.function, "upsert-users-warmup.log"))?;
        start.ready.push(f.wait_ready(READY_TIMEOUT)?);
        start.idle_rss_kb.push(f.memory()?.rss_kb);
        let pop = Population::new(999, WARMUP_USERS, PER_REQUEST);
        for pass in [Pass::Create, Pass::Update] {
            upsert::run_function(&mut f, &token, &pop, pass, server_pid)?;
            rt.block_on(upsert::run_floor(
                &floor,
                &warm.floor_a,
                &warm.floor_b,
                &pop,
                pass,
            ))?;
        }
    }
    for i in 0..EXTRA_STARTS {
        let mut f =
            FunctionProcess::spawn(&spec(&warm.function, &format!("upsert-users-start{i}.log")))?;
        start.ready.push(f.wait_ready(READY_TIMEOUT)?);
        start.idle_rss_kb.push(f.memory()?.rss_kb);
    }
    warm.delete(&rt, &client);

    let scenarios = [(1000, 1), (10_000, 2)];
    let mut results: Vec<PassResult> = Vec::new();
    let measured_from = std::time::Instant::now();
    let machine_before = bench::process::machine_busy();
    let ours_before = ours(server_pid);
    let mut functions_cpu = Duration::ZERO;
    for rep in 0..opts.repeats {
        let tables = Tables::new(&format!("bench_{run_id}_r{rep}"));
        tables.create(&rt, &client)?;
        let mut f = FunctionProcess::spawn(&spec(
            &tables.function,
            &format!("upsert-users-rep{rep}.log"),
        ))?;
        start.ready.push(f.wait_ready(READY_TIMEOUT)?);
        start.idle_rss_kb.push(f.memory()?.rss_kb);
        // Alternate which side runs first so neither always meets a fresher JVM heap.
        let function_first = rep % 2 == 1;
        for (s, (n, tag)) in scenarios.iter().enumerate() {
            let pop = Population::new(rep as u32 * 10 + tag, *n, PER_REQUEST);
            for (p, pass) in [Pass::Create, Pass::Update].into_iter().enumerate() {
                progress(&format!(
                    "repetition {}/{}: {}, {} pass",
                    rep + 1,
                    opts.repeats,
                    pop.label,
                    pass.name()
                ));
                let floor_pass = || {
                    rt.block_on(upsert::run_floor(
                        &floor,
                        &tables.floor_a,
                        &tables.floor_b,
                        &pop,
                        pass,
                    ))
                };
                let (function, (floor_a, floor_b)) = if function_first {
                    let fr = upsert::run_function(&mut f, &token, &pop, pass, server_pid)?;
                    (fr, floor_pass()?)
                } else {
                    let fl = floor_pass()?;
                    (
                        upsert::run_function(&mut f, &token, &pop, pass, server_pid)?,
                        fl,
                    )
                };
                progress(&format!(
                    "  function {:.0} ms (CPU {:.0} ms; {}), floor (a) {:.0} ms, floor (b) {:.0} ms, peak RSS {} MiB",
                    function.elapsed.as_secs_f64() * 1000.0,
                    function.cpu.as_secs_f64() * 1000.0,
                    function.calls,
                    floor_a.elapsed.as_secs_f64() * 1000.0,
                    floor_b.elapsed.as_secs_f64() * 1000.0,
                    bench::stats::mib(function.peak_kb)
                ));
                let index = s * 2 + p;
                if results.len() <= index {
                    results.push(PassResult {
                        function: upsert::BINARY.into(),
                        scenario: pop.label.clone(),
                        pass: pass.name().into(),
                        items: pop.users.len(),
                        target_ratio: (pass == Pass::Update).then_some(UPDATE_TARGET),
                        samples: Vec::new(),
                    });
                }
                results[index].samples.push(PassSample {
                    function,
                    floor_a,
                    floor_b,
                });
            }
            if rep == 0 && s == 0 {
                report.item_check = Some(compare_items(&rt, &client, &tables, &pop)?);
            }
        }
        functions_cpu += f.cpu_time()?;
        drop(f);
        tables.delete(&rt, &client);
    }
    report.info.measured_wall = measured_from.elapsed();
    report.info.machine_cpu = match (
        machine_before,
        bench::process::machine_busy(),
        ours_before,
        ours(server_pid),
    ) {
        (Ok(m0), Ok(m1), Some(o0), Some(o1)) => {
            Some((m1.saturating_sub(m0), o1.saturating_sub(o0) + functions_cpu))
        }
        _ => None,
    };
    report.passes = results;
    report.starts = vec![start];

    let text = report.markdown();
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&opts.out, &text).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    println!("{text}");
    progress(&format!("report written to {}", opts.out.display()));
    Ok(())
}

/// CPU used so far by the bench and DynamoDB Local (`None` without DynamoDB Local's pid).
fn ours(server_pid: Option<u32>) -> Option<Duration> {
    let own = bench::process::cpu_time(std::process::id()).ok()?;
    let server = bench::process::cpu_time(server_pid?).ok()?;
    Some(own + server)
}

/// Reads the first user back from the function's table and from floor (b)'s.
fn compare_items(
    rt: &Runtime,
    client: &Client,
    tables: &Tables,
    pop: &Population,
) -> Result<ItemCheck, String> {
    let id = shared::domain::LinkId::from(pop.users[0].id);
    let get = |table: &str| {
        rt.block_on(
            client
                .get_item()
                .table_name(table)
                .key(keys::PK, AttributeValue::S(keys::user(&id)))
                .consistent_read(true)
                .send(),
        )
        .map_err(|e| {
            format!(
                "GetItem: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )
        })?
        .item
        .ok_or_else(|| format!("user {id} is not in {table}"))
    };
    let function = get(&tables.function)?;
    let floor = get(&tables.floor_b)?;
    let names = |i: &bench::floor::Item| i.keys().cloned().collect::<BTreeSet<String>>();
    let (fnames, lnames) = (names(&function), names(&floor));
    Ok(ItemCheck {
        function_bytes: item_size(&function),
        floor_bytes: item_size(&floor),
        only_function: fnames.difference(&lnames).cloned().collect(),
        only_floor: lnames.difference(&fnames).cloned().collect(),
    })
}

fn run_info(repeats: usize) -> RunInfo {
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
        date: shared::domain::Timestamp::now().to_db_string(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        memory_mib,
        git: env("BENCH_GIT"),
        dynamodb_local: env("BENCH_DYNAMODB_LOCAL"),
        repeats,
        concurrency: CONCURRENCY,
        load_at_start: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into()),
        ..RunInfo::default()
    }
}
