//! The commands from start to exit code: `check` (validation only) and `push` (see the
//! crate documentation for the order of its steps).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::chunk::{ChunkLimits, DEFAULT_MAX_ITEMS, DEFAULT_MAX_PAYLOAD};
use crate::cli::{CheckArgs, Cli, Command, InputArgs, PushArgs};
use crate::client::{Client, ClientOptions, Request, SendError, Verb};
use crate::error::{Error, Exit};
use crate::input::{Format, InputSpec, Mapping};
use crate::progress::Progress;
use crate::push::{PushJob, push};
use crate::reconcile::{DeleteJob, MaxDelete, delete, list_missing, parse_scope};
use crate::report::{
    Report, Summary, Tally, sort_failures, summary_line, write_failed_rows, write_report,
};
use crate::retry::RetryPolicy;
use crate::send::{Endpoint, Sender};
use crate::state::{SentOptions, State};
use crate::stop::{Stop, StopReason, listen_for_signals};
use crate::validate::{Validation, print_errors, validate};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Check(args) => check(args).await,
        Command::Push(args) => push_command(args).await,
    }
}

/// The input named by the options: its format and mapping.
pub fn input_spec(args: &InputArgs) -> Result<InputSpec, Error> {
    let format = Format::detect(&args.file, args.format)?;
    let mapping = match &args.map {
        Some(_) if format == Format::Jsonl => {
            return Err(Error::Usage(
                "--map applies to CSV input; JSON Lines rows use the user's own field names"
                    .to_owned(),
            ));
        }
        Some(path) => Some(Arc::new(Mapping::load(path)?)),
        None => None,
    };
    Ok(InputSpec {
        path: args.file.clone(),
        format,
        mapping,
    })
}

/// The validation pass, on a blocking thread; ends early on Ctrl-C.
async fn run_validation(
    spec: InputSpec,
    require_link_id: bool,
    stop: &Stop,
) -> Result<Validation, Error> {
    let task = tokio::task::spawn_blocking(move || validate(spec.open()?, require_link_id));
    tokio::select! {
        joined = task => joined
            .map_err(|e| Error::Usage(format!("the validation pass failed: {e}")))?
            .map_err(Error::from),
        () = stop.wait() => Err(Error::Interrupted),
    }
}

async fn check(args: CheckArgs) -> Exit {
    let stop = Stop::new();
    let result = match input_spec(&args.input) {
        Ok(spec) => run_validation(spec, args.delete_missing, &stop).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) if v.is_valid() => {
            println!("usersync: {} rows: valid", v.rows);
            Exit::Success
        }
        Ok(v) => {
            print_errors(&v);
            println!("usersync: {} rows: {} invalid", v.rows, v.invalid_rows);
            Exit::Usage
        }
        Err(e) => {
            eprintln!("usersync: {e}");
            e.exit()
        }
    }
}

/// The admin token: `--token-file` (trimmed) or `USERSYNC_TOKEN`.
pub fn read_token(file: Option<&Path>) -> Result<String, Error> {
    let raw = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--token-file {}: {e}", path.display())))?,
        None => std::env::var("USERSYNC_TOKEN").map_err(|_| {
            Error::Usage(
                "no token: set USERSYNC_TOKEN or pass --token-file FILE (the token itself is never an argument)"
                    .to_owned(),
            )
        })?,
    };
    let token = raw.trim();
    if token.is_empty() {
        return Err(Error::Usage("the token is empty".to_owned()));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Usage(
            "the token must be one line of visible ASCII characters".to_owned(),
        ));
    }
    Ok(token.to_owned())
}

/// Refuses an output path in a missing directory, or the input file itself.
fn check_output(input: &Path, path: Option<&Path>, option: &str) -> Result<(), Error> {
    let Some(path) = path else {
        return Ok(());
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::Usage(format!(
            "{option} {}: no such directory {}",
            path.display(),
            parent.display()
        )));
    }
    if let (Ok(a), Ok(b)) = (input.canonicalize(), path.canonicalize())
        && a == b
    {
        return Err(Error::Usage(format!(
            "{option} {}: that is the input file",
            path.display()
        )));
    }
    Ok(())
}

