//! The scenarios as data: which function each pass runs on which users, how it calls
//! it, which floors it is compared with, and what the tables must hold afterwards. The
//! runner ([`crate::runner`]) runs any [`Group`] the same way.
//!
//! A group is one set of fresh tables and the passes that run on them in order: the
//! upsert's create and update passes of each population, or the delete passes (hard
//! delete, soft delete, the purge of those soft-deleted users; then the two filter
//! deletes on tables of their own).

use std::rc::Rc;
use std::time::Duration;

use crate::calls::Call;
use crate::fixtures::{Emails, PER_REQUEST, Population, Stage};
use crate::floor_ops::{Expect, FloorOp};
use crate::report::PassResult;

/// Function / floor, for the upsert update pass and every delete pass.
pub const RATIO_TARGET: f64 = 1.3;
/// Users of the upsert warm-up (not reported).
pub const WARMUP_USERS: usize = 3000;
/// Users of each delete pass in the warm-up (not reported), at most.
pub const WARMUP_REMOVAL_USERS: usize = 2000;
/// Users of each delete pass (`--removal-users` changes it, for trying the bench out).
pub const REMOVAL_USERS: usize = 10_000;
/// Users of the upsert scenarios, each a population of its own (tag, users).
pub const UPSERT_POPULATIONS: [(u32, usize); 2] = [(1, 1000), (2, 10_000)];

/// A function under test and how it is driven.
#[derive(Debug, PartialEq, Eq)]
pub struct Function {
    /// The binary under `target/release`; also `AWS_LAMBDA_FUNCTION_NAME`.
    pub binary: &'static str,
    /// The message of its per-invocation summary log line (its `dynamodb_calls` field
    /// is read).
    pub done: &'static str,
    /// How long one invocation may take before the bench gives up.
    pub timeout: Duration,
    /// Its Lambda timeout and `DEADLINE_MARGIN_MS` when it is not behind API Gateway
    /// (which gives every other function 29 s).
    pub scheduled: Option<(Duration, &'static str)>,
}

/// `POST /api/v1/users/bulk`.
pub static UPSERT: Function = Function {
    binary: "upsert-users",
    done: "upsert done",
    timeout: Duration::from_secs(60),
    scheduled: None,
};
/// `DELETE /api/v1/users/bulk`.
pub static DELETE: Function = Function {
    binary: "delete-users",
    done: "delete done",
    timeout: Duration::from_secs(60),
    scheduled: None,
};
/// `POST /api/v1/users/bulk/delete`.
pub static SOFT_DELETE: Function = Function {
    binary: "delete-or-restore-users",
    done: "delete_or_restore done",
    timeout: Duration::from_secs(60),
    scheduled: None,
};
/// `DELETE /api/v1/users?<filter>`.
pub static FILTER_DELETE: Function = Function {
    binary: "delete-users-by-filter",
    done: "filter delete done",
    timeout: Duration::from_secs(60),
    scheduled: None,
};
/// The scheduled clean-up, as template.yaml deploys it: not behind API Gateway,
/// `Timeout: 300`, `DEADLINE_MARGIN_MS: 5000`; the bench waits 30 s more.
pub static CLEANUP: Function = Function {
    binary: "cleanup-users",
    done: "cleanup summary",
    timeout: Duration::from_secs(330),
    scheduled: Some((Duration::from_secs(300), "5000")),
};
/// `POST /scim/v2/Bulk`.
pub static SCIM: Function = Function {
    binary: "scim",
    done: "scim_bulk done",
    timeout: Duration::from_secs(60),
    scheduled: None,
};
/// Every function measured, in report order.
pub static FUNCTIONS: [&Function; 6] = [
    &UPSERT,
    &DELETE,
    &SOFT_DELETE,
    &FILTER_DELETE,
    &CLEANUP,
    &SCIM,
];

/// A table of a group, by its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    /// The function's.
    Function,
    /// The first floor's.
    FloorA,
    /// The second floor's.
    FloorB,
    /// The third floor's.
    FloorC,
}

