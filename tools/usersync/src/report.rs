//! What a run tells: the summary line (the last line of stdout), the JSON report and the
//! failed rows written back in the input's format.
//!
//! Counting: `total` is the number of rows in the file; `created` and `updated` are this
//! run's answers; `skipped` are the rows of chunks an earlier run with the same
//! `--resume` state confirmed, less their failures; `failed` is the number of entries of
//! `failures`: failed rows (this run's and, on a resumed run, the earlier runs' kept in
//! the state) plus failed deletions (`row: null`). `deleted` counts the users deleted
//! (or, in a dry run, that would be). Without interruption,
//! `created + updated + skipped + failed rows = total`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::jsonl::Line;
use crate::input::{Input, InputError, InputSpec};

/// One item that was not applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The input row; `null` for a deletion.
    pub row: Option<u64>,
    /// The user's id: the server's answer, else the row's.
    pub link_id: Option<String>,
    /// The row's name.
    pub name: Option<String>,
    /// The server's `extended_info` (`number_taken_by_another_identifier`, ...) or the
    /// request's error (`HTTP 400: ...`).
    pub extended_info: String,
}

/// The counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows in the file.
    pub total: u64,
    /// Users created.
    pub created: u64,
    /// Users updated.
    pub updated: u64,
    /// Users deleted by `--delete-missing`.
    pub deleted: u64,
    /// Failures (rows and deletions).
    pub failed: u64,
    /// Rows confirmed by an earlier run (`--resume`).
    pub skipped: u64,
}

/// The summary and the failures as a run gathers them.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// The counts (`failed` is set from `failures` by [`Tally::summary`]).
    pub counts: Summary,
    /// Every failure so far.
    pub failures: Vec<Failure>,
    /// Rows with a final outcome (for the progress display).
    pub done_rows: u64,
}

impl Tally {
    /// The summary, with `failed` counted from the failures.
    pub fn summary(&self) -> Summary {
        Summary {
            failed: self.failures.len() as u64,
            ..self.counts
        }
    }
}

/// The last line of stdout:
/// `usersync: 3000 rows: 2990 created, 0 updated, 0 deleted, 10 failed, 0 skipped`,
/// followed by notes in parentheses when there are any: `(dry run)`, `(interrupted)`,
/// `(refused: ...)`, `(stopped: ...)`, joined by `, `.
pub fn summary_line(s: &Summary, notes: &[String]) -> String {
    let mut line = format!(
        "usersync: {} rows: {} created, {} updated, {} deleted, {} failed, {} skipped",
        s.total, s.created, s.updated, s.deleted, s.failed, s.skipped
    );
    if !notes.is_empty() {
        line.push_str(" (");
        line.push_str(&notes.join(", "));
        line.push(')');
    }
    line
}

/// The `--report` document.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// Whether every request was a dry run.
    pub dry_run: bool,
    /// Whether the run was interrupted or stopped before the end.
    pub interrupted: bool,
    /// The counts.
    pub summary: Summary,
    /// The failures, by row (deletions last).
    pub failures: &'a [Failure],
}

/// Writes the report as JSON.
pub fn write_report(path: &Path, report: &Report<'_>) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    serde_json::to_writer_pretty(&mut out, report)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Sorts failures by row, deletions (no row) last.
pub fn sort_failures(failures: &mut [Failure]) {
    failures.sort_by_key(|f| (f.row.is_none(), f.row, f.link_id.clone()));
}

/// Why the failed rows could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FailedRowsError {
    /// Reading the input again failed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Writing the file failed.
    #[error("{0}")]
    Write(String),
}