/// The request limits from `GET /scim/v2/ServiceProviderConfig`; the defaults, with a
/// warning, when it is not there.
pub async fn fetch_limits(client: &Client) -> Result<ChunkLimits, Error> {
    let request = Request {
        verb: Verb::Get,
        path: "/scim/v2/ServiceProviderConfig",
        query: &[],
        body: None,
        key: None,
    };
    let fallback = |why: String| {
        eprintln!(
            "usersync: warning: {why}; using {DEFAULT_MAX_ITEMS} items and {DEFAULT_MAX_PAYLOAD} bytes per request"
        );
        ChunkLimits::from_server(DEFAULT_MAX_ITEMS, DEFAULT_MAX_PAYLOAD)
    };
    match client.send(&request).await {
        Ok(answer) => {
            let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            let bulk = &v["bulk"];
            match (
                bulk["maxOperations"].as_u64(),
                bulk["maxPayloadSize"].as_u64(),
            ) {
                (Some(items), Some(bytes)) if items > 0 && bytes > 0 => {
                    Ok(ChunkLimits::from_server(items, bytes))
                }
                _ => Ok(fallback(
                    "the ServiceProviderConfig has no bulk limits".to_owned(),
                )),
            }
        }
        Err(SendError::Refused { status, .. }) => Ok(fallback(format!(
            "GET /scim/v2/ServiceProviderConfig answered {status}"
        ))),
        Err(e @ SendError::Auth { .. }) => Err(Error::Auth(e.to_string())),
        Err(SendError::Connect(text) | SendError::GaveUp(text)) => Err(Error::Connect(text)),
        Err(SendError::Stopped) => Err(Error::Interrupted),
    }
}

async fn push_command(args: PushArgs) -> Exit {
    let stop = Stop::new();
    listen_for_signals(stop.clone());
    let mut total = None;
    match push_run(&args, &stop, &mut total).await {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("usersync: {e}");
            if let Some(total) = total {
                let mut notes = Vec::new();
                if args.dry_run {
                    notes.push("dry run".to_owned());
                }
                notes.push(
                    match &e {
                        Error::Usage(_) | Error::Invalid(_) | Error::Safety(_) => {
                            "refused: nothing sent"
                        }
                        Error::Auth(_) => "stopped: authentication failed",
                        Error::Connect(_) => "stopped: server unreachable",
                        Error::Interrupted => "interrupted",
                    }
                    .to_owned(),
                );
                let summary = Summary {
                    total,
                    ..Summary::default()
                };
                println!("{}", summary_line(&summary, &notes));
            }
            e.exit()
        }
    }
}

