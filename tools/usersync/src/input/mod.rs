//! Reading the export, one row at a time: CSV ([`csv`]) or JSON Lines ([`jsonl`]), each
//! row turned into the upsert item the server reads.
//!
//! Nothing here holds the file: a reader keeps one record (or line) at a time, so memory
//! does not grow with the file. The file's SHA-256 is computed on the way
//! ([`HashingReader`]), so the validation pass also fingerprints the input for the resume
//! state and the `Idempotency-Key`s.

pub mod csv;
pub mod fields;
pub mod jsonl;
pub mod mapping;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::cli::FormatArg;

pub use self::mapping::Mapping;

/// The format of an input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CSV with a header row (RFC 4180 quoting).
    Csv,
    /// JSON Lines: one user object per line.
    Jsonl,
}

impl Format {
    /// `--format` when given, else the extension: `.csv`, `.jsonl`, `.ndjson` (any case).
    pub fn detect(path: &Path, explicit: Option<FormatArg>) -> Result<Format, InputError> {
        if let Some(f) = explicit {
            return Ok(match f {
                FormatArg::Csv => Format::Csv,
                FormatArg::Jsonl => Format::Jsonl,
            });
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            _ => Err(InputError::UnknownFormat(path.display().to_string())),
        }
    }

    /// `csv` or `jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// A problem with the input as a whole: the run cannot start (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file cannot be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Reading failed half-way (not a row's content: the file itself).
    #[error("cannot read the input: {0}")]
    Read(#[source] io::Error),
    /// Neither `--format` nor a known extension.
    #[error("{0}: cannot tell the format from the extension; pass --format csv or --format jsonl")]
    UnknownFormat(String),
    /// The CSV header row is missing or unreadable.
    #[error("the CSV header row: {0}")]
    Header(String),
    /// Header names that are neither fields nor mapped.
    #[error(
        "unknown columns: {columns}; the known columns are {known} (and `error`, ignored); map others with --map"
    )]
    UnknownColumns {
        /// The unknown header names, quoted.
        columns: String,
        /// The known column names.
        known: String,
    },
    /// Two columns fill the same field.
    #[error("columns {first} and {second} both fill `{field}`")]
    DuplicateColumn {
        /// The first column.
        first: String,
        /// The second column.
        second: String,
        /// The field.
        field: &'static str,
    },
    /// The mapping file is unusable.
    #[error("--map: {0}")]
    Mapping(String),
}

/// A row that is not acceptable, as the line printed for it:
/// `row N, column C: message` (or `row N: message` when no column is to blame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The row number (see [`crate::cli::Command::Push`]).
    pub row: u64,
    /// The column (CSV header, or JSON path inside the object for JSON Lines).
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {}, column {c}: {}", self.row, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

/// How the columns of a CSV map to the user's fields, shared by all its rows.
#[derive(Debug)]
pub struct CsvLayout {
    /// The header names as in the file (a leading BOM removed).
    pub headers: Vec<String>,
    /// The field each column fills; `None` for ignored columns (`error`, mapped to null).
    pub targets: Vec<Option<fields::Target>>,
    /// The column of each field, by [`fields::Target::index`].
    pub by_target: [Option<usize>; 13],
}

impl CsvLayout {
    /// The header of the column filling `target`, or the field's own name when the file
    /// has no such column.
    pub fn column_name(&self, target: fields::Target) -> String {
        self.by_target[target.index()]
            .and_then(|i| self.headers.get(i))
            .cloned()
            .unwrap_or_else(|| target.as_str().to_owned())
    }

    /// The card and PIN columns, as `card/pin` (the file's names).
    fn factor_columns(&self) -> String {
        format!(
            "{}/{}",
            self.column_name(fields::Target::Card),
            self.column_name(fields::Target::Pin)
        )
    }
}

/// Where a row's JSON came from, to name the column of an error.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A JSON Lines object: the column is the JSON path itself.
    Json,
    /// A CSV row: fields by the layout, `auth_factors[i]` by the column that produced it.
    Csv {
        /// The file's layout.
        layout: Arc<CsvLayout>,
        /// For each `auth_factors` entry, the column index it came from.
        factor_columns: Vec<usize>,
    },
}

/// One row of the export as the upsert item the server reads.
#[derive(Debug, Clone)]
pub struct RowItem {
    /// Its row number.
    pub row: u64,
    /// The user object sent in `list_items`.
    pub item: Map<String, Value>,
    /// How to name its columns.
    pub origin: Origin,
}

