//! CSV: a header row, RFC 4180 quoting (the `csv` crate), a UTF-8 BOM tolerated.
//!
//! Each column fills one field of the upsert user ([`Target`]); an empty cell leaves the
//! field out (absent: an update keeps the stored value). `active` and `is_online` are
//! booleans (`true`/`false`, `1`/`0`, `yes`/`no`). `card` and `pin` hold one or more
//! numbers separated by `|`, each trimmed of surrounding white space, empty parts
//! skipped; each becomes an `auth_factors` entry `{"type": "card", "number": "..."}`,
//! cards before PINs when the card column comes first (file order). Other cells are sent
//! exactly as written. A column named `error` (as `--failed-rows` writes it) is ignored.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use csv::StringRecord;
use serde_json::{Map, Value, json};

use super::fields::{Target, known_columns, parse_bool};
use super::{CsvLayout, HashingReader, InputError, Mapping, Next, Origin, RowError, RowItem};

/// The column `--failed-rows` adds, ignored on input.
pub const ERROR_COLUMN: &str = "error";

/// Works out which field each header fills.
pub fn layout(headers: &[String], mapping: Option<&Mapping>) -> Result<CsvLayout, InputError> {
    let mut targets = Vec::with_capacity(headers.len());
    let mut by_target: [Option<usize>; 13] = [None; 13];
    let mut unknown = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let target = match mapping.and_then(|m| m.get(header)) {
            Some(mapped) => mapped,
            None if header.trim().eq_ignore_ascii_case(ERROR_COLUMN) => None,
            None => match Target::parse(header.trim()) {
                Some(t) => Some(t),
                None => {
                    unknown.push(format!("`{header}`"));
                    None
                }
            },
        };
        if let Some(t) = target {
            if let Some(first) = by_target[t.index()] {
                return Err(InputError::DuplicateColumn {
                    first: format!("`{}`", headers[first]),
                    second: format!("`{header}`"),
                    field: t.as_str(),
                });
            }
            by_target[t.index()] = Some(i);
        }
        targets.push(target);
    }
    if !unknown.is_empty() {
        return Err(InputError::UnknownColumns {
            columns: unknown.join(", "),
            known: known_columns(),
        });
    }
    Ok(CsvLayout {
        headers: headers.to_vec(),
        targets,
        by_target,
    })
}

/// Turns one record into the upsert item.
pub fn convert(
    layout: &Arc<CsvLayout>,
    row: u64,
    record: &StringRecord,
) -> Result<RowItem, RowError> {
    let mut item = Map::new();
    let mut factors = Vec::new();
    let mut factor_columns = Vec::new();
    for (i, cell) in record.iter().enumerate() {
        let Some(target) = layout.targets.get(i).copied().flatten() else {
            continue;
        };
        if cell.is_empty() {
            continue;
        }
        match target {
            Target::Active | Target::IsOnline => {
                let value = parse_bool(cell).ok_or_else(|| RowError {
                    row,
                    column: layout.headers.get(i).cloned(),
                    message: format!(
                        "`{cell}` is not a boolean: expected true or false (also 1/0, yes/no)"
                    ),
                })?;
                item.insert(target.as_str().to_owned(), Value::Bool(value));
            }
            Target::Card | Target::Pin => {
                for number in cell.split('|').map(str::trim).filter(|n| !n.is_empty()) {
                    factors.push(json!({"type": target.as_str(), "number": number}));
                    factor_columns.push(i);
                }
            }
            _ => {
                item.insert(target.as_str().to_owned(), Value::String(cell.to_owned()));
            }
        }
    }
    if !factors.is_empty() {
        item.insert("auth_factors".to_owned(), Value::Array(factors));
    }
    Ok(RowItem {
        row,
        item,
        origin: Origin::Csv {
            layout: Arc::clone(layout),
            factor_columns,
        },
    })
}