async fn push_run(args: &PushArgs, stop: &Stop, total: &mut Option<u64>) -> Result<Exit, Error> {
    let token = read_token(args.token_file.as_deref())?;
    let spec = input_spec(&args.input)?;
    let max_delete: MaxDelete = args.max_delete.parse().map_err(Error::Usage)?;
    let scope = parse_scope(&args.scope).map_err(Error::Usage)?;
    let input = &args.input.file;
    check_output(input, args.report.as_deref(), "--report")?;
    check_output(input, args.failed_rows.as_deref(), "--failed-rows")?;
    check_output(input, args.resume.as_deref(), "--resume")?;
    let options = ClientOptions {
        timeout: Duration::from_secs(args.timeout),
        policy: RetryPolicy::new(args.max_retries),
    };
    let client =
        Arc::new(Client::new(&args.url, token, options, stop.clone()).map_err(Error::Usage)?);
    let say = |message: String| {
        if !args.quiet {
            eprintln!("usersync: {message}");
        }
    };

    // 1. Validation: nothing is sent unless every row is acceptable.
    say(format!("checking {}", input.display()));
    *total = Some(0);
    let validation = run_validation(spec.clone(), args.delete_missing, stop).await?;
    *total = Some(validation.rows);
    if !validation.is_valid() {
        print_errors(&validation);
        return Err(Error::Invalid(validation.invalid_rows));
    }

    // 2. The resume state, checked against this input and these options.
    let sent = SentOptions {
        dry_run: args.dry_run,
        format: spec.format,
        mapping_sha256: spec.mapping.as_ref().map(|m| m.fingerprint()),
    };
    let loaded = match &args.resume {
        Some(path) => State::load(path)?,
        None => None,
    };
    if let (Some(state), Some(path)) = (&loaded, &args.resume) {
        state.check(path, &validation.sha256, &sent)?;
    }

    // 3. The server's limits.
    let server_limits = fetch_limits(&client).await?;
    let mut state = match (loaded, &args.resume) {
        (Some(state), Some(path)) => {
            state.check_limits(path, server_limits)?;
            say(format!(
                "resuming run {}: {} chunks confirmed before",
                state.run_id,
                state.chunks.len()
            ));
            state
        }
        _ => {
            let mut limits = server_limits;
            if let Some(n) = args.max_items {
                limits.max_items = limits
                    .max_items
                    .min(usize::try_from(n).unwrap_or(usize::MAX));
            }
            State::fresh(input, &validation.sha256, sent, limits)
        }
    };

    // 4. The listing and the safety check, before anything is sent.
    let plan = if args.delete_missing {
        say("listing the users in scope".to_owned());
        let plan = list_missing(&client, &scope, &validation.link_ids).await?;
        say(format!(
            "{} users in scope, {} not in the export",
            plan.in_scope,
            plan.missing.len()
        ));
        max_delete
            .check(plan.missing.len() as u64, plan.in_scope)
            .map_err(Error::Safety)?;
        Some(plan)
    } else {
        None
    };
    let Validation { rows, sha256, .. } = validation;

    // 5. The push.
    if let Some(path) = &args.resume {
        state.save(path)?;
    }
    let mut progress = Progress::new(rows, args.quiet);
    let mut tally = Tally {
        failures: state.failures.clone(),
        ..Tally::default()
    };
    tally.counts.total = rows;
    let sender = Sender {
        client: Arc::clone(&client),
        input_sha256: sha256.clone(),
        run_id: state.run_id,
        dry_run: args.dry_run,
    };
    let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
    push(
        PushJob {
            spec: spec.clone(),
            expected_sha256: sha256,
            concurrency,
            sender: sender.clone(),
            state_path: args.resume.as_deref(),
        },
        &mut state,
        &mut tally,
        &mut progress,
        stop,
    )
    .await;

    // 6. The deletion of the users missing from the export.
    if let Some(plan) = &plan {
        if stop.is_stopped() {
            progress.note("the push did not finish: nothing deleted");
        } else if !plan.missing.is_empty() {
            let endpoint = if args.hard_delete {
                Endpoint::HardDelete
            } else {
                Endpoint::SoftDelete
            };
            progress.note(&format!(
                "deleting {} users not in the export{}",
                plan.missing.len(),
                if args.hard_delete { " (for good)" } else { "" }
            ));
            let job = DeleteJob {
                endpoint,
                ids: &plan.missing,
                limits: state.limits,
                concurrency,
            };
            delete(&sender, job, &mut tally, &mut progress, stop).await;
        }
    }
    progress.finish();

    // 7. The state, the report, the failed rows, the summary.
    if let Some(path) = &args.resume
        && let Err(e) = state.save(path)
    {
        eprintln!("usersync: {e}");
    }
    let mut failures = std::mem::take(&mut tally.failures);
    sort_failures(&mut failures);
    tally.failures = failures;
    let summary = tally.summary();
    let reason = stop.reason();
    let mut output_failed = false;
    if let Some(path) = &args.report {
        let report = Report {
            dry_run: args.dry_run,
            interrupted: reason.is_some(),
            summary,
            failures: &tally.failures,
        };
        if let Err(e) = write_report(path, &report) {
            eprintln!("usersync: --report {}: {e}", path.display());
            output_failed = true;
        }
    }
    if let Some(path) = &args.failed_rows
        && let Err(e) = write_failed_rows(&spec, &tally.failures, path)
    {
        eprintln!("usersync: --failed-rows {}: {e}", path.display());
        output_failed = true;
    }
    let mut notes = Vec::new();
    if args.dry_run {
        notes.push("dry run".to_owned());
    }
    let exit = match &reason {
        Some(StopReason::Interrupted) => {
            notes.push("interrupted".to_owned());
            Exit::Interrupted
        }
        Some(StopReason::Auth(text)) => {
            eprintln!("usersync: {}", Error::Auth(text.clone()));
            notes.push("stopped: authentication failed".to_owned());
            Exit::AuthOrConnect
        }
        Some(StopReason::Connect(text)) => {
            eprintln!("usersync: {}", Error::Connect(text.clone()));
            notes.push("stopped: server unreachable".to_owned());
            Exit::AuthOrConnect
        }
        Some(StopReason::Input(text)) => {
            eprintln!("usersync: {text}");
            notes.push("stopped: input changed".to_owned());
            Exit::Usage
        }
        None if summary.failed > 0 || output_failed => Exit::RowsFailed,
        None => Exit::Success,
    };
    println!("{}", summary_line(&summary, &notes));
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_is_trimmed_and_must_be_one_visible_line() {
        let dir = std::env::temp_dir().join(format!("usersync-run-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "  abc.def.ghi \n").unwrap();
        assert_eq!(read_token(Some(&file)).unwrap(), "abc.def.ghi");
        std::fs::write(&file, "\n").unwrap();
        assert!(read_token(Some(&file)).is_err());
        std::fs::write(&file, "abc\ndef").unwrap();
        assert!(read_token(Some(&file)).is_err());
        assert!(read_token(Some(&dir.join("missing"))).is_err());
    }

    #[test]
    fn outputs_need_a_directory_and_are_not_the_input() {
        let dir = std::env::temp_dir().join(format!("usersync-run-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.csv");
        std::fs::write(&input, "name\n").unwrap();
        assert!(check_output(&input, Some(&dir.join("r.json")), "--report").is_ok());
        assert!(check_output(&input, Some(&dir.join("no/r.json")), "--report").is_err());
        assert!(check_output(&input, Some(&input), "--failed-rows").is_err());
        assert!(check_output(&input, None, "--report").is_ok());
    }

    #[test]
    fn a_mapping_is_for_csv_only() {
        let args = InputArgs {
            file: "people.jsonl".into(),
            format: None,
            map: Some("map.json".into()),
        };
        assert!(input_spec(&args).is_err());
    }
}
