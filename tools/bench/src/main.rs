//! `bench [--repeats N] [--removal-repeats N] [--removal-users N] [--skip-upsert]
//! [--skip-removal] [--out FILE] [--bin-dir DIR] [--log-dir DIR]`: runs every scenario
//! against the DynamoDB Local named by `AWS_ENDPOINT_URL_DYNAMODB` and writes the
//! markdown report. Run it through `make bench` (scripts/bench.sh), which starts a
//! DynamoDB Local of its own and builds the release binaries first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use bench::floor::{Floor, FloorRun, item_size};
use bench::process::{FunctionProcess, FunctionSpec};
use bench::removal::{self, Cohort, Emails};
use bench::report::{
    BinaryInfo, FunctionRun, ItemCheck, PassResult, PassSample, Report, RunInfo, StartInfo,
};
use bench::upsert::{self, Pass, Population};
use shared::domain::filter::{Filter, FilterRequest};
use shared::store::keys;
use tokio::runtime::Runtime;

/// Requests in flight, for the function (`DYNAMODB_CONCURRENCY`) and the floor alike.
const CONCURRENCY: usize = 8;
/// The function's `AUTH_JWT_SECRET` and the key the bench signs its token with.
const SECRET: &str = "bench-secret-not-for-production";
/// Peak RSS of one 1000-item request, MiB.
const PEAK_TARGET_MIB: f64 = 48.0;
/// Function / floor, for the upsert update pass and every delete pass.
const RATIO_TARGET: f64 = 1.3;
/// Spawn to ready, at most.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Processes of each function started only to time the start.
const EXTRA_STARTS: usize = 5;
/// Users of the upsert warm-up (not reported).
const WARMUP_USERS: usize = 3000;
/// Users of each delete pass (`--removal-users` changes it, for trying the bench out).
const REMOVAL_USERS: usize = 10_000;
/// Users of each delete pass in the warm-up (not reported).
const WARMUP_REMOVAL_USERS: usize = 2000;
/// Items per request (the API's limit).
const PER_REQUEST: usize = 1000;
/// Every function measured, in report order.
const FUNCTIONS: [&str; 5] = [
    upsert::BINARY,
    removal::DELETE,
    removal::SOFT_DELETE,
    removal::FILTER_DELETE,
    removal::CLEANUP,
];

struct Options {
    repeats: usize,
    removal_repeats: usize,
    removal_users: usize,
    skip_upsert: bool,
    skip_removal: bool,
    out: PathBuf,
    bin_dir: PathBuf,
    log_dir: PathBuf,
}

const USAGE: &str = "usage: bench [--repeats N] [--removal-repeats N] [--removal-users N] \
                     [--skip-upsert] [--skip-removal] [--out FILE] [--bin-dir DIR] [--log-dir DIR]";

impl Options {
    fn parse() -> Result<Self, String> {
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
                "--removal-repeats" => {
                    o.removal_repeats = value()?
                        .parse()
                        .map_err(|e| format!("--removal-repeats: {e}"))?
                }
                "--removal-users" => {
                    o.removal_users = value()?
                        .parse()
                        .map_err(|e| format!("--removal-users: {e}"))?
                }
                "--skip-upsert" => o.skip_upsert = true,
                "--skip-removal" => o.skip_removal = true,
                "--out" => o.out = PathBuf::from(value()?),
                "--bin-dir" => o.bin_dir = PathBuf::from(value()?),
                "--log-dir" => o.log_dir = PathBuf::from(value()?),
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown argument {other}\n{USAGE}")),
            }
        }
        o.repeats = o.repeats.max(1);
        o.removal_repeats = o.removal_repeats.max(1);
        o.removal_users = o.removal_users.max(1);
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

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Tables created from template.yaml's definition and dropped together.
struct Tables(Vec<String>);

impl Tables {
    fn create(rt: &Runtime, client: &Client, names: Vec<String>) -> Result<Self, String> {
        let def = devctl::TableDefinition::from_template().map_err(|e| e.to_string())?;
        for t in &names {
            rt.block_on(def.create(client, t))
                .map_err(|e| format!("create table {t}: {e}"))?;
        }
        Ok(Self(names))
    }

