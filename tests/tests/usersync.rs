//! `usersync` end to end: the client's binary against the local stack (`cargo lambda
//! watch` and DynamoDB Local), as an operator runs it from cron. `make test` builds the
//! client, starts the stack and runs these with `--ignored`; they need `E2E_BASE_URL`
//! and `AUTH_JWT_SECRET` (and `USERSYNC_BIN`, default `target/debug/usersync`).
//!
//! Every test syncs users of a `user_type` of its own and scopes its reconciliation to
//! it, so tests sharing the stack never touch each other's users.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn base() -> String {
    std::env::var("E2E_BASE_URL").expect("E2E_BASE_URL: run through `make test`")
}

fn admin_token() -> String {
    let secret = std::env::var("AUTH_JWT_SECRET").expect("AUTH_JWT_SECRET");
    shared::auth::mint_hs256(
        &secret,
        "usersync-e2e",
        Some("admin"),
        Duration::from_secs(1800),
    )
}

fn binary() -> PathBuf {
    std::env::var_os("USERSYNC_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/usersync"),
        PathBuf::from,
    )
}

/// A directory of the test's own under the system's temporary directory.
fn workdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("usersync-e2e-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("workdir");
    dir
}

/// A tag no other run uses: the `user_type` of the test's users.
fn tag(what: &str) -> String {
    format!("{what}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// One export row.
#[derive(Clone, Debug)]
struct Row {
    link_id: String,
    name: String,
    card: String,
    pin: String,
}

/// `n` people of type `tag`.
fn people(tag: &str, n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            link_id: uuid::Uuid::new_v4().to_string(),
            name: format!("Person {i} of {tag}"),
            card: format!("{tag}-card-{i}"),
            pin: format!("{tag}-pin-{i}"),
        })
        .collect()
}

/// Writes the export as CSV (with a BOM, as spreadsheet programs save it).
fn write_csv(path: &Path, tag: &str, rows: &[Row]) {
    let mut f = std::fs::File::create(path).expect("csv");
    f.write_all(b"\xEF\xBB\xBFlink_id,name,email,user_type,active,card,pin\n")
        .expect("write");
    for r in rows {
        writeln!(
            f,
            "{},\"{}\",{}@example.com,{tag},true,{},{}",
            r.link_id, r.name, r.link_id, r.card, r.pin
        )
        .expect("write");
    }
}

/// Runs `usersync push FILE ARGS` with the stack's URL and an admin token.
fn push(file: &Path, args: &[&str]) -> Output {
    command(file, args).output().expect("usersync runs")
}

fn command(file: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("push").arg(file).args(args);
    // Two requests at a time per test (the stack serves 4 instances per function).
    if !args.contains(&"--concurrency") {
        cmd.args(["--concurrency", "2"]);
    }
    cmd.env("USERSYNC_URL", base())
        .env("USERSYNC_TOKEN", admin_token())
        .stdin(Stdio::null());
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written")).expect("JSON")
}

