//! `--map FILE`: a JSON object from the export's header names to the user's fields.
//!
//! ```json
//! {"Employee ID": "link_id", "Full name": "name", "Mail": "email",
//!  "Badge": "card", "Door PIN": "pin", "Cost centre": null}
//! ```
//!
//! A value is one of the column names of [`super::fields::Target`] (any case) or `null`,
//! which ignores the column. Header names are compared exactly, after trimming white
//! space. Headers not in the mapping keep their default meaning.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::InputError;
use super::fields::{Target, known_columns};

/// Largest mapping file read: it is a handful of names, not data.
const MAX_MAPPING_BYTES: u64 = 1 << 20;

/// A parsed mapping: header name → field, or `None` to ignore the column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    entries: HashMap<String, Option<Target>>,
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let file = std::fs::File::open(path).map_err(|e| InputError::Open {
            path: path.display().to_string(),
            source: e,
        })?;
        let mut text = String::new();
        file.take(MAX_MAPPING_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| InputError::Mapping(format!("{}: {e}", path.display())))?;
        if text.len() as u64 > MAX_MAPPING_BYTES {
            return Err(InputError::Mapping(format!(
                "{}: larger than {MAX_MAPPING_BYTES} bytes",
                path.display()
            )));
        }
        Self::parse(&text).map_err(|e| InputError::Mapping(format!("{}: {e}", path.display())))
    }

    /// Parses a mapping's JSON text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("expected a JSON object such as {\"Employee ID\": \"link_id\"}".to_owned());
        };
        let mut entries = HashMap::new();
        for (header, target) in map {
            let target = match target {
                Value::Null => None,
                Value::String(s) => Some(Target::parse(s.trim()).ok_or_else(|| {
                    format!(
                        "`{header}` maps to unknown field `{s}` (known: {}; or null to ignore)",
                        known_columns()
                    )
                })?),
                _ => {
                    return Err(format!(
                        "`{header}` must map to a field name (a string) or null"
                    ));
                }
            };
            entries.insert(header.trim().to_owned(), target);
        }
        Ok(Self { entries })
    }

    /// What the mapping says about `header`: `None` when it does not mention it,
    /// `Some(None)` when the column is ignored.
    pub fn get(&self, header: &str) -> Option<Option<Target>> {
        self.entries.get(header.trim()).copied()
    }

    /// A fingerprint of the mapping's meaning (sorted entries), recorded in the resume
    /// state: a different mapping sends different rows.
    pub fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|(h, t)| format!("{h}\u{0}{}", t.map_or("", Target::as_str)))
            .collect();
        lines.sort();
        crate::key::sha256_hex(lines.join("\n").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_names_fields_or_ignores_columns() {
        let m = Mapping::parse(
            r#"{"Employee ID": "link_id", " Full name ": "NAME", "Cost centre": null}"#,
        )
        .unwrap();
        assert_eq!(m.get("Employee ID"), Some(Some(Target::LinkId)));
        assert_eq!(m.get("Full name"), Some(Some(Target::Name)));
        assert_eq!(m.get("Cost centre"), Some(None));
        assert_eq!(m.get("other"), None);
    }

    #[test]
    fn bad_mappings_are_refused_with_a_reason() {
        assert!(Mapping::parse("[1]").unwrap_err().contains("JSON object"));
        assert!(Mapping::parse("{").unwrap_err().contains("not JSON"));
        assert!(
            Mapping::parse(r#"{"a": "nope"}"#)
                .unwrap_err()
                .contains("unknown field `nope`")
        );
        assert!(
            Mapping::parse(r#"{"a": 1}"#)
                .unwrap_err()
                .contains("field name")
        );
    }

    #[test]
    fn the_fingerprint_follows_the_meaning_not_the_text() {
        let a = Mapping::parse(r#"{"A": "name", "B": "card"}"#).unwrap();
        let b = Mapping::parse(r#"{ "B": "CARD", "A": "name" }"#).unwrap();
        let c = Mapping::parse(r#"{"A": "name", "B": "pin"}"#).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}