    fn delete(&self, rt: &Runtime, client: &Client) {
        for t in &self.0 {
            let _ = rt.block_on(client.delete_table().table_name(t).send());
        }
    }
}

/// What every scenario needs: the runtime, the clients, the token, where binaries and
/// logs are, and the start figures and CPU of every function process started.
struct Bench {
    rt: Runtime,
    client: Client,
    floor: Floor,
    token: String,
    server_pid: Option<u32>,
    bin_dir: PathBuf,
    log_dir: PathBuf,
    starts: BTreeMap<&'static str, StartInfo>,
    functions_cpu: Duration,
}

impl Bench {
    fn spec(&self, function: &'static str, table: &str, log: &str) -> FunctionSpec {
        let spec = FunctionSpec::new(function, self.bin_dir.join(function))
            .var("TABLE_NAME", table)
            .var("AUTH_JWT_SECRET", SECRET)
            .var("RUST_LOG", "info")
            .var("DYNAMODB_CONCURRENCY", CONCURRENCY.to_string())
            .log_to(self.log_dir.join(format!("{function}-{log}.log")));
        if function == removal::CLEANUP {
            // As template.yaml deploys it: not behind API Gateway, 300 s, 5 s margin.
            spec.budget(removal::CLEANUP_BUDGET)
                .var("DEADLINE_MARGIN_MS", removal::CLEANUP_MARGIN_MS)
        } else {
            spec
        }
    }

    /// Starts `function` on `table` and waits until it is ready (start figures kept).
    fn spawn(
        &mut self,
        function: &'static str,
        table: &str,
        log: &str,
    ) -> Result<FunctionProcess, String> {
        let mut f = FunctionProcess::spawn(&self.spec(function, table, log))?;
        let ready = f.wait_ready(READY_TIMEOUT)?;
        let rss = f.memory()?.rss_kb;
        let start = self.starts.entry(function).or_insert_with(|| StartInfo {
            function: function.into(),
            ..StartInfo::default()
        });
        start.ready.push(ready);
        start.idle_rss_kb.push(rss);
        Ok(f)
    }

    /// Stops a function process, counting the CPU it used.
    fn retire(&mut self, f: FunctionProcess) {
        self.functions_cpu += f.cpu_time().unwrap_or_default();
    }

    fn tables(&self, names: Vec<String>) -> Result<Tables, String> {
        Tables::create(&self.rt, &self.client, names)
    }
}