/// What a floor's figure is in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The floor the function is judged against.
    Judged,
    /// The second floor, shown beside it.
    Second,
    /// Another design of the same work ("Other designs of the same work").
    Alternative,
    /// Sent for the same DynamoDB work as before, not reported.
    Unreported,
}

/// One floor of a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloorStep {
    /// Its name in the report.
    pub label: &'static str,
    /// Its requests.
    pub op: FloorOp,
    /// Its table.
    pub table: Table,
    /// Its figure.
    pub figure: Figure,
}

impl FloorStep {
    /// The floor the function is judged against.
    pub fn judged(label: &'static str, op: FloorOp, table: Table) -> Self {
        Self::new(Figure::Judged, label, op, table)
    }

    /// The second floor, shown beside it.
    pub fn second(label: &'static str, op: FloorOp, table: Table) -> Self {
        Self::new(Figure::Second, label, op, table)
    }

    /// Another design of the same work.
    pub fn alternative(label: &'static str, op: FloorOp, table: Table) -> Self {
        Self::new(Figure::Alternative, label, op, table)
    }

    /// Work sent so that the tables end as before, not reported.
    pub fn unreported(label: &'static str, op: FloorOp, table: Table) -> Self {
        Self::new(Figure::Unreported, label, op, table)
    }

    fn new(figure: Figure, label: &'static str, op: FloorOp, table: Table) -> Self {
        Self {
            label,
            op,
            table,
            figure,
        }
    }
}

/// A read-back after a pass (not measured).
#[derive(Clone, Debug)]
pub enum Check {
    /// The pass's users are gone from the table and their card claims free (gone, or
    /// naming a user that no longer exists, which the next claimant takes over).
    ClaimsFree(Table),
    /// The pass's users are gone from the table.
    Gone(Table),
    /// Every user of the pass is soft-deleted as the function does it.
    SoftDeleted(Table),
    /// Users that must stay are all in the table.
    Kept(Rc<Population>, Table),
    /// The first user as the function stored it against the one in this floor table:
    /// the report's stored-item comparison.
    StoredItem(Table),
    /// What seeding writes against what the function wrote for the first user: the
    /// report's sentence on the delete passes' users.
    SeedShape,
}

/// One pass: a function's work on a population, its floors and its checks.
#[derive(Clone, Debug)]
pub struct Pass {
    /// `create`, `hard delete`, ...
    pub name: &'static str,
    /// The function.
    pub function: &'static Function,
    /// The report's scenario column.
    pub scenario: String,
    /// The users the pass handles.
    pub users: Rc<Population>,
    /// Whether the users are seeded into its tables first (else a pass before left
    /// them there, or the function creates them).
    pub seeded: bool,
    /// How the function is called.
    pub call: Call,
    /// Its floors, in phases run one after the other; within a phase the floors take
    /// the requests in turn (or a single floor finds its users itself).
    pub floor: Vec<Vec<FloorStep>>,
    /// The read-backs after it.
    pub checks: Vec<Check>,
    /// The ratio function / judged floor the pass must stay under, if any.
    pub target_ratio: Option<f64>,
    /// Whether each invocation is one request of at most 1000 items, judged by the
    /// per-request peak RSS target.
    pub per_request_peak: bool,
}

impl Pass {
    /// Every floor of the pass, in order.
    pub fn steps(&self) -> impl Iterator<Item = &FloorStep> {
        self.floor.iter().flatten()
    }

    /// The tables the pass works on: its users are seeded into each.
    pub fn tables(&self) -> Vec<Table> {
        let mut t: Vec<Table> = std::iter::once(Table::Function)
            .chain(self.steps().map(|s| s.table))
            .collect();
        t.sort();
        t.dedup();
        t
    }

    /// The labels of the floors reported as `figure`.
    pub fn labels(&self, figure: Figure) -> Vec<&'static str> {
        self.steps()
            .filter(|s| s.figure == figure)
            .map(|s| s.label)
            .collect()
    }

    /// The report's entry for this pass, without samples.
    pub fn result(&self) -> PassResult {
        let judged = self.labels(Figure::Judged);
        PassResult {
            second: self.labels(Figure::Second).first().map(|s| (*s).to_owned()),
            alternatives: self
                .labels(Figure::Alternative)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            target_ratio: self.target_ratio,
            per_request_peak: self.per_request_peak,
            ..PassResult::new(
                self.function.binary,
                &self.scenario,
                self.name,
                self.users.len(),
                judged.first().copied().unwrap_or("-"),
            )
        }
    }
}