/// Writes the failed rows (those of `failures` with a row number) in the input's format:
/// a CSV with the input's header plus an `error` column (replacing an `error` column the
/// input had), or JSON Lines with an `"error"` member. Answers how many rows it wrote.
pub fn write_failed_rows(
    spec: &InputSpec,
    failures: &[Failure],
    out: &Path,
) -> Result<u64, FailedRowsError> {
    let by_row: HashMap<u64, &str> = failures
        .iter()
        .filter_map(|f| f.row.map(|r| (r, f.extended_info.as_str())))
        .collect();
    let write_err =
        |e: &dyn std::fmt::Display| FailedRowsError::Write(format!("{}: {e}", out.display()));
    let mut written = 0u64;
    match spec.open()? {
        Input::Csv(mut input) => {
            let headers = input.layout().headers.clone();
            let error_column = headers.iter().position(|h| {
                h.trim()
                    .eq_ignore_ascii_case(crate::input::csv::ERROR_COLUMN)
            });
            let mut writer = csv::Writer::from_path(out).map_err(|e| write_err(&e))?;
            let mut header_row = headers.clone();
            if error_column.is_none() {
                header_row.push(crate::input::csv::ERROR_COLUMN.to_owned());
            }
            writer
                .write_record(&header_row)
                .map_err(|e| write_err(&e))?;
            while let Some((row, problem)) = input.next_record()? {
                let Some(error) = by_row.get(&row) else {
                    continue;
                };
                if problem.is_some() {
                    continue;
                }
                let mut fields: Vec<&str> = input.record().iter().collect();
                match error_column {
                    Some(i) if i < fields.len() => fields[i] = error,
                    _ => fields.push(error),
                }
                writer.write_record(&fields).map_err(|e| write_err(&e))?;
                written += 1;
            }
            writer.flush().map_err(|e| write_err(&e))?;
        }
        Input::Jsonl(mut input) => {
            let mut writer = BufWriter::new(File::create(out).map_err(|e| write_err(&e))?);
            while let Some(line) = input.next_line()? {
                let Line::Content(row) = line else {
                    continue;
                };
                let Some(error) = by_row.get(&row) else {
                    continue;
                };
                let Ok(Value::Object(mut object)) =
                    serde_json::from_slice::<Value>(input.line_bytes())
                else {
                    continue;
                };
                object.insert("error".to_owned(), Value::String((*error).to_owned()));
                serde_json::to_writer(&mut writer, &object).map_err(|e| write_err(&e))?;
                writer.write_all(b"\n").map_err(|e| write_err(&e))?;
                written += 1;
            }
            writer.flush().map_err(|e| write_err(&e))?;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Format;
    use std::path::PathBuf;

    fn temp(name: &str, content: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("usersync-report-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn failure(row: u64, info: &str) -> Failure {
        Failure {
            row: Some(row),
            link_id: None,
            name: None,
            extended_info: info.into(),
        }
    }

    #[test]
    fn the_summary_line_has_every_count_and_the_notes() {
        let s = Summary {
            total: 3000,
            created: 2990,
            updated: 0,
            deleted: 0,
            failed: 10,
            skipped: 0,
        };
        assert_eq!(
            summary_line(&s, &[]),
            "usersync: 3000 rows: 2990 created, 0 updated, 0 deleted, 10 failed, 0 skipped"
        );
        assert_eq!(
            summary_line(&s, &["dry run".into(), "interrupted".into()]),
            "usersync: 3000 rows: 2990 created, 0 updated, 0 deleted, 10 failed, 0 skipped (dry run, interrupted)"
        );
    }

    #[test]
    fn the_report_is_the_documented_json() {
        let input = temp("r.json", "");
        let failures = vec![
            failure(3, "number_taken_by_another_identifier"),
            Failure {
                row: None,
                link_id: Some("91c615e3-1040-4815-8ecb-039a18b756b5".into()),
                name: None,
                extended_info: "not_found".into(),
            },
        ];
        let summary = Summary {
            total: 5,
            created: 4,
            failed: 2,
            ..Summary::default()
        };
        write_report(
            &input,
            &Report {
                dry_run: true,
                interrupted: false,
                summary,
                failures: &failures,
            },
        )
        .unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "dry_run": true, "interrupted": false,
                "summary": {"total": 5, "created": 4, "updated": 0, "deleted": 0, "failed": 2, "skipped": 0},
                "failures": [
                    {"row": 3, "link_id": null, "name": null, "extended_info": "number_taken_by_another_identifier"},
                    {"row": null, "link_id": "91c615e3-1040-4815-8ecb-039a18b756b5", "name": null, "extended_info": "not_found"}
                ]
            })
        );
    }

    #[test]
    fn failures_sort_by_row_with_deletions_last() {
        let mut f = vec![
            Failure {
                row: None,
                link_id: Some("b".into()),
                name: None,
                extended_info: String::new(),
            },
            failure(9, ""),
            failure(2, ""),
        ];
        sort_failures(&mut f);
        let rows: Vec<Option<u64>> = f.iter().map(|f| f.row).collect();
        assert_eq!(rows, [Some(2), Some(9), None]);
    }

    #[test]
    fn failed_csv_rows_are_written_back_with_an_error_column() {
        let input = temp("in.csv", "\u{feff}name,card\nAnn,1\n\"Lee, Bo\",2\nCy,3\n");
        let out = input.with_file_name("failed.csv");
        let spec = InputSpec {
            path: input.clone(),
            format: Format::Csv,
            mapping: None,
        };
        let n = write_failed_rows(
            &spec,
            &[
                failure(2, "number_taken_by_another_identifier"),
                failure(3, "HTTP 400: x, y"),
            ],
            &out,
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "name,card,error\n\"Lee, Bo\",2,number_taken_by_another_identifier\nCy,3,\"HTTP 400: x, y\"\n"
        );
        // Fed back, the error column is replaced, not added again.
        let spec = InputSpec {
            path: out.clone(),
            format: Format::Csv,
            mapping: None,
        };
        let again = out.with_file_name("again.csv");
        write_failed_rows(&spec, &[failure(1, "new")], &again).unwrap();
        assert_eq!(
            std::fs::read_to_string(&again).unwrap(),
            "name,card,error\n\"Lee, Bo\",2,new\n"
        );
    }

    #[test]
    fn failed_jsonl_rows_get_an_error_member() {
        let input = temp(
            "in.jsonl",
            "{\"name\": \"Ann\"}\n\n{\"name\": \"Bo\", \"error\": \"old\"}\n",
        );
        let out = input.with_file_name("failed.jsonl");
        let spec = InputSpec {
            path: input,
            format: Format::Jsonl,
            mapping: None,
        };
        write_failed_rows(&spec, &[failure(3, "has_dublicates")], &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "Bo", "error": "has_dublicates"})
        );
    }
}
