//! Runs any [`Group`] of passes the same way: fresh tables, the group's resident users
//! seeded, then for each pass its users seeded, its function started (or the one
//! already running kept, when the pass before ran the same function), the function's
//! invocations and the floors in the order asked (function first or floor first), and
//! the read-backs. Every answer is checked; any failure aborts the bench.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use tokio::runtime::Runtime;

use crate::calls::{Call, Tally};
use crate::contract::{Filter, FilterRequest, Timestamp, UserRecord, keys};
use crate::error::{BenchError, CheckFailure, WrongAnswer};
use crate::fixtures::{self, ACTOR, PER_REQUEST, Population, SECRET, Stage, User};
use crate::floor::{Floor, FloorRun, Item, item_size};
use crate::floor_ops::Input;
use crate::invoke::invoke_checked;
use crate::process::{FunctionProcess, FunctionSpec};
use crate::report::{FunctionRun, ItemCheck, PassSample, StartInfo};
use crate::scenario::{Check, Figure, Function, Group, Pass, Table};
use crate::stats::{mib, millis};

/// Requests in flight, for the function (`DYNAMODB_CONCURRENCY`) and the floor alike.
pub const CONCURRENCY: usize = 8;
/// Spawn to ready, at most.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Most invocations a filter delete or a purge may need (each continues the last).
const MAX_INVOCATIONS: usize = 20;

/// Prints a progress line on stderr (the report goes to stdout).
pub fn progress(what: &str) {
    eprintln!("bench: {what}");
}

/// What every pass needs: the runtime, the clients, the token, where binaries and logs
/// are, and the start figures and CPU of every function process started.
pub struct Bench {
    /// Runs the floors and the table set-up.
    pub rt: Runtime,
    /// DynamoDB Local.
    pub client: Client,
    /// The raw SDK access of the floors and read-backs.
    pub floor: Floor,
    /// DynamoDB Local's pid, when known: its CPU time is reported.
    pub server_pid: Option<u32>,
    /// Every table of the run is named `bench_<run_id>_...`.
    pub run_id: String,
    /// Start figures of every process started, by function.
    pub starts: BTreeMap<&'static str, StartInfo>,
    /// CPU of every function process retired since the last reset.
    pub functions_cpu: Duration,
    token: String,
    bin_dir: PathBuf,
    log_dir: PathBuf,
}

/// The tables of a group, by role.
pub struct Tables(Vec<(Table, String)>);

impl Tables {
    /// The name of the table in `role`.
    pub fn name(&self, role: Table) -> Result<&str, BenchError> {
        self.0
            .iter()
            .find(|(t, _)| *t == role)
            .map(|(_, n)| n.as_str())
            .ok_or_else(|| BenchError::Scenario(format!("no {role:?} table in the group")))
    }
}

/// What a group's run gives back: one sample per pass, and the report's stored-item
/// comparisons if its checks made them.
#[derive(Debug, Default)]
pub struct GroupRun {
    /// One per pass, in order.
    pub samples: Vec<PassSample>,
    /// From [`Check::StoredItem`].
    pub item_check: Option<ItemCheck>,
    /// From [`Check::SeedShape`].
    pub seed_check: Option<String>,
}