/// The live users of type `tag` in the directory, through the read API.
async fn directory(tag: &str) -> BTreeSet<String> {
    let client = reqwest::Client::new();
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("user_type", tag)
            .append_pair("limit", "1000");
        if let Some(c) = &cursor {
            query.append_pair("cursor", c);
        }
        let answer = get(
            &client,
            &format!("{}/api/v1/users?{}", base(), query.finish()),
        )
        .await
        .1;
        let items = answer["items"].as_array();
        for item in items.unwrap_or_else(|| panic!("a listing: {answer}")) {
            ids.insert(item["link_id"].as_str().expect("link_id").to_owned());
        }
        match answer["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

/// One user through the read API: status and body.
async fn user(id: &str) -> (u16, Value) {
    get(
        &reqwest::Client::new(),
        &format!("{}/api/v1/users/{id}", base()),
    )
    .await
}

/// `GET url` as an admin. `cargo lambda watch` itself answers 500 (the function never
/// runs) now and then while it starts another instance under load; like any client,
/// the test tries such a request again.
async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    for _ in 0..5 {
        let resp = client
            .get(url)
            .bearer_auth(admin_token())
            .send()
            .await
            .expect("read");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("JSON");
        if status < 500 {
            return (status, body);
        }
        eprintln!("GET {url}: {status} {body}; trying again");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("GET {url} kept failing");
}

/// Chunks the resume state records as confirmed.
fn confirmed_chunks(state: &Path) -> usize {
    std::fs::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["chunks"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Runs a resumable push one small request at a time and sends it `signal` once the
/// state records `chunks` confirmed chunks; answers how it ended.
fn interrupted(file: &Path, state: &Path, signal: &str, chunks: usize) -> Output {
    let state_arg = state.to_str().unwrap();
    let mut child = command(
        file,
        &["--resume", state_arg, "--concurrency", "1", "--quiet"],
    )
    .env("USERSYNC_MAX_ITEMS", "100")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("usersync runs");
    let until = Instant::now() + Duration::from_secs(180);
    while confirmed_chunks(state) < chunks {
        assert!(Instant::now() < until, "no progress recorded");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it was interrupted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    child.wait_with_output().expect("usersync ends")
}

fn ids(rows: &[Row]) -> BTreeSet<String> {
    rows.iter().map(|r| r.link_id.clone()).collect()
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_first_run_creates_every_row_and_a_second_updates_them() {
    let tag = tag("sync-twice");
    let dir = workdir(&tag);
    let rows = people(&tag, 2500);
    let file = dir.join("people.csv");
    write_csv(&file, &tag, &rows);

    let out = push(
        &file,
        &["--report", dir.join("r1.json").to_str().unwrap(), "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = &report(&dir.join("r1.json"))["summary"];
    assert_eq!(summary["total"], 2500, "{summary}");
    assert_eq!(summary["created"], 2500, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let last = String::from_utf8_lossy(&out.stdout);
    assert!(
        last.trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .contains("2500"),
        "the last line of stdout is the summary: {last}"
    );
    assert_eq!(directory(&tag).await, ids(&rows));

    let out = push(
        &file,
        &["--report", dir.join("r2.json").to_str().unwrap(), "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = &report(&dir.join("r2.json"))["summary"];
    assert_eq!(summary["created"], 0, "nothing applied twice: {summary}");
    assert_eq!(summary["updated"], 2500, "{summary}");
    assert_eq!(directory(&tag).await, ids(&rows));
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn an_interrupted_run_resumes_to_a_directory_equal_to_the_export() {
    let tag = tag("sync-resume");
    let dir = workdir(&tag);
    let rows = people(&tag, 3000);
    let file = dir.join("people.csv");
    write_csv(&file, &tag, &rows);
    let state = dir.join("state.json");
    let state_arg = state.to_str().unwrap();

    // Killed outright (no chance to record anything more) once a few chunks are
    // confirmed, then resumed and interrupted with Ctrl-C, then resumed to the end.
    let out = interrupted(&file, &state, "-KILL", 3);
    assert_eq!(out.status.code(), None, "killed: {}", text(&out));
    let after_kill = directory(&tag).await;
    let out = interrupted(&file, &state, "-INT", confirmed_chunks(&state) + 3);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let partial = directory(&tag).await;
    assert!(
        after_kill.len() < partial.len() && partial.len() < rows.len(),
        "interrupted midway twice: {} then {} of {} users",
        after_kill.len(),
        partial.len(),
        rows.len()
    );

    let resumed = dir.join("resumed.json");
    let out = push(
        &file,
        &[
            "--resume",
            state_arg,
            "--report",
            resumed.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = &report(&resumed)["summary"];
    assert!(summary["skipped"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(directory(&tag).await, ids(&rows));

    // A changed export is refused against the state of another.
    write_csv(&file, &tag, &rows[1..]);
    let out = push(&file, &["--resume", state_arg, "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn delete_missing_soft_deletes_exactly_the_removed_rows_within_the_safety_limit() {
    let tag = tag("sync-missing");
    let dir = workdir(&tag);
    let rows = people(&tag, 1000);
    let file = dir.join("people.csv");
    write_csv(&file, &tag, &rows);
    let out = push(&file, &["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // 20 people left (2%, within the default 5%).
    let (gone, kept) = rows.split_at(20);
    write_csv(&file, &tag, kept);
    let scope = format!("user_type={tag}");
    let r = dir.join("r.json");
    let out = push(
        &file,
        &[
            "--delete-missing",
            "--scope",
            &scope,
            "--report",
            r.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(report(&r)["summary"]["deleted"], 20);
    assert_eq!(directory(&tag).await, ids(kept));
    for row in gone {
        let (status, body) = user(&row.link_id).await;
        assert_eq!(status, 200, "soft-deleted users stay readable");
        assert!(body["deleted_at"].is_string(), "{body}");
    }

    // 80 more would go (8% > 5%): refused whole, nothing sent or deleted.
    write_csv(&file, &tag, &kept[80..]);
    let out = push(&file, &["--delete-missing", "--scope", &scope, "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(directory(&tag).await, ids(kept));
    // An explicit limit lets it through.
    let out = push(
        &file,
        &[
            "--delete-missing",
            "--scope",
            &scope,
            "--max-delete",
            "80",
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(directory(&tag).await, ids(&kept[80..]));

    // `--hard-delete` deletes for good.
    write_csv(&file, &tag, &kept[85..]);
    let out = push(
        &file,
        &[
            "--delete-missing",
            "--scope",
            &scope,
            "--hard-delete",
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(directory(&tag).await, ids(&kept[85..]));
    for row in &kept[80..85] {
        assert_eq!(user(&row.link_id).await.0, 404, "deleted for good");
    }
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_file_with_one_bad_row_sends_nothing() {
    let tag = tag("sync-bad");
    let dir = workdir(&tag);
    let rows = people(&tag, 300);
    let file = dir.join("people.csv");
    write_csv(&file, &tag, &rows);
    let mut text_file = std::fs::read_to_string(&file).unwrap();
    // Row 151: an `active` that is not a boolean.
    let bad = format!("{},true,", tag);
    let line = text_file.lines().nth(151).unwrap().to_owned();
    text_file = text_file.replacen(&line, &line.replacen(&bad, &format!("{tag},maybe,"), 1), 1);
    std::fs::write(&file, text_file).unwrap();
    let out = push(&file, &["--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("row 151") && stderr.contains("active"),
        "{stderr}"
    );
    assert!(directory(&tag).await.is_empty(), "nothing was sent");

    // A number twice in the file is found before anything is sent too.
    let mut twice = rows.clone();
    twice[7].card = twice[3].card.clone();
    write_csv(&file, &tag, &twice);
    let out = push(&file, &["--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(directory(&tag).await.is_empty(), "nothing was sent");
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn failed_rows_round_trip_through_the_failed_rows_file() {
    let tag = tag("sync-failed");
    let dir = workdir(&tag);
    // Two cards already belong to other people in the directory.
    let owners = people(&format!("{tag}-owners"), 2);
    let owners_file = dir.join("owners.csv");
    write_csv(&owners_file, &format!("{tag}-owners"), &owners);
    let out = push(&owners_file, &["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let mut rows = people(&tag, 50);
    rows[10].card = owners[0].card.clone();
    rows[20].card = owners[1].card.clone();
    let file = dir.join("people.csv");
    write_csv(&file, &tag, &rows);
    let r = dir.join("r.json");
    let failed = dir.join("failed.csv");
    let out = push(
        &file,
        &[
            "--report",
            r.to_str().unwrap(),
            "--failed-rows",
            failed.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rep = report(&r);
    assert_eq!(rep["summary"]["created"], 48, "{rep}");
    assert_eq!(rep["summary"]["failed"], 2, "{rep}");
    let failures = rep["failures"].as_array().unwrap();
    let failed_ids: BTreeSet<&str> = failures
        .iter()
        .map(|f| f["link_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed_ids,
        BTreeSet::from([rows[10].link_id.as_str(), rows[20].link_id.as_str()])
    );
    assert!(
        failures
            .iter()
            .all(|f| f["extended_info"] == "number_taken_by_another_identifier"),
        "{rep}"
    );

    // The failed rows, fixed (new cards), fed back.
    let fixed = std::fs::read_to_string(&failed).expect("failed rows written");
    let mut lines = fixed.lines();
    let header = lines.next().unwrap();
    assert!(header.ends_with(",error"), "{header}");
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), 2, "{fixed}");
    assert!(
        body.iter()
            .all(|l| l.contains("number_taken_by_another_identifier"))
    );
    let fixed = fixed
        .replace(&owners[0].card, &format!("{tag}-new-0"))
        .replace(&owners[1].card, &format!("{tag}-new-1"));
    std::fs::write(&failed, fixed).unwrap();
    let out = push(&failed, &["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(directory(&tag).await, ids(&rows));
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_dry_run_reports_what_would_happen_and_changes_nothing() {
    let tag = tag("sync-dry");
    let dir = workdir(&tag);
    let rows = people(&tag, 200);
    let file = dir.join("people.csv");
    write_csv(&file, &tag, &rows);
    let r = dir.join("r.json");
    let out = push(
        &file,
        &["--dry-run", "--report", r.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(report(&r)["summary"]["created"], 200);
    assert!(directory(&tag).await.is_empty(), "a dry run writes nothing");
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_bad_token_is_exit_3_and_no_token_is_a_usage_error() {
    let tag = tag("sync-auth");
    let dir = workdir(&tag);
    let file = dir.join("people.csv");
    write_csv(&file, &tag, &people(&tag, 3));
    let out = command(&file, &["--quiet"])
        .env("USERSYNC_TOKEN", "not-a-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("not-a-token"),
        "the token is never printed"
    );
    let out = command(&file, &["--quiet"])
        .env_remove("USERSYNC_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(directory(&tag).await.is_empty());
}
