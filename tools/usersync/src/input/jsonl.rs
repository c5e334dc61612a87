//! JSON Lines: one user object per line, with the upsert's own field names
//! (`auth_factors` included). Blank lines are skipped (but counted: a row number is the
//! line number), a UTF-8 BOM before the first line is tolerated, `\r\n` endings too. A
//! member `error` (as `--failed-rows` writes it) is not part of the user and is dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use super::{HashingReader, InputError, Next, Origin, RowError, RowItem};

/// The longest line read: far above the server's body limit (6,000,000 bytes), so only a
/// file that is not JSON Lines at all hits it, and memory stays bounded even then.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// An open JSON Lines export.
#[derive(Debug)]
pub struct JsonlInput<R: Read = File> {
    reader: BufReader<HashingReader<R>>,
    line: u64,
    buf: Vec<u8>,
}

/// One line read by [`JsonlInput::next_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line with content, in [`JsonlInput::line_bytes`].
    Content(u64),
    /// A blank line (skipped).
    Blank(u64),
    /// A line over [`MAX_LINE_BYTES`] (skipped to its end).
    TooLong(u64),
}

impl<R: Read> JsonlInput<R> {
    /// Reads from `inner`.
    pub fn new(inner: HashingReader<R>) -> Self {
        Self {
            reader: BufReader::with_capacity(64 << 10, inner),
            line: 0,
            buf: Vec::new(),
        }
    }

    /// Reads the next line; `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<Line>, InputError> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(InputError::Read)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.len() > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
            self.skip_rest_of_line()?;
            self.buf.clear();
            return Ok(Some(Line::TooLong(self.line)));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        if self.line == 1 && self.buf.starts_with("\u{feff}".as_bytes()) {
            self.buf.drain(..3);
        }
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(Line::Blank(self.line)));
        }
        Ok(Some(Line::Content(self.line)))
    }

    fn skip_rest_of_line(&mut self) -> Result<(), InputError> {
        loop {
            let available = self.reader.fill_buf().map_err(InputError::Read)?;
            if available.is_empty() {
                return Ok(());
            }
            match available.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.reader.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let len = available.len();
                    self.reader.consume(len);
                }
            }
        }
    }

    /// The content of the line [`Self::next_line`] read (without its line ending).
    pub fn line_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The next row, converted: blank lines are skipped.
    pub fn next_row(&mut self) -> Result<Next, InputError> {
        loop {
            return Ok(match self.next_line()? {
                None => Next::End,
                Some(Line::Blank(_)) => continue,
                Some(Line::TooLong(row)) => Next::Invalid(RowError {
                    row,
                    column: None,
                    message: format!("line longer than {MAX_LINE_BYTES} bytes"),
                }),
                Some(Line::Content(row)) => match parse_line(row, &self.buf) {
                    Ok(item) => Next::Row(item),
                    Err(e) => Next::Invalid(e),
                },
            });
        }
    }

    /// The SHA-256 (hex) of the bytes read so far.
    pub fn sha256_hex(&self) -> String {
        self.reader.get_ref().sha256_hex()
    }
}

/// Reads one line as a user object.
pub fn parse_line(row: u64, line: &[u8]) -> Result<RowItem, RowError> {
    let not_object = |message: String| RowError {
        row,
        column: None,
        message,
    };
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(mut item)) => {
            item.remove("error");
            Ok(RowItem {
                row,
                item,
                origin: Origin::Json,
            })
        }
        Ok(_) => Err(not_object("not a JSON object".to_owned())),
        Err(e) => Err(not_object(format!("not JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(text: &[u8]) -> Vec<Result<RowItem, RowError>> {
        let mut input = JsonlInput::new(HashingReader::new(text));
        let mut out = Vec::new();
        loop {
            match input.next_row().unwrap() {
                Next::Row(r) => out.push(Ok(r)),
                Next::Invalid(e) => out.push(Err(e)),
                Next::End => return out,
            }
        }
    }

    #[test]
    fn lines_are_objects_numbered_by_line_with_blank_lines_counted() {
        let text = "\u{feff}{\"name\": \"Ann\", \"auth_factors\": [{\"type\": \"pin\", \"number\": 42}]}\r\n\
                    \n   \n\
                    {\"name\": \"Bo\", \"error\": \"old\"}\n\
                    [1]\n\
                    {oops";
        let got = rows(text.as_bytes());
        assert_eq!(got.len(), 4);
        let first = got[0].as_ref().unwrap();
        assert_eq!(first.row, 1);
        assert_eq!(
            Value::Object(first.item.clone()),
            json!({"name": "Ann", "auth_factors": [{"type": "pin", "number": 42}]})
        );
        let second = got[1].as_ref().unwrap();
        assert_eq!(second.row, 4);
        assert_eq!(Value::Object(second.item.clone()), json!({"name": "Bo"}));
        assert_eq!(
            got[2].as_ref().unwrap_err().to_string(),
            "row 5: not a JSON object"
        );
        let e = got[3].as_ref().unwrap_err();
        assert_eq!(e.row, 6);
        assert!(e.message.starts_with("not JSON"), "{e}");
    }

    #[test]
    fn json_paths_name_the_column() {
        let got = rows(b"{\"name\": \"Ann\"}\n");
        let row = got[0].as_ref().unwrap();
        assert_eq!(
            row.column_of("auth_factors[1].number").as_deref(),
            Some("auth_factors[1].number")
        );
    }

    #[test]
    fn an_overlong_line_is_a_row_error_and_reading_goes_on() {
        let mut text = vec![b'x'; MAX_LINE_BYTES + 10];
        text.extend_from_slice(b"\n{\"name\": \"Ann\"}\n");
        let got = rows(&text);
        assert_eq!(got.len(), 2);
        assert!(got[0].as_ref().unwrap_err().message.contains("longer than"));
        assert_eq!(got[1].as_ref().unwrap().row, 2);
    }
}