/// Passes run in order on one set of fresh tables.
#[derive(Clone, Debug)]
pub struct Group {
    /// Part of the table names, `bench_<run>_<tag>_<suffix>`.
    pub tag: String,
    /// Part of the function logs' names, `<function>-<log>.log`.
    pub log: String,
    /// Each table and the suffix of its name.
    pub tables: Vec<(Table, &'static str)>,
    /// Users seeded into every table before the first pass.
    pub resident: Vec<Rc<Population>>,
    /// The passes.
    pub passes: Vec<Pass>,
}

/// The create and the update pass of an upsert population. Creates are judged against
/// (e), the function's own reads and conditional transactions sent raw, with (b),
/// unconditional batch reads and writes, beside and (a), batch writes alone, as the
/// design without uniqueness; updates against (c), the function's own conditional
/// transactions sent raw, with (b) beside and (d), conditional `PutItem`s, as the design
/// not chosen. (a) runs in the update pass too, unreported, so that both passes leave
/// the same tables.
fn upsert_passes(users: &Rc<Population>) -> [Pass; 2] {
    let a = "(a) BatchWrite";
    let b = "(b) BatchGet+BatchWrite";
    let pass = |stage: Stage, floor, target_ratio| Pass {
        name: stage.name(),
        function: &UPSERT,
        scenario: users.label.clone(),
        users: users.clone(),
        seeded: false,
        call: Call::Upsert(stage),
        floor,
        checks: Vec::new(),
        target_ratio,
        per_request_peak: true,
    };
    use {
        FloorOp::*,
        Table::{FloorA, FloorB, FloorC},
    };
    [
        pass(
            Stage::Create,
            vec![
                vec![FloorStep::judged(
                    "(e) BatchGet+Transact creates",
                    TransactCreates,
                    FloorC,
                )],
                vec![FloorStep::alternative(a, BatchWrite, FloorA)],
                vec![FloorStep::second(b, ReadThenWrite(Expect::None), FloorB)],
            ],
            Some(RATIO_TARGET),
        ),
        pass(
            Stage::Update,
            vec![
                vec![
                    FloorStep::judged(
                        "(c) BatchGet+Transact conditional puts",
                        ConditionalTransactPuts,
                        FloorA,
                    ),
                    FloorStep::alternative(
                        "(d) BatchGet+conditional PutItem each",
                        ConditionalPutEach,
                        FloorB,
                    ),
                ],
                vec![FloorStep::unreported(a, BatchWrite, FloorA)],
                vec![FloorStep::second(b, ReadThenWrite(Expect::All), FloorB)],
            ],
            Some(RATIO_TARGET),
        ),
    ]
}

fn upsert_group(tag: String, log: String, populations: Vec<Population>) -> Group {
    Group {
        tag,
        log,
        tables: vec![
            (Table::Function, "fn"),
            (Table::FloorA, "floor_a"),
            (Table::FloorB, "floor_b"),
            (Table::FloorC, "floor_c"),
        ],
        resident: Vec::new(),
        passes: populations
            .into_iter()
            .flat_map(|p| upsert_passes(&Rc::new(p)))
            .collect(),
    }
}

/// Repetition `rep` of the upsert scenarios: 1,000 users in one request and 10,000 in
/// ten, each created then updated. The first repetition also compares the stored item
/// of its first user with floor (b)'s.
pub fn upsert_repetition(rep: usize) -> Group {
    let populations = UPSERT_POPULATIONS
        .iter()
        .map(|&(tag, n)| Population::new(rep as u32 * 10 + tag, n, PER_REQUEST))
        .collect();
    let mut group = upsert_group(format!("r{rep}"), format!("rep{rep}"), populations);
    if rep == 0 {
        group.passes[1]
            .checks
            .push(Check::StoredItem(Table::FloorB));
    }
    group.passes.push(scim_bulk_pass(&Rc::new(Population::new(
        rep as u32 * 10 + 3,
        SCIM_BULK_USERS,
        PER_REQUEST,
    ))));
    group
}

/// Users of the SCIM `/Bulk` pass: one BulkRequest of 1,000 creates.
pub const SCIM_BULK_USERS: usize = 1000;

/// 1,000 users created through SCIM `/Bulk`, judged against the upsert's create pass of
/// 1,000 users of the same repetition (the same shape of users through
/// `POST /api/v1/users/bulk`), with the upsert create's floors beside.
fn scim_bulk_pass(users: &Rc<Population>) -> Pass {
    use {
        FloorOp::*,
        Table::{FloorA, FloorB},
    };
    Pass {
        name: "SCIM /Bulk create",
        function: &SCIM,
        scenario: users.label.clone(),
        users: users.clone(),
        seeded: false,
        call: Call::ScimCreate,
        floor: vec![
            vec![FloorStep::second("(a) BatchWrite", BatchWrite, FloorA)],
            vec![FloorStep::judged(
                "(b) BatchGet+BatchWrite",
                ReadThenWrite(Expect::None),
                FloorB,
            )],
        ],
        checks: Vec::new(),
        target_ratio: None,
        per_request_peak: true,
    }
}

/// The upsert warm-up: DynamoDB Local is a JVM and runs slowly until it has compiled
/// its hot paths. It also checks what the delete passes seed against what the function
/// wrote.
pub fn upsert_warmup() -> Group {
    let mut group = upsert_group(
        "warm".into(),
        "warmup".into(),
        vec![Population::new(999, WARMUP_USERS, PER_REQUEST)],
    );
    group.passes[1].checks.push(Check::SeedShape);
    group
}

/// One repetition of the delete passes with `n` users each: hard delete, soft delete
/// and the purge of those soft-deleted users on one set of tables; then, on fresh
/// tables holding `n` users that must stay, a filter delete by scan and one by e-mail
/// of `n` more users each.
pub fn removal_repetition(tag: &str, n: usize) -> [Group; 2] {
    use {
        FloorOp::*,
        Table::{FloorA, FloorB},
    };
    let pass = |name, function, users: &Rc<Population>, call, floor, checks| Pass {
        name,
        function,
        scenario: users.label.clone(),
        users: users.clone(),
        seeded: true,
        call,
        floor,
        checks,
        target_ratio: Some(RATIO_TARGET),
        per_request_peak: true,
    };
    let hard = Rc::new(Population::new(1, n, PER_REQUEST));
    let soft = Rc::new(Population::new(2, n, PER_REQUEST));
    let deletes = Group {
        tag: format!("{tag}_del"),
        log: tag.to_owned(),
        tables: vec![(Table::Function, "fn"), (FloorA, "floor"), (FloorB, "tx")],
        resident: Vec::new(),
        passes: vec![
            pass(
                "hard delete",
                &DELETE,
                &hard,
                Call::HardDelete,
                vec![
                    vec![FloorStep::judged("DeleteItem per user", DeleteEach, FloorA)],
                    vec![FloorStep::second(
                        "(t) its transactions, raw",
                        TransactDeletes,
                        FloorB,
                    )],
                ],
                vec![
                    Check::ClaimsFree(Table::Function),
                    Check::Gone(FloorA),
                    Check::Gone(FloorB),
                ],
            ),
            pass(
                "soft delete",
                &SOFT_DELETE,
                &soft,
                Call::SoftDelete,
                vec![vec![FloorStep::judged(
                    "UpdateItem per user",
                    SoftDeleteEach,
                    FloorA,
                )]],
                vec![
                    Check::SoftDeleted(Table::Function),
                    Check::SoftDeleted(FloorA),
                ],
            ),
            Pass {
                scenario: format!("{n} soft-deleted users"),
                seeded: false,
                per_request_peak: false,
                ..pass(
                    "purge",
                    &CLEANUP,
                    &soft,
                    Call::Purge,
                    vec![vec![FloorStep::judged(
                        "Query deleted-index + DeleteItem",
                        PurgeQuery,
                        FloorA,
                    )]],
                    vec![Check::ClaimsFree(Table::Function), Check::Gone(FloorA)],
                )
            },
        ],
    };

    let keep = Rc::new(
        Population::new(4, n, PER_REQUEST)
            .user_type("bench-staff")
            .emails(Emails::Own("keep.bench.example".into())),
    );
    let visitor_type = format!("bench-visitor-{tag}");
    let visitors = Rc::new(Population::new(3, n, PER_REQUEST).user_type(&visitor_type));
    let shared_email = format!("shared-{tag}@bench.example");
    let by_email = Rc::new(
        Population::new(5, n, PER_REQUEST)
            .user_type("bench-staff")
            .emails(Emails::Shared(shared_email.clone())),
    );
    let filter_pass = |name, users: &Rc<Population>, param, value, op, floor_label| Pass {
        scenario: format!("{n} of {} users match", 2 * n),
        per_request_peak: false,
        ..pass(
            name,
            &FILTER_DELETE,
            users,
            Call::Filter { param, value },
            vec![vec![FloorStep::judged(floor_label, op, FloorA)]],
            vec![
                Check::ClaimsFree(Table::Function),
                Check::Gone(FloorA),
                Check::Kept(keep.clone(), Table::Function),
                Check::Kept(keep.clone(), FloorA),
            ],
        )
    };
    let filters = Group {
        tag: format!("{tag}_flt"),
        log: tag.to_owned(),
        tables: vec![(Table::Function, "fn"), (FloorA, "floor")],
        resident: vec![keep.clone()],
        passes: vec![
            filter_pass(
                "filter delete, scan (user_type)",
                &visitors,
                "user_type",
                visitor_type,
                ScanDelete,
                "Scan + DeleteItem",
            ),
            filter_pass(
                "filter delete, email-index",
                &by_email,
                "email",
                shared_email,
                EmailIndexDelete,
                "Query email-index + DeleteItem",
            ),
        ],
    };
    [deletes, filters]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_groups() -> Vec<Group> {
        let mut groups = vec![upsert_warmup(), upsert_repetition(0), upsert_repetition(1)];
        groups.extend(removal_repetition("warm", 20));
        groups.extend(removal_repetition("r0", 2500));
        groups
    }

    #[test]
    fn every_pass_is_judged_against_exactly_one_floor_on_a_table_of_its_group() {
        for g in all_groups() {
            for p in &g.passes {
                assert_eq!(p.labels(Figure::Judged).len(), 1, "{}", p.name);
                assert!(p.labels(Figure::Second).len() <= 1, "{}", p.name);
                for t in p.tables() {
                    assert!(g.tables.iter().any(|(gt, _)| *gt == t), "{} {t:?}", p.name);
                }
            }
        }
    }

    #[test]
    fn a_phase_is_request_by_request_floors_or_one_floor_finding_its_users() {
        for g in all_groups() {
            for p in &g.passes {
                for phase in &p.floor {
                    let whole = phase.iter().filter(|s| !s.op.per_request()).count();
                    assert!(whole == 0 || phase.len() == 1, "{}", p.name);
                    for s in phase {
                        assert_eq!(
                            s.op.writes_stored(),
                            matches!(p.call, Call::Upsert(_) | Call::ScimCreate),
                            "{} {}",
                            p.name,
                            s.label
                        );
                        assert_eq!(
                            s.op.needs_filter(),
                            matches!(p.call, Call::Filter { .. }),
                            "{}",
                            p.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn upsert_updates_are_judged_against_their_own_conditional_transactions() {
        let g = upsert_repetition(0);
        let names: Vec<(&str, &str)> = g
            .passes
            .iter()
            .map(|p| (p.name, p.scenario.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("create", "1000 users, 1 request of 1000"),
                ("update", "1000 users, 1 request of 1000"),
                ("create", "10000 users, 10 requests of 1000"),
                ("update", "10000 users, 10 requests of 1000"),
                ("SCIM /Bulk create", "1000 users, 1 request of 1000"),
            ]
        );
        let create = g.passes[0].result();
        assert_eq!(create.floor, "(e) BatchGet+Transact creates");
        assert_eq!(create.second.as_deref(), Some("(b) BatchGet+BatchWrite"));
        assert_eq!(create.alternatives, ["(a) BatchWrite"]);
        assert_eq!(create.target_ratio, Some(RATIO_TARGET));
        let update = g.passes[1].result();
        assert_eq!(update.floor, "(c) BatchGet+Transact conditional puts");
        assert_eq!(update.second.as_deref(), Some("(b) BatchGet+BatchWrite"));
        assert_eq!(
            update.alternatives,
            ["(d) BatchGet+conditional PutItem each"]
        );
        assert_eq!(update.target_ratio, Some(RATIO_TARGET));
        // (c) and (d) run before (a) and (b) overwrite the tables, request by request.
        let order: Vec<FloorOp> = g.passes[1].steps().map(|s| s.op).collect();
        assert_eq!(
            order,
            [
                FloorOp::ConditionalTransactPuts,
                FloorOp::ConditionalPutEach,
                FloorOp::BatchWrite,
                FloorOp::ReadThenWrite(Expect::All)
            ]
        );
        assert!(Rc::ptr_eq(&g.passes[0].users, &g.passes[1].users));
        assert!(Rc::ptr_eq(&g.passes[2].users, &g.passes[3].users));
        assert!(matches!(
            g.passes[1].checks[..],
            [Check::StoredItem(Table::FloorB)]
        ));
        assert!(
            upsert_repetition(1)
                .passes
                .iter()
                .all(|p| p.checks.is_empty())
        );
        assert!(matches!(
            upsert_warmup().passes[1].checks[..],
            [Check::SeedShape]
        ));
    }

    #[test]
    fn delete_passes_seed_their_users_into_every_table_they_use() {
        let [deletes, filters] = removal_repetition("r0", 10_000);
        let hard = &deletes.passes[0];
        assert!(hard.seeded);
        assert_eq!(
            hard.tables(),
            [Table::Function, Table::FloorA, Table::FloorB]
        );
        assert_eq!(
            hard.result().second.as_deref(),
            Some("(t) its transactions, raw")
        );
        let soft = &deletes.passes[1];
        assert_eq!(soft.tables(), [Table::Function, Table::FloorA]);
        let purge = &deletes.passes[2];
        assert!(
            !purge.seeded,
            "the purge takes the users the soft delete left"
        );
        assert!(Rc::ptr_eq(&purge.users, &soft.users));
        assert_eq!(purge.scenario, "10000 soft-deleted users");
        assert!(!purge.per_request_peak);
        assert_eq!(filters.resident.len(), 1);
        for p in &filters.passes {
            assert!(p.seeded);
            assert_eq!(p.scenario, "10000 of 20000 users match");
            assert_eq!(p.function, &FILTER_DELETE);
        }
        let names: Vec<&str> = deletes
            .passes
            .iter()
            .chain(&filters.passes)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            names,
            [
                "hard delete",
                "soft delete",
                "purge",
                "filter delete, scan (user_type)",
                "filter delete, email-index"
            ]
        );
    }

    #[test]
    fn the_filter_passes_match_only_their_own_users() {
        let [_, filters] = removal_repetition("r1", 10);
        let keep = &filters.resident[0];
        let (scan, email) = (&filters.passes[0], &filters.passes[1]);
        assert_eq!(
            scan.call,
            Call::Filter {
                param: "user_type",
                value: "bench-visitor-r1".into()
            }
        );
        assert_eq!(scan.users.user_type.as_deref(), Some("bench-visitor-r1"));
        assert_ne!(keep.user_type, scan.users.user_type);
        assert_eq!(
            email.users.emails,
            Emails::Shared("shared-r1@bench.example".into())
        );
        assert_ne!(keep.emails, email.users.emails);
        assert!(
            email
                .checks
                .iter()
                .any(|c| matches!(c, Check::Kept(p, Table::Function) if Rc::ptr_eq(p, keep)))
        );
    }
}