/// An open CSV export.
#[derive(Debug)]
pub struct CsvInput<R: Read = File> {
    reader: csv::Reader<HashingReader<R>>,
    layout: Arc<CsvLayout>,
    record: StringRecord,
    row: u64,
}

/// Reads the header row of `reader` (a leading BOM removed).
fn read_headers<R: Read>(reader: &mut csv::Reader<R>) -> Result<Vec<String>, InputError> {
    let headers = reader
        .headers()
        .map_err(|e| InputError::Header(e.to_string()))?;
    if headers.is_empty() {
        return Err(InputError::Header("the file is empty".to_owned()));
    }
    Ok(headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}').to_owned()
            } else {
                h.to_owned()
            }
        })
        .collect())
}

/// A CSV reader with this tool's settings: a header row, strict field counts.
pub fn reader<R: Read>(inner: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(inner)
}

impl<R: Read> CsvInput<R> {
    /// Reads the header row and works out the layout.
    pub fn new(inner: HashingReader<R>, mapping: Option<&Mapping>) -> Result<Self, InputError> {
        let mut reader = reader(inner);
        let headers = read_headers(&mut reader)?;
        let layout = Arc::new(layout(&headers, mapping)?);
        Ok(Self {
            reader,
            layout,
            record: StringRecord::new(),
            row: 0,
        })
    }

    /// The file's layout.
    pub fn layout(&self) -> &Arc<CsvLayout> {
        &self.layout
    }