impl Bench {
    /// Connects to the DynamoDB Local of `AWS_ENDPOINT_URL_DYNAMODB` (waiting for it)
    /// and gets ready to run the binaries of `bin_dir`, logging to `log_dir`.
    pub fn connect(bin_dir: PathBuf, log_dir: PathBuf) -> Result<Self, BenchError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| BenchError::io("tokio runtime", e))?;
        if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
            return Err(BenchError::Usage(
                "AWS_ENDPOINT_URL_DYNAMODB is not set: run `make bench`".into(),
            ));
        }
        let client = rt.block_on(devctl::client_from_env());
        rt.block_on(devctl::wait_for_dynamodb(&client, Duration::from_secs(60)))
            .map_err(|source| BenchError::Setup {
                what: "DynamoDB Local".into(),
                source,
            })?;
        // DynamoDB Local's pid (scripts/bench.sh passes it): its CPU time is reported too.
        let server_pid = std::env::var("BENCH_DYNAMODB_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|p| crate::process::cpu_time(*p).is_ok());
        Ok(Self {
            floor: Floor::new(client.clone(), CONCURRENCY).with_server_pid(server_pid),
            rt,
            client,
            server_pid,
            run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            starts: BTreeMap::new(),
            functions_cpu: Duration::ZERO,
            token: fixtures::admin_token(),
            bin_dir,
            log_dir,
        })
    }

    fn spec(&self, function: &Function, table: &str, log: &str) -> FunctionSpec {
        let spec = FunctionSpec::new(function.binary, self.bin_dir.join(function.binary))
            .var("TABLE_NAME", table)
            .var("AUTH_JWT_SECRET", SECRET)
            .var("RUST_LOG", "info")
            .var("DYNAMODB_CONCURRENCY", CONCURRENCY.to_string())
            .log_to(self.log_dir.join(format!("{}-{log}.log", function.binary)));
        match function.scheduled {
            Some((budget, margin_ms)) => spec.budget(budget).var("DEADLINE_MARGIN_MS", margin_ms),
            None => spec,
        }
    }

    /// Starts `function` on `table` and waits until it is ready (start figures kept).
    pub fn spawn(
        &mut self,
        function: &'static Function,
        table: &str,
        log: &str,
    ) -> Result<FunctionProcess, BenchError> {
        let mut f = FunctionProcess::spawn(&self.spec(function, table, log))?;
        let ready = f.wait_ready(READY_TIMEOUT)?;
        let rss = f.memory()?.rss_kb;
        let start = self
            .starts
            .entry(function.binary)
            .or_insert_with(|| StartInfo {
                function: function.binary.into(),
                ..StartInfo::default()
            });
        start.ready.push(ready);
        start.idle_rss_kb.push(rss);
        Ok(f)
    }

    /// Stops a function process, counting the CPU it used.
    pub fn retire(&mut self, f: FunctionProcess) {
        self.functions_cpu += f.cpu_time().unwrap_or_default();
    }

    /// Where the logs and files of the run go.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// Creates a table from template.yaml's definition.
    pub fn create_table(&self, name: &str) -> Result<(), BenchError> {
        let def = devctl::TableDefinition::from_template().map_err(|source| BenchError::Setup {
            what: "template.yaml".into(),
            source,
        })?;
        self.rt
            .block_on(def.create(&self.client, name))
            .map_err(|source| BenchError::Setup {
                what: format!("create table {name}"),
                source,
            })?;
        Ok(())
    }

    /// Creates the group's tables from template.yaml's definition.
    pub fn create_tables(&self, group: &Group) -> Result<Tables, BenchError> {
        let mut tables = Vec::with_capacity(group.tables.len());
        for (role, suffix) in &group.tables {
            let name = format!("bench_{}_{}_{suffix}", self.run_id, group.tag);
            self.create_table(&name)?;
            tables.push((*role, name));
        }
        Ok(Tables(tables))
    }

    /// Drops the tables (a failure only leaves a table in the in-memory DynamoDB Local).
    pub fn delete_tables(&self, tables: Tables) {
        for (_, t) in tables.0 {
            let _ = self
                .rt
                .block_on(self.client.delete_table().table_name(t).send());
        }
    }

    /// Runs the group on fresh tables, dropped afterwards.
    pub fn run_group(
        &mut self,
        group: &Group,
        function_first: bool,
    ) -> Result<GroupRun, BenchError> {
        let tables = self.create_tables(group)?;
        let run = self.run_group_on(group, &tables, function_first)?;
        self.delete_tables(tables);
        Ok(run)
    }

    /// Runs the group's passes on `tables`: on each, the function side and the floor
    /// side one after the other, the function first if `function_first`.
    pub fn run_group_on(
        &mut self,
        group: &Group,
        tables: &Tables,
        function_first: bool,
    ) -> Result<GroupRun, BenchError> {
        let all: Vec<Table> = group.tables.iter().map(|(t, _)| *t).collect();
        for users in &group.resident {
            self.seed(tables, &all, users)?;
        }
        let mut out = GroupRun::default();
        let mut running: Option<(&'static Function, FunctionProcess)> = None;
        for pass in &group.passes {
            if pass.seeded {
                self.seed(tables, &pass.tables(), &pass.users)?;
            }
            // A pass of the function the pass before ran keeps its process.
            let f = match running.take() {
                Some((function, f)) if function == pass.function => f,
                other => {
                    if let Some((_, f)) = other {
                        self.retire(f);
                    }
                    let table = tables.name(Table::Function)?;
                    self.spawn(pass.function, table, &group.log)?
                }
            };
            let (_, f) = running.insert((pass.function, f));
            let (function, floors) = if function_first {
                let function = self.run_function(f, pass)?;
                (function, self.run_floor(pass, tables)?)
            } else {
                let floors = self.run_floor(pass, tables)?;
                (self.run_function(f, pass)?, floors)
            };
            report_pass(pass, &function, &floors);
            for check in &pass.checks {
                self.check(check, pass, tables, &mut out)?;
            }
            out.samples.push(floors.sample(function));
        }
        if let Some((_, f)) = running {
            self.retire(f);
        }
        Ok(out)
    }

    fn seed(&self, tables: &Tables, roles: &[Table], users: &Population) -> Result<(), BenchError> {
        let names = roles
            .iter()
            .map(|r| tables.name(*r))
            .collect::<Result<Vec<_>, _>>()?;
        self.rt.block_on(fixtures::seed(&self.floor, &names, users))
    }

    /// The function side of a pass: every invocation, every answer checked.
    fn run_function(
        &self,
        f: &mut FunctionProcess,
        pass: &Pass,
    ) -> Result<FunctionRun, BenchError> {
        let wrong = |wrong| BenchError::Answer {
            function: pass.function.binary,
            pass: pass.name,
            scenario: pass.scenario.clone(),
            wrong: Box::new(wrong),
        };
        let mut run = FunctionRun::default();
        let mut tally = Tally::new(&pass.users);
        let mut invoke = |users: &[User], run: &mut FunctionRun| {
            let event = pass.call.event(users, &self.token);
            let function = pass.function;
            let (m, remaining) = invoke_checked(
                f,
                &event,
                function.done,
                self.server_pid,
                function.timeout,
                |r| pass.call.check(r, users, &mut tally).map_err(wrong),
            )?;
            run.record(&m);
            Ok::<_, BenchError>(remaining)
        };
        if pass.call.per_request() {
            for users in pass.users.requests() {
                invoke(users, &mut run)?;
            }
            return Ok(run);
        }
        while invoke(&[], &mut run)? {
            if run.invocations == MAX_INVOCATIONS {
                return Err(wrong(WrongAnswer::Unfinished(MAX_INVOCATIONS)));
            }
        }
        tally.finish(&pass.call, run.invocations).map_err(wrong)?;
        Ok(run)
    }

    /// The floor side of a pass: each phase in turn, its floors taking the requests in
    /// turn (or finding their users themselves).
    fn run_floor(&self, pass: &Pass, tables: &Tables) -> Result<Floors, BenchError> {
        let steps: Vec<_> = pass.steps().collect();
        let mut runs = vec![FloorRun::default(); steps.len()];
        self.rt.block_on(async {
            let now = Timestamp::now().to_db_string();
            // The SCIM create writes the same users a bulk create does.
            let writes = match pass.call {
                Call::Upsert(stage) => Some(stage),
                Call::ScimCreate => Some(Stage::Create),
                _ => None,
            };
            let stored: Vec<Vec<Item>> = match writes {
                Some(stage) if steps.iter().any(|s| s.op.writes_stored()) => pass
                    .users
                    .requests()
                    .map(|users| pass.users.stored_users(users, stage, &now))
                    .collect::<Result<_, _>>()?,
                _ => Vec::new(),
            };
            let filter = match &pass.call {
                Call::Filter { param, value } => Some(parse_filter(param, value)?),
                _ => None,
            };
            let mut first = 0;
            for phase in &pass.floor {
                let whats: Vec<String> = phase
                    .iter()
                    .map(|s| format!("{}, floor {}", pass.name, s.label))
                    .collect();
                let input = |k: usize, users, stored| {
                    Ok::<_, BenchError>(Input {
                        floor: &self.floor,
                        table: tables.name(phase[k].table)?,
                        users,
                        stored,
                        filter: filter.as_ref(),
                        what: &whats[k],
                    })
                };
                if phase.iter().all(|s| s.op.per_request()) {
                    for (r, users) in pass.users.requests().enumerate() {
                        let stored = stored.get(r).map_or(&[][..], Vec::as_slice);
                        for (k, step) in phase.iter().enumerate() {
                            let run = step.op.run(input(k, users, stored)?).await?;
                            runs[first + k].add(&run);
                        }
                    }
                } else {
                    for (k, step) in phase.iter().enumerate() {
                        let run = step.op.run(input(k, &pass.users.users, &[])?).await?;
                        runs[first + k].add(&run);
                    }
                }
                first += phase.len();
            }
            Ok::<_, BenchError>(())
        })?;
        let mut floors = Floors::default();
        for (step, run) in steps.iter().zip(runs) {
            match step.figure {
                Figure::Judged => floors.judged = Some((step.label, run)),
                Figure::Second => floors.second = Some((step.label, run)),
                Figure::Alternative => floors.alternatives.push((step.label, run)),
                Figure::Unreported => {}
            }
        }
        Ok(floors)
    }

    /// A read-back after `pass` (not measured).
    fn check(
        &self,
        check: &Check,
        pass: &Pass,
        tables: &Tables,
        out: &mut GroupRun,
    ) -> Result<(), BenchError> {
        let failed = |failure| BenchError::check(pass.name, failure);
        let read = |table: &str, keys: Vec<Item>| self.rt.block_on(self.floor.get_all(table, keys));
        let expect = |table: &str, users: &Population, all: bool| {
            let (found, _) = read(table, users.user_keys())?;
            if (all && found.len() == users.len()) || (!all && found.is_empty()) {
                return Ok(found);
            }
            Err(failed(CheckFailure::Found {
                table: table.to_owned(),
                found: found.len(),
                of: users.len(),
                all,
            }))
        };
        match check {
            Check::Gone(t) => {
                expect(tables.name(*t)?, &pass.users, false)?;
            }
            Check::Kept(users, t) => {
                expect(tables.name(*t)?, users, true)?;
            }
            Check::ClaimsFree(t) => {
                let table = tables.name(*t)?;
                expect(table, &pass.users, false)?;
                let (claims, _) = read(table, pass.users.claim_keys())?;
                let owners = pass.users.ids();
                for claim in &claims {
                    let owner = claim.get("owner").and_then(|v| v.as_s().ok());
                    if !owner.is_some_and(|o| owners.contains(o)) {
                        return Err(failed(CheckFailure::Claim {
                            claim: keys::pk_of(claim).unwrap_or("?").to_owned(),
                            table: table.to_owned(),
                            owner: owner.cloned(),
                        }));
                    }
                }
                progress(&format!(
                    "  {}: users gone, their {} card claims free ({} left in place, naming deleted users)",
                    pass.name,
                    pass.users.len(),
                    claims.len()
                ));
            }
            Check::SoftDeleted(t) => {
                let table = tables.name(*t)?;
                for item in expect(table, &pass.users, true)? {
                    let u = UserRecord::from_item(item).map_err(|e| {
                        BenchError::record(format!("a user read back from {table}"), e)
                    })?;
                    let ok = u.deleted_at.is_some()
                        && u.deleted_by.as_deref() == Some(ACTOR)
                        && u.del_shard.as_deref() == Some(keys::deleted_shard(&u.link_id).as_str())
                        && u.version == 2;
                    if !ok {
                        return Err(failed(CheckFailure::NotSoftDeleted {
                            user: u.link_id.to_string(),
                            table: table.to_owned(),
                            record: format!("{u:?}"),
                        }));
                    }
                }
            }
            Check::StoredItem(t) => {
                let user = first_user(pass)?;
                let get = |table: &str| {
                    self.rt
                        .block_on(self.floor.get(table, &user.pk()))?
                        .ok_or_else(|| {
                            failed(CheckFailure::Missing {
                                pk: user.pk(),
                                table: table.to_owned(),
                            })
                        })
                };
                let function = get(tables.name(Table::Function)?)?;
                let floor = get(tables.name(*t)?)?;
                let names = |i: &Item| i.keys().cloned().collect::<BTreeSet<String>>();
                let (fnames, lnames) = (names(&function), names(&floor));
                out.item_check = Some(ItemCheck {
                    function_bytes: item_size(&function),
                    floor_bytes: item_size(&floor),
                    only_function: fnames.difference(&lnames).cloned().collect(),
                    only_floor: lnames.difference(&fnames).cloned().collect(),
                });
            }
            Check::SeedShape => {
                let table = tables.name(Table::Function)?;
                out.seed_check = Some(self.rt.block_on(fixtures::seed_check(
                    &self.floor,
                    table,
                    first_user(pass)?,
                ))?);
            }
        }
        Ok(())
    }
}