/// Runs the function side and the floor side of a pass, in the given order.
fn ordered<A, B>(
    function_first: bool,
    function: impl FnOnce() -> Result<A, String>,
    floor: impl FnOnce() -> Result<B, String>,
) -> Result<(A, B), String> {
    if function_first {
        let a = function()?;
        Ok((a, floor()?))
    } else {
        let b = floor()?;
        Ok((function()?, b))
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

    let mut binaries = Vec::new();
    for function in FUNCTIONS {
        let binary = opts.bin_dir.join(function);
        let bytes = std::fs::read(&binary).map_err(|e| format!("{}: {e}", binary.display()))?;
        binaries.push(BinaryInfo {
            function: function.into(),
            path: format!("target/release/{function}"),
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
    let token = shared::auth::mint_hs256(
        SECRET,
        upsert::ACTOR,
        Some("admin"),
        Duration::from_secs(6 * 3600),
    );
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut b = Bench {
        rt,
        client,
        floor,
        token,
        server_pid,
        bin_dir: opts.bin_dir.clone(),
        log_dir: opts.log_dir.clone(),
        starts: BTreeMap::new(),
        functions_cpu: Duration::ZERO,
    };
    let started = Instant::now();

    // Warm-up (not reported): DynamoDB Local is a JVM and runs slowly until it has
    // compiled its hot paths, for every kind of request the passes make.
    progress(&format!(
        "warm-up: {WARMUP_USERS} users created and updated through the function and the floor"
    ));
    let warm = b.tables(vec![
        format!("bench_{run_id}_warm_fn"),
        format!("bench_{run_id}_warm_floor_a"),
        format!("bench_{run_id}_warm_floor_b"),
    ])?;
    {
        let mut f = b.spawn(upsert::BINARY, &warm.0[0], "warmup")?;
        let pop = Population::new(999, WARMUP_USERS, PER_REQUEST);
        for pass in [Pass::Create, Pass::Update] {
            upsert::run_function(&mut f, &b.token, &pop, pass, server_pid)?;
            b.rt.block_on(upsert::run_floor(
                &b.floor, &warm.0[1], &warm.0[2], &pop, pass,
            ))?;
        }
        report.seed_check =
            Some(b.rt.block_on(removal::seed_check(&b.client, &warm.0[0], &pop.users[0]))?);
        b.retire(f);
    }
    if !opts.skip_removal {
        let warmup_removal = WARMUP_REMOVAL_USERS.min(opts.removal_users);
        progress(&format!(
            "warm-up: every delete pass with {warmup_removal} users"
        ));
        removal_repetition(&mut b, &run_id, "warm", warmup_removal, false)?;
    }
    for function in FUNCTIONS {
        for i in 0..EXTRA_STARTS {
            let f = b.spawn(function, &warm.0[0], &format!("start{i}"))?;
            b.retire(f);
        }
    }
    warm.delete(&b.rt, &b.client);

    let mut results: Vec<PassResult> = Vec::new();
    let measured_from = Instant::now();
    let machine_before = bench::process::machine_busy();
    let ours_before = ours(server_pid);
    b.functions_cpu = Duration::ZERO;
    if !opts.skip_upsert {
        upsert_passes(&mut b, &opts, &run_id, &mut results, &mut report)?;
    }
    if !opts.skip_removal {
        let mut passes = removal_passes(opts.removal_users);
        for rep in 0..opts.removal_repeats {
            progress(&format!(
                "delete passes, repetition {}/{}",
                rep + 1,
                opts.removal_repeats
            ));
            // Alternate which side runs first so neither always meets a fresher JVM heap.
            let samples = removal_repetition(
                &mut b,
                &run_id,
                &format!("r{rep}"),
                opts.removal_users,
                rep % 2 == 1,
            )?;
            for (p, s) in passes.iter_mut().zip(samples) {
                p.samples.push(s);
            }
        }
        results.extend(passes);
    }
    report.info.measured_wall = measured_from.elapsed();
    report.info.machine_cpu = match (
        machine_before,
        bench::process::machine_busy(),
        ours_before,
        ours(server_pid),
    ) {
        (Ok(m0), Ok(m1), Some(o0), Some(o1)) => Some((
            m1.saturating_sub(m0),
            o1.saturating_sub(o0) + b.functions_cpu,
        )),
        _ => None,
    };
    report.passes = results;
    report.starts = FUNCTIONS
        .iter()
        .filter_map(|f| b.starts.remove(f))
        .collect();

    let text = report.markdown();
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&opts.out, &text).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    println!("{text}");
    progress(&format!(
        "report written to {} after {:.0} s",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The upsert scenarios: 1,000 and 10,000 users, create then update pass, each against
/// its floors ((a) and (b); updates also (c)), `opts.repeats` times.
fn upsert_passes(
    b: &mut Bench,
    opts: &Options,
    run_id: &str,
    results: &mut Vec<PassResult>,
    report: &mut Report,
) -> Result<(), String> {
    let scenarios = [(1000, 1), (10_000, 2)];
    let first = results.len();
    for rep in 0..opts.repeats {
        let tables = b.tables(vec![
            format!("bench_{run_id}_r{rep}_fn"),
            format!("bench_{run_id}_r{rep}_floor_a"),
            format!("bench_{run_id}_r{rep}_floor_b"),
        ])?;
        let (fn_table, floor_a, floor_b) = (&tables.0[0], &tables.0[1], &tables.0[2]);
        let mut f = b.spawn(upsert::BINARY, fn_table, &format!("rep{rep}"))?;
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
                let (function, floors) = ordered(
                    function_first,
                    || upsert::run_function(&mut f, &b.token, &pop, pass, b.server_pid),
                    || {
                        b.rt.block_on(upsert::run_floor(&b.floor, floor_a, floor_b, &pop, pass))
                    },
                )?;
                progress(&format!(
                    "  function {:.0} ms (CPU {:.0} ms; {}), floor (a) {:.0} ms, floor (b) {:.0} ms{}, peak RSS {} MiB",
                    millis(function.elapsed),
                    millis(function.cpu),
                    function.calls,
                    millis(floors.a.elapsed),
                    millis(floors.b.elapsed),
                    floors
                        .alternatives
                        .as_ref()
                        .map(|(c, d)| format!(
                            ", floor (c) {:.0} ms, (d) {:.0} ms",
                            millis(c.elapsed),
                            millis(d.elapsed)
                        ))
                        .unwrap_or_default(),
                    bench::stats::mib(function.peak_kb)
                ));
                let index = first + s * 2 + p;
                if results.len() <= index {
                    // Updates are compared with the same conditional transactions sent raw
                    // (c), and with unconditional batch writes (b) as a second figure;
                    // creates with (b) and (a).
                    let (floor, second) = match pass {
                        Pass::Update => (
                            "(c) BatchGet+Transact conditional puts",
                            "(b) BatchGet+BatchWrite",
                        ),
                        Pass::Create => ("(b) BatchGet+BatchWrite", "(a) BatchWrite"),
                    };
                    let alternatives = match pass {
                        Pass::Update => vec!["(d) BatchGet+conditional PutItem each".to_owned()],
                        Pass::Create => Vec::new(),
                    };
                    results.push(PassResult {
                        second: Some(second.into()),
                        alternatives,
                        target_ratio: (pass == Pass::Update).then_some(RATIO_TARGET),
                        ..PassResult::new(
                            upsert::BINARY,
                            &pop.label,
                            pass.name(),
                            pop.users.len(),
                            floor,
                        )
                    });
                }
                let sample = match floors.alternatives {
                    Some((c, d)) => PassSample {
                        function,
                        floor: c,
                        second: Some(floors.b),
                        alternatives: vec![d],
                    },
                    None => PassSample {
                        function,
                        floor: floors.b,
                        second: Some(floors.a),
                        alternatives: Vec::new(),
                    },
                };
                results[index].samples.push(sample);
            }
            if rep == 0 && s == 0 {
                report.item_check = Some(compare_items(&b.rt, &b.client, fn_table, floor_b, &pop)?);
            }
        }
        b.retire(f);
        tables.delete(&b.rt, &b.client);
    }
    Ok(())
}

/// The delete passes, in the order [`removal_repetition`] returns their samples.
fn removal_passes(n: usize) -> Vec<PassResult> {
    let requests = format!(
        "{n} users, {} requests of {PER_REQUEST}",
        n.div_ceil(PER_REQUEST)
    );
    let matching = format!("{n} of {} users match", 2 * n);
    let pass = |function, scenario: &str, name, floor, per_request_peak| PassResult {
        target_ratio: Some(RATIO_TARGET),
        per_request_peak,
        ..PassResult::new(function, scenario, name, n, floor)
    };
    vec![
        PassResult {
            second: Some("(t) its transactions, raw".into()),
            ..pass(
                removal::DELETE,
                &requests,
                "hard delete",
                "DeleteItem per user",
                true,
            )
        },
        pass(
            removal::SOFT_DELETE,
            &requests,
            "soft delete",
            "UpdateItem per user",
            true,
        ),
        pass(
            removal::CLEANUP,
            &format!("{n} soft-deleted users"),
            "purge",
            "Query deleted-index + DeleteItem",
            false,
        ),
        pass(
            removal::FILTER_DELETE,
            &matching,
            "filter delete, scan (user_type)",
            "Scan + DeleteItem",
            false,
        ),
        pass(
            removal::FILTER_DELETE,
            &matching,
            "filter delete, email-index",
            "Query email-index + DeleteItem",
            false,
        ),
    ]
}

fn report_pass(name: &str, function: &FunctionRun, floor: &FloorRun) {
    progress(&format!(
        "  {name}: function {:.0} ms in {} invocation{} (CPU {:.0} ms; {}), floor {:.0} ms ({}), peak RSS {} MiB",
        millis(function.elapsed),
        function.invocations,
        if function.invocations == 1 { "" } else { "s" },
        millis(function.cpu),
        function.calls,
        millis(floor.elapsed),
        floor.calls,
        bench::stats::mib(function.peak_kb)
    ));
}

/// One repetition of every delete pass with `n` users each, on tables of its own:
/// hard delete, soft delete, purge of those soft-deleted users, then a filter delete
/// by scan and one by e-mail, each of `n` users among `2n`. Returns one sample per
/// pass of [`removal_passes`], in that order.
fn removal_repetition(
    b: &mut Bench,
    run_id: &str,
    tag: &str,
    n: usize,
    function_first: bool,
) -> Result<Vec<PassSample>, String> {
    let mut samples = Vec::with_capacity(5);
    let sample = |function, floor| PassSample {
        function,
        floor,
        second: None,
        alternatives: Vec::new(),
    };
    let expect = |b: &Bench, table: &str, keys, present, what: &str| {
        b.rt.block_on(removal::expect_keys(&b.floor, table, keys, present, what))
    };
    let found = |run: &FloorRun, what: &str| {
        if run.found == n {
            Ok(())
        } else {
            Err(format!(
                "{what} floor deleted {} users, expected {n}",
                run.found
            ))
        }
    };

    // Hard delete, soft delete and purge share a pair of tables; the hard delete's
    // second floor has a table of its own.
    let tables = b.tables(vec![
        format!("bench_{run_id}_{tag}_del_fn"),
        format!("bench_{run_id}_{tag}_del_floor"),
        format!("bench_{run_id}_{tag}_del_tx"),
    ])?;
    let (fn_table, floor_table, tx_table) = (
        tables.0[0].clone(),
        tables.0[1].clone(),
        tables.0[2].clone(),
    );
    let seed = |b: &Bench, cohort: &Cohort| {
        b.rt.block_on(removal::seed(&b.floor, &[&fn_table, &floor_table], cohort))
    };

    let hard = Cohort::new(1, n, PER_REQUEST);
    b.rt.block_on(removal::seed(
        &b.floor,
        &[&fn_table, &floor_table, &tx_table],
        &hard,
    ))?;
    let mut f = b.spawn(removal::DELETE, &fn_table, tag)?;
    let (function, (floor, tx)) = ordered(
        function_first,
        || removal::hard_delete(&mut f, &b.token, &hard, b.server_pid),
        || {
            b.rt.block_on(async {
                let floor = removal::hard_delete_floor(&b.floor, &floor_table, &hard).await?;
                let tx = removal::hard_delete_tx_floor(&b.floor, &tx_table, &hard).await?;
                Ok::<_, String>((floor, tx))
            })
        },
    )?;
    b.retire(f);
    report_pass("hard delete", &function, &floor);
    progress(&format!(
        "  hard delete, the function's transactions raw: {:.0} ms ({})",
        millis(tx.elapsed),
        tx.calls
    ));
    claims_free(b, &fn_table, &hard, "hard delete")?;
    expect(
        b,
        &floor_table,
        hard.user_keys(),
        false,
        "hard delete floor, users",
    )?;
    expect(
        b,
        &tx_table,
        hard.user_keys(),
        false,
        "transaction floor, users",
    )?;
    samples.push(PassSample {
        function,
        floor,
        second: Some(tx),
        alternatives: Vec::new(),
    });

    let soft = Cohort::new(2, n, PER_REQUEST);
    seed(b, &soft)?;
    let mut f = b.spawn(removal::SOFT_DELETE, &fn_table, tag)?;
    let (function, floor) = ordered(
        function_first,
        || removal::soft_delete(&mut f, &b.token, &soft, b.server_pid),
        || {
            b.rt.block_on(removal::soft_delete_floor(&b.floor, &floor_table, &soft))
        },
    )?;
    b.retire(f);
    report_pass("soft delete", &function, &floor);
    for t in [&fn_table, &floor_table] {
        b.rt.block_on(removal::expect_soft_deleted(&b.floor, t, &soft))?;
    }
    samples.push(sample(function, floor));

    let mut f = b.spawn(removal::CLEANUP, &fn_table, tag)?;
    let (function, floor) = ordered(
        function_first,
        || removal::purge(&mut f, &soft, b.server_pid),
        || b.rt.block_on(removal::purge_floor(&b.floor, &floor_table)),
    )?;
    b.retire(f);
    report_pass("purge", &function, &floor);
    found(&floor, "purge")?;
    claims_free(b, &fn_table, &soft, "purge")?;
    expect(
        b,
        &floor_table,
        soft.user_keys(),
        false,
        "purge floor, users",
    )?;
    samples.push(sample(function, floor));
    tables.delete(&b.rt, &b.client);

    // The filter deletes: fresh tables, `n` users to keep and `n` matching each time.
    let tables = b.tables(vec![
        format!("bench_{run_id}_{tag}_flt_fn"),
        format!("bench_{run_id}_{tag}_flt_floor"),
    ])?;
    let (fn_table, floor_table) = (tables.0[0].clone(), tables.0[1].clone());
    let seed = |b: &Bench, cohort: &Cohort| {
        b.rt.block_on(removal::seed(&b.floor, &[&fn_table, &floor_table], cohort))
    };
    let keep = Cohort::new(4, n, PER_REQUEST)
        .user_type("bench-staff")
        .emails(Emails::Own("keep.bench.example".into()));
    let visitor_type = format!("bench-visitor-{tag}");
    let visitors = Cohort::new(3, n, PER_REQUEST).user_type(&visitor_type);
    let shared_email = format!("shared-{tag}@bench.example");
    let by_email = Cohort::new(5, n, PER_REQUEST)
        .user_type("bench-staff")
        .emails(Emails::Shared(shared_email.clone()));
    seed(b, &keep)?;
    let mut f = b.spawn(removal::FILTER_DELETE, &fn_table, tag)?;
    let cases: [(&str, &str, &Cohort, &str); 2] = [
        ("user_type", &visitor_type, &visitors, "filter delete, scan"),
        (
            "email",
            &shared_email,
            &by_email,
            "filter delete, email-index",
        ),
    ];
    for (param, value, cohort, name) in cases {
        seed(b, cohort)?;
        let query = [(param, value)];
        let filter = parse_filter(&query)?;
        let (function, floor) = ordered(
            function_first,
            || removal::filter_delete(&mut f, &b.token, &query, cohort, b.server_pid),
            || {
                b.rt.block_on(async {
                    if filter.email.is_some() {
                        removal::email_delete_floor(&b.floor, &floor_table, &filter).await
                    } else {
                        removal::scan_delete_floor(&b.floor, &floor_table, &filter).await
                    }
                })
            },
        )?;
        report_pass(name, &function, &floor);
        found(&floor, name)?;
        claims_free(b, &fn_table, cohort, name)?;
        expect(
            b,
            &floor_table,
            cohort.user_keys(),
            false,
            &format!("{name} floor, users"),
        )?;
        for t in [&fn_table, &floor_table] {
            expect(
                b,
                t,
                keep.user_keys(),
                true,
                &format!("{name}, users not matching"),
            )?;
        }
        samples.push(sample(function, floor));
    }
    b.retire(f);
    tables.delete(&b.rt, &b.client);
    Ok(samples)
}

/// Checks that the cohort's users are gone from `table` and their card claims free.
fn claims_free(b: &Bench, table: &str, cohort: &Cohort, what: &str) -> Result<(), String> {
    let left =
        b.rt.block_on(removal::expect_claims_free(&b.floor, table, cohort, what))?;
    progress(&format!(
        "  {what}: users gone, their {} card claims free ({left} left in place, naming deleted users)",
        cohort.len()
    ));
    Ok(())
}

/// The filter the function parses from `query`, for the floor to use the same one.
fn parse_filter(query: &[(&str, &str)]) -> Result<Filter, String> {
    FilterRequest::parse(
        query.iter().copied(),
        shared::domain::Timestamp::now(),
        PER_REQUEST,
    )
    .map(|r| r.filter)
    .map_err(|e| format!("filter {query:?}: {e}"))
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
    function_table: &str,
    floor_table: &str,
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
    let function = get(function_table)?;
    let floor = get(floor_table)?;
    let names = |i: &bench::floor::Item| i.keys().cloned().collect::<BTreeSet<String>>();
    let (fnames, lnames) = (names(&function), names(&floor));
    Ok(ItemCheck {
        function_bytes: item_size(&function),
        floor_bytes: item_size(&floor),
        only_function: fnames.difference(&lnames).cloned().collect(),
        only_floor: lnames.difference(&fnames).cloned().collect(),
    })
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
        date: shared::domain::Timestamp::now().to_db_string(),
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
