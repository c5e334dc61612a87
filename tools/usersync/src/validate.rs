//! The validation pass: every row through the server's own parser, and the duplicates
//! inside the file, before anything is sent.
//!
//! Each row's upsert item is read with [`UserInput::from_json`] (the parser the upsert
//! function runs), so the client refuses exactly what the server would; its error names a
//! JSON path, turned back into the row's column ([`crate::input::RowItem::column_of`]).
//! Duplicates are found with 64-bit fingerprints in bounded memory ([`crate::dedup`]):
//! the same `link_id` twice, the same card number for two rows, the same PIN for two rows
//! (card 1234 and PIN 1234 do not clash; a number sent as a JSON integer counts as its
//! decimal string, as the server reads it). The same number twice in one row is not a
//! duplicate (the server counts distinct numbers). They are reported after the pass,
//! each with the first row that carries the value.

use std::collections::HashSet;

use serde_json::Value;
use shared::domain::json::{BodyError, JsonPath};
use shared::domain::{AuthFactorInput, UserInput, UserInputError};

use crate::dedup::Fingerprints;
use crate::input::{InputError, Next, RowError, RowItem, RowSource};
use crate::key::fingerprint64;

/// How many row messages are kept to print; the rest are counted.
pub const MAX_PRINTED_ERRORS: usize = 100;

/// The export's link ids, sorted: the reconciliation keeps every user whose id is here
/// (16 bytes a row, kept only for `--delete-missing`).
#[derive(Debug, Default)]
pub struct LinkIds(Vec<u128>);

impl LinkIds {
    /// The ids, sorted and each once.
    pub(crate) fn from_sorted(ids: Vec<u128>) -> Self {
        Self(ids)
    }