fn first_user(pass: &Pass) -> Result<&User, BenchError> {
    pass.users
        .users
        .first()
        .ok_or_else(|| BenchError::Scenario(format!("{}: no users to read back", pass.name)))
}

/// The filter the function parses from `param=value`, for the floor to use the same one.
fn parse_filter(param: &str, value: &str) -> Result<Filter, BenchError> {
    FilterRequest::parse([(param, value)], Timestamp::now(), PER_REQUEST)
        .map(|r| r.filter)
        .map_err(|source| BenchError::Filter {
            query: format!("{param}={value}"),
            source,
        })
}

/// The floors of one run of a pass, by figure, each with its label.
#[derive(Default)]
struct Floors {
    judged: Option<(&'static str, FloorRun)>,
    second: Option<(&'static str, FloorRun)>,
    alternatives: Vec<(&'static str, FloorRun)>,
}

impl Floors {
    fn sample(self, function: FunctionRun) -> PassSample {
        PassSample {
            function,
            floor: self.judged.map(|(_, r)| r).unwrap_or_default(),
            second: self.second.map(|(_, r)| r),
            alternatives: self.alternatives.into_iter().map(|(_, r)| r).collect(),
        }
    }
}

fn report_pass(pass: &Pass, function: &FunctionRun, floors: &Floors) {
    let floors: Vec<String> = floors
        .judged
        .iter()
        .chain(&floors.second)
        .chain(&floors.alternatives)
        .map(|(label, run)| {
            format!(
                "floor {label} {:.0} ms ({})",
                millis(run.elapsed),
                run.calls
            )
        })
        .collect();
    progress(&format!(
        "{} {}, {}: function {:.0} ms in {} invocation{} (CPU {:.0} ms; {}), {}, peak RSS {} MiB",
        pass.function.binary,
        pass.name,
        pass.scenario,
        millis(function.elapsed),
        function.invocations,
        if function.invocations == 1 { "" } else { "s" },
        millis(function.cpu),
        function.calls,
        floors.join(", "),
        mib(function.peak_kb)
    ));
}