    /// Reads the next record into [`Self::record`]: `None` at the end, else its row
    /// number and whether it could be read (UTF-8, field count).
    pub fn next_record(&mut self) -> Result<Option<(u64, Option<RowError>)>, InputError> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                self.row += 1;
                Ok(Some((self.row, None)))
            }
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(InputError::Read(std::io::Error::other(e.to_string())));
                }
                self.row += 1;
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("expected {expected_len} fields like the header, found {len}"),
                    csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
                    _ => e.to_string(),
                };
                Ok(Some((
                    self.row,
                    Some(RowError {
                        row: self.row,
                        column: None,
                        message,
                    }),
                )))
            }
        }
    }

    /// The record [`Self::next_record`] read.
    pub fn record(&self) -> &StringRecord {
        &self.record
    }

    /// The next row, converted.
    pub fn next_row(&mut self) -> Result<Next, InputError> {
        Ok(match self.next_record()? {
            None => Next::End,
            Some((_, Some(e))) => Next::Invalid(e),
            Some((row, None)) => match convert(&self.layout, row, &self.record) {
                Ok(item) => Next::Row(item),
                Err(e) => Next::Invalid(e),
            },
        })
    }

    /// The SHA-256 (hex) of the bytes read so far.
    pub fn sha256_hex(&self) -> String {
        self.reader.get_ref().sha256_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::mapping::Mapping;

    fn open<'a>(
        text: &'a str,
        mapping: Option<&Mapping>,
    ) -> Result<CsvInput<&'a [u8]>, InputError> {
        CsvInput::new(HashingReader::new(text.as_bytes()), mapping)
    }

    fn rows(text: &str) -> Vec<Result<Value, RowError>> {
        let mut input = open(text, None).unwrap();
        let mut out = Vec::new();
        loop {
            match input.next_row().unwrap() {
                Next::Row(r) => out.push(Ok(Value::Object(r.item))),
                Next::Invalid(e) => out.push(Err(e)),
                Next::End => return out,
            }
        }
    }

    #[test]
    fn a_bom_quoting_lists_and_empty_cells() {
        let text = "\u{feff}link_id,name,card,pin,active,info\n\
                    91c615e3-1040-4815-8ecb-039a18b756b5,\"Lee, Ann\",1234|5678,4321,yes,\n\
                    ,\"Sam \"\"the man\"\" Hill\",77,,0,\"two\nlines\"\n";
        let got = rows(text);
        assert_eq!(
            got[0].as_ref().unwrap(),
            &json!({
                "link_id": "91c615e3-1040-4815-8ecb-039a18b756b5", "name": "Lee, Ann", "active": true,
                "auth_factors": [{"type": "card", "number": "1234"}, {"type": "card", "number": "5678"},
                                 {"type": "pin", "number": "4321"}]
            })
        );
        assert_eq!(
            got[1].as_ref().unwrap(),
            &json!({
                "name": "Sam \"the man\" Hill", "active": false, "info": "two\nlines",
                "auth_factors": [{"type": "card", "number": "77"}]
            })
        );
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn list_parts_are_trimmed_and_empty_parts_skipped() {
        let got = rows("name,pin\nAnn, 12 || 34 |\n");
        assert_eq!(
            got[0].as_ref().unwrap()["auth_factors"],
            json!([{"type": "pin", "number": "12"}, {"type": "pin", "number": "34"}])
        );
    }

    #[test]
    fn a_bad_boolean_or_field_count_is_a_row_error_and_reading_goes_on() {
        let got = rows("name,is_online,card\nAnn,maybe,1\nBo,1\nCy,true,3\n");
        assert_eq!(
            got[0].as_ref().unwrap_err().to_string(),
            "row 1, column is_online: `maybe` is not a boolean: expected true or false (also 1/0, yes/no)"
        );
        assert_eq!(
            got[1].as_ref().unwrap_err().to_string(),
            "row 2: expected 3 fields like the header, found 2"
        );
        assert_eq!(got[2].as_ref().unwrap()["is_online"], json!(true));
    }

    #[test]
    fn unknown_columns_are_refused_unless_mapped_and_error_is_ignored() {
        let e = open("name,Badge,card\n", None).unwrap_err();
        assert!(e.to_string().contains("unknown columns: `Badge`"), "{e}");
        let m = Mapping::parse(r#"{"Badge": "card", "Full name": "name", "Dept": null}"#).unwrap();
        let mut input = open(
            "Full name,Badge,Dept,error\nAnn,99,Sales,old message\n",
            Some(&m),
        )
        .unwrap();
        let Next::Row(row) = input.next_row().unwrap() else {
            panic!("no row")
        };
        assert_eq!(
            Value::Object(row.item.clone()),
            json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "99"}]})
        );
        assert_eq!(
            row.column_of("auth_factors[0].number").as_deref(),
            Some("Badge")
        );
        assert_eq!(row.column_of("name").as_deref(), Some("Full name"));
        assert_eq!(row.column_of("email").as_deref(), Some("email"));
        assert_eq!(row.column_of("auth_factors").as_deref(), Some("Badge/pin"));
    }

    #[test]
    fn two_columns_for_one_field_are_refused() {
        let m = Mapping::parse(r#"{"Badge": "card"}"#).unwrap();
        let e = open("card,Badge\n", Some(&m)).unwrap_err();
        assert_eq!(e.to_string(), "columns `card` and `Badge` both fill `card`");
    }

    #[test]
    fn header_names_are_matched_in_any_case() {
        let got = rows("Name,CARD\nAnn,1\n");
        assert_eq!(got[0].as_ref().unwrap()["name"], json!("Ann"));
    }

    #[test]
    fn the_factor_column_names_the_error_of_its_entry() {
        let mut input = open("name,card,pin\nAnn,1|2,3\n", None).unwrap();
        let Next::Row(row) = input.next_row().unwrap() else {
            panic!("no row")
        };
        assert_eq!(
            row.column_of("auth_factors[1].number").as_deref(),
            Some("card")
        );
        assert_eq!(
            row.column_of("auth_factors[2].number").as_deref(),
            Some("pin")
        );
        assert_eq!(row.column_of("").as_deref(), None);
    }

    #[test]
    fn an_empty_file_has_no_header() {
        assert!(open("", None).is_err());
    }
}