    /// Whether `id` is in the export.
    pub fn contains(&self, id: u128) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    /// How many distinct ids the export has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the export has no ids.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The outcome of the validation pass.
#[derive(Debug)]
pub struct Validation {
    /// Rows read (valid or not).
    pub rows: u64,
    /// The first [`MAX_PRINTED_ERRORS`] problems.
    pub errors: Vec<RowError>,
    /// Every problem, counted.
    pub error_count: u64,
    /// Rows with problems.
    pub invalid_rows: u64,
    /// The link ids of the export (kept only when asked: `--delete-missing`).
    pub link_ids: LinkIds,
    /// SHA-256 (hex) of the whole file.
    pub sha256: String,
}

impl Validation {
    /// Whether the file can be sent.
    pub fn is_valid(&self) -> bool {
        self.error_count == 0
    }
}

/// The message for a parser error, with what a valid value looks like.
fn message(e: &UserInputError, path: &str) -> String {
    match e {
        UserInputError::Body(BodyError::WrongType(_)) => {
            match RowItem::target_of(path).map(|t| t.expected()) {
                Some(expected) => format!("{e} (expected {expected})"),
                None => e.to_string(),
            }
        }
        UserInputError::Body(BodyError::Missing(_)) if path == "auth_factors" => {
            format!("{e} (at least one card or PIN number is required)")
        }
        _ => e.to_string(),
    }
}

/// Checks one converted row: the server's parser, then the duplicates.
pub fn check_row(item: &RowItem, require_link_id: bool, seen: &mut Fingerprints) -> Vec<RowError> {
    let row = item.row;
    let error = |column: Option<String>, message: String| RowError {
        row,
        column,
        message,
    };
    let value = Value::Object(item.item.clone());
    let user = match UserInput::from_json(&value, &JsonPath::default()) {
        Ok(user) => user,
        Err(e) => {
            let path = match &e {
                UserInputError::Body(BodyError::Missing(p) | BodyError::WrongType(p)) => {
                    p.as_str().to_owned()
                }
                UserInputError::EmptyAuthFactors => "auth_factors".to_owned(),
                UserInputError::Body(BodyError::Malformed) => String::new(),
            };
            return vec![error(item.column_of(&path), message(&e, &path))];
        }
    };
    let mut errors = Vec::new();
    match user.link_id {
        Some(id) => {
            if let Some(ids) = &mut seen.link_ids {
                ids.push(id.uuid().as_u128());
            }
            let column = item.column_of("link_id");
            seen.record(
                fingerprint64("link_id", &id.to_string()),
                row,
                column,
                "link_id",
            );
        }
        None if require_link_id => errors.push(error(
            item.column_of("link_id"),
            "no link_id: --delete-missing needs every row to carry one".to_owned(),
        )),
        None => {}
    }
    let mut in_row = HashSet::new();
    for (i, factor) in user.auth_factors.iter().enumerate() {
        let AuthFactorInput::Number(identifier) = factor else {
            continue;
        };
        let kind = identifier.kind.as_str();
        let key = fingerprint64(kind, &identifier.number);
        if !in_row.insert(key) {
            continue;
        }
        let what = if kind == "pin" { "PIN" } else { "card number" };
        let column = item.column_of(&format!("auth_factors[{i}].number"));
        seen.record(key, row, column, what);
    }
    errors
}

/// Reads the whole input once: every row checked, the file hashed.
pub fn validate<S: RowSource>(
    mut input: S,
    require_link_id: bool,
) -> Result<Validation, InputError> {
    let mut seen = Fingerprints::new(require_link_id);
    let mut rows = 0u64;
    let mut errors = Vec::new();
    let mut error_count = 0u64;
    let mut invalid_rows = 0u64;
    let mut record = |found: Vec<RowError>, errors: &mut Vec<RowError>| {
        if !found.is_empty() {
            invalid_rows += 1;
        }
        for e in found {
            error_count += 1;
            if errors.len() < MAX_PRINTED_ERRORS {
                errors.push(e);
            }
        }
    };
    loop {
        match input.next_row()? {
            Next::End => break,
            Next::Invalid(e) => {
                rows += 1;
                record(vec![e], &mut errors);
            }
            Next::Row(item) => {
                rows += 1;
                record(check_row(&item, require_link_id, &mut seen), &mut errors);
            }
        }
    }
    // Duplicates are known once every row is in; rows with other problems as well
    // count once.
    let mut invalid: HashSet<u64> = errors.iter().map(|e| e.row).collect();
    let (duplicates, link_ids) = seen.finish()?;
    for e in duplicates {
        error_count += 1;
        if invalid.insert(e.row) {
            invalid_rows += 1;
        }
        errors.push(e);
    }
    errors.sort_by_key(|e| e.row);
    errors.truncate(MAX_PRINTED_ERRORS);
    Ok(Validation {
        rows,
        errors,
        error_count,
        invalid_rows,
        link_ids,
        sha256: input.sha256_hex(),
    })
}

/// Prints the problems of an invalid file on stderr: at most [`MAX_PRINTED_ERRORS`]
/// lines, then `... and K more`.
pub fn print_errors(v: &Validation) {
    for e in &v.errors {
        eprintln!("{e}");
    }
    let more = v.error_count.saturating_sub(v.errors.len() as u64);
    if more > 0 {
        eprintln!("... and {more} more");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::csv::CsvInput;
    use crate::input::jsonl::JsonlInput;
    use crate::input::{HashingReader, Origin};
    use serde_json::json;

    fn json_row(row: u64, v: Value) -> RowItem {
        let Value::Object(item) = v else {
            panic!("not an object")
        };
        RowItem {
            row,
            item,
            origin: Origin::Json,
        }
    }

    fn csv_errors(text: &str, require_link_id: bool) -> Vec<String> {
        let mut input = CsvInput::new(HashingReader::new(text.as_bytes()), None).unwrap();
        let mut seen = Fingerprints::new(require_link_id);
        let mut out = Vec::new();
        loop {
            match input.next_row().unwrap() {
                Next::End => {
                    let (dups, _) = seen.finish().unwrap();
                    out.extend(dups.iter().map(ToString::to_string));
                    return out;
                }
                Next::Invalid(e) => out.push(e.to_string()),
                Next::Row(item) => out.extend(
                    check_row(&item, require_link_id, &mut seen)
                        .iter()
                        .map(ToString::to_string),
                ),
            }
        }
    }

    #[test]
    fn the_servers_errors_name_the_csv_column() {
        let errors = csv_errors(
            "link_id,name,email,card,pin,last_login_time\n\
             nope,Ann,,1,,\n\
             ,,,2,,\n\
             ,Cy,,3,\"4\u{1b}\",\n\
             ,Di,,,,\n\
             ,Ed,,5,,yesterday\n\
             ,   ,,6,,\n",
            false,
        );
        assert_eq!(
            errors,
            [
                "row 1, column link_id: Wrong JSON body: value `link_id` was of the wrong type (expected a UUID)",
                "row 2, column name: Wrong JSON body: no value for `name`",
                "row 3, column pin: Wrong JSON body: value `auth_factors[1].number` was of the wrong type (expected 1 to 64 characters, no control characters)",
                "row 4, column card/pin: Wrong JSON body: no value for `auth_factors` (at least one card or PIN number is required)",
                "row 5, column last_login_time: Wrong JSON body: value `last_login_time` was of the wrong type (expected an RFC 3339 date-time such as 2026-06-01T08:00:00Z, years 0000 to 9999)",
                "row 6, column name: Wrong JSON body: value `name` was of the wrong type (expected 1 to 256 characters, not blank, no control characters)",
            ]
        );
    }

    #[test]
    fn duplicates_of_link_ids_cards_and_pins_are_found_but_card_and_pin_do_not_clash() {
        let errors = csv_errors(
            "link_id,name,card,pin\n\
             91c615e3-1040-4815-8ecb-039a18b756b5,Ann,1234,1234\n\
             91C615E3-1040-4815-8ECB-039A18B756B5,Bo,1,2\n\
             ,Cy,9|1234,3\n\
             ,Di,5,6|1234\n\
             ,Ed,7|7,8|8\n",
            false,
        );
        assert_eq!(
            errors,
            [
                "row 2, column link_id: the same link_id as row 1",
                "row 3, column card: the same card number as row 1",
                "row 4, column pin: the same PIN as row 1",
            ]
        );
    }

    #[test]
    fn an_integer_pin_counts_as_its_decimal_string() {
        let mut seen = Fingerprints::default();
        let a = json_row(
            1,
            json!({"name": "A", "auth_factors": [{"type": "pin", "number": 42}]}),
        );
        let b = json_row(
            2,
            json!({"name": "B", "auth_factors": [{"type": "pin", "number": "42"}]}),
        );
        let c = json_row(
            3,
            json!({"name": "C", "auth_factors": [{"type": "pin", "number": "042"}]}),
        );
        for r in [&a, &b, &c] {
            assert!(check_row(r, false, &mut seen).is_empty());
        }
        let (dups, _) = seen.finish().unwrap();
        let dups: Vec<String> = dups.iter().map(ToString::to_string).collect();
        assert_eq!(
            dups,
            ["row 2, column auth_factors[0].number: the same PIN as row 1"]
        );
    }

    #[test]
    fn delete_missing_needs_a_link_id_on_every_row() {
        let errors = csv_errors("name,card\nAnn,1\n", true);
        assert_eq!(
            errors,
            ["row 1, column link_id: no link_id: --delete-missing needs every row to carry one"]
        );
        assert!(csv_errors("name,card\nAnn,1\n", false).is_empty());
    }

    #[test]
    fn jsonl_errors_name_the_json_path() {
        let mut seen = Fingerprints::default();
        let r = json_row(
            7,
            json!({"name": "A", "auth_factors": [{"type": "iris", "number": "1"}]}),
        );
        assert_eq!(
            check_row(&r, false, &mut seen)[0].to_string(),
            "row 7, column auth_factors[0].type: Wrong JSON body: value `auth_factors[0].type` was of the wrong type"
        );
        let r = json_row(8, json!({"name": "A", "auth_factors": []}));
        assert_eq!(
            check_row(&r, false, &mut seen)[0].to_string(),
            "row 8, column auth_factors: auth_factors must contain at least one item"
        );
    }

    #[test]
    fn the_pass_counts_rows_caps_messages_and_hashes_the_file() {
        let mut text = String::from(
            "{\"name\": \"ok\", \"link_id\": \"91c615e3-1040-4815-8ecb-039a18b756b5\", \"auth_factors\": [{\"type\": \"card\", \"number\": \"x\"}]}\n",
        );
        for _ in 0..150 {
            text.push_str("{\"name\": \"\"}\n");
        }
        text.push_str("not json\n");
        let v = validate(JsonlInput::new(HashingReader::new(text.as_bytes())), false).unwrap();
        assert_eq!(v.rows, 152);
        assert_eq!(v.error_count, 151);
        assert_eq!(v.invalid_rows, 151);
        assert_eq!(v.errors.len(), MAX_PRINTED_ERRORS);
        assert!(!v.is_valid());
        assert_eq!(v.link_ids.len(), 0, "kept only for --delete-missing");
        assert_eq!(v.sha256, crate::key::sha256_hex(text.as_bytes()));
    }
}