impl RowItem {
    /// The column to blame for a problem at `path` (a JSON path inside the item such as
    /// `auth_factors[1].number`); `None` for the item as a whole.
    pub fn column_of(&self, path: &str) -> Option<String> {
        if path.is_empty() {
            return None;
        }
        match &self.origin {
            Origin::Json => Some(path.to_owned()),
            Origin::Csv {
                layout,
                factor_columns,
            } => {
                let top = path.split(['.', '[']).next().unwrap_or(path);
                if top == "auth_factors" {
                    let index = path
                        .strip_prefix("auth_factors[")
                        .and_then(|rest| rest.split(']').next())
                        .and_then(|i| i.parse::<usize>().ok());
                    return Some(
                        index
                            .and_then(|i| factor_columns.get(i))
                            .and_then(|c| layout.headers.get(*c))
                            .cloned()
                            .unwrap_or_else(|| layout.factor_columns()),
                    );
                }
                Some(match fields::Target::parse(top) {
                    Some(t) => layout.column_name(t),
                    None => top.to_owned(),
                })
            }
        }
    }

    /// The field a path is about, for the hint added to wrong-type messages.
    pub fn target_of(path: &str) -> Option<fields::Target> {
        if path.starts_with("auth_factors[") && path.ends_with(".number") {
            return Some(fields::Target::Card);
        }
        fields::Target::parse(path)
    }

    /// The compact JSON sent for this row.
    pub fn to_json(&self) -> String {
        // Serializing a map of JSON values cannot fail.
        serde_json::to_string(&self.item).unwrap_or_default()
    }
}

/// What reading the next row gave.
#[derive(Debug)]
pub enum Next {
    /// A row, converted.
    Row(RowItem),
    /// A row that cannot be converted (a CSV boolean, a line that is not a JSON object).
    Invalid(RowError),
    /// The end of the file.
    End,
}

/// A reader that hashes what passes through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 (hex) of everything read so far.
    pub fn sha256_hex(&self) -> String {
        crate::key::hex(&self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// An opened export, read row by row.
#[derive(Debug)]
pub enum Input {
    /// A CSV file.
    Csv(csv::CsvInput),
    /// A JSON Lines file.
    Jsonl(jsonl::JsonlInput),
}

/// What identifies an input to read again (the push pass, the failed-rows pass).
#[derive(Clone, Debug)]
pub struct InputSpec {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// The `--map`, for CSV.
    pub mapping: Option<Arc<Mapping>>,
}

impl InputSpec {
    /// Opens the file for a pass over it.
    pub fn open(&self) -> Result<Input, InputError> {
        let file = File::open(&self.path).map_err(|e| InputError::Open {
            path: self.path.display().to_string(),
            source: e,
        })?;
        let reader = HashingReader::new(file);
        Ok(match self.format {
            Format::Csv => Input::Csv(csv::CsvInput::new(reader, self.mapping.as_deref())?),
            Format::Jsonl => Input::Jsonl(jsonl::JsonlInput::new(reader)),
        })
    }
}

/// Anything rows are read from: a file, or in tests a byte slice.
pub trait RowSource {
    /// The next row.
    fn next_row(&mut self) -> Result<Next, InputError>;

    /// The SHA-256 (hex) of the bytes read so far: of the whole file once
    /// [`Next::End`] was returned.
    fn sha256_hex(&self) -> String;
}

impl RowSource for Input {
    fn next_row(&mut self) -> Result<Next, InputError> {
        match self {
            Input::Csv(c) => c.next_row(),
            Input::Jsonl(j) => j.next_row(),
        }
    }

    fn sha256_hex(&self) -> String {
        match self {
            Input::Csv(c) => c.sha256_hex(),
            Input::Jsonl(j) => j.sha256_hex(),
        }
    }
}

impl<R: Read> RowSource for csv::CsvInput<R> {
    fn next_row(&mut self) -> Result<Next, InputError> {
        csv::CsvInput::next_row(self)
    }

    fn sha256_hex(&self) -> String {
        csv::CsvInput::sha256_hex(self)
    }
}

impl<R: Read> RowSource for jsonl::JsonlInput<R> {
    fn next_row(&mut self) -> Result<Next, InputError> {
        jsonl::JsonlInput::next_row(self)
    }

    fn sha256_hex(&self) -> String {
        jsonl::JsonlInput::sha256_hex(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_option_or_the_extension() {
        assert_eq!(
            Format::detect(Path::new("a.CSV"), None).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::detect(Path::new("a.ndjson"), None).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            Format::detect(Path::new("a.jsonl"), None).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            Format::detect(Path::new("a.txt"), Some(FormatArg::Csv)).unwrap(),
            Format::Csv
        );
        assert!(Format::detect(Path::new("export"), None).is_err());
    }

    #[test]
    fn row_errors_print_row_and_column() {
        let e = RowError {
            row: 3,
            column: Some("pin".into()),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "row 3, column pin: bad");
        let e = RowError {
            row: 4,
            column: None,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "row 4: bad");
    }

    #[test]
    fn the_hashing_reader_hashes_what_it_reads() {
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(
            r.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
