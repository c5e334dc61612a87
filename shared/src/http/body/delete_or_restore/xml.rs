//! The `DeleteOrRestore` body in the data-contract XML of the contract.
//!
//! The reader is deliberately small and defensive: it never expands anything but the
//! five predefined entities and numeric character references, refuses any DOCTYPE (XXE,
//! billion laughs), bounds nesting and stops counting ids at the configured limit, all
//! while reading.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{DELETED, DeleteOrRestore, IDS, STATE, missing, wrong_type};
use crate::domain::LinkId;
use crate::domain::json::{BodyError, JsonPath};
use crate::http::error::RequestError;

/// Deepest element nesting accepted in XML (the root is depth 1); the contract needs 5.
pub(super) const MAX_XML_DEPTH: usize = 32;
/// Longest text kept for one XML value (a boolean or a UUID with generous white space).
const MAX_XML_VALUE_BYTES: usize = 1024;
/// The root element of the contract's XML sample.
const XML_ROOT: &str = "DeleteOrRestore";

/// A scalar member as read from XML; the last occurrence wins, like duplicate JSON keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Slot<T> {
    #[default]
    Absent,
    Nil,
    Value(T),
    Wrong,
}

/// The `ids` member as read from XML.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum IdsSlot {
    #[default]
    Absent,
    Nil,
    List(Vec<LinkId>),
    Wrong(JsonPath),
}

/// Which member of the root is open (depth 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    Deleted,
    State,
    Ids,
    Other,
}

/// Text of one value, bounded; `bad` when it held elements, was nil or grew too long.
#[derive(Debug, Default)]
struct ValueText {
    text: String,
    bad: bool,
}

impl ValueText {
    fn nil() -> Self {
        Self {
            text: String::new(),
            bad: true,
        }
    }

    fn push(&mut self, s: &str) {
        if self.bad {
            return;
        }
        if self.text.len() + s.len() > MAX_XML_VALUE_BYTES {
            self.bad = true;
            self.text.clear();
            return;
        }
        self.text.push_str(s);
    }

    fn trimmed(&self) -> Option<&str> {
        (!self.bad).then(|| trim_xml(&self.text))
    }
}

/// The `ids` element being read.
#[derive(Debug, Default)]
struct IdsReader {
    ids: Vec<LinkId>,
    count: usize,
    /// Non-white-space text directly inside `ids`.
    bad_self: bool,
    first_bad: Option<usize>,
    item: Option<ValueText>,
}

/// The open member and what has been read of it.
#[derive(Debug)]
struct Open {
    member: Member,
    nil: bool,
    value: ValueText,
    ids: IdsReader,
}

#[derive(Debug, Default)]
struct XmlBody {
    deleted: Slot<bool>,
    state: Slot<bool>,
    ids: IdsSlot,
}

fn malformed() -> RequestError {
    RequestError::Body(BodyError::Malformed)
}

fn trim_xml(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// xs:boolean: `true`, `false`, `1`, `0`, white space around it ignored.
fn xs_boolean(s: &str) -> Option<bool> {
    match trim_xml(s) {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Whether `c` may appear in an XML 1.0 document (the `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Resolves `&name;`: only the five predefined entities and character references exist
/// for this reader; anything else (a DTD-declared entity) makes the body malformed.
fn resolve_reference(name: &str) -> Result<char, RequestError> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#').ok_or_else(malformed)?;
            let code = match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => number.parse::<u32>(),
            }
            .map_err(|_| malformed())?;
            char::from_u32(code).ok_or_else(malformed)?
        }
    };
    if !is_xml_char(c) {
        return Err(malformed());
    }
    Ok(c)
}

/// Checks every attribute (syntax, duplicates, references) and tells whether the element
/// carries `nil="true"` (the data contract's `i:nil`, matched by local name).
fn attributes_nil(start: &BytesStart<'_>) -> Result<bool, RequestError> {
    let mut nil = false;
    for attr in start.attributes() {
        let attr = attr.map_err(|_| malformed())?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|_| malformed())?;
        if !value.chars().all(is_xml_char) {
            return Err(malformed());
        }
        if attr.key.local_name().as_ref() == "nil" && xs_boolean(&value) == Some(true) {
            nil = true;
        }
    }
    Ok(nil)
}

impl XmlBody {
    fn close(&mut self, open: Open) {
        match open.member {
            Member::Deleted | Member::State => {
                let slot = if open.nil {
                    Slot::Nil
                } else {
                    match open.value.trimmed().and_then(xs_boolean) {
                        Some(b) => Slot::Value(b),
                        None => Slot::Wrong,
                    }
                };
                if open.member == Member::Deleted {
                    self.deleted = slot;
                } else {
                    self.state = slot;
                }
            }
            Member::Ids => {
                let ids = open.ids;
                self.ids = if open.nil {
                    IdsSlot::Nil
                } else if ids.bad_self {
                    IdsSlot::Wrong(JsonPath::root(IDS))
                } else if let Some(i) = ids.first_bad {
                    IdsSlot::Wrong(JsonPath::root(IDS).index(i))
                } else {
                    IdsSlot::List(ids.ids)
                };
            }
            Member::Other => {}
        }
    }

    fn finish(self) -> Result<DeleteOrRestore, RequestError> {
        let deleted = match self.deleted {
            Slot::Absent | Slot::Nil => return Err(missing(DELETED)),
            Slot::Wrong => return Err(wrong_type(JsonPath::root(DELETED))),
            Slot::Value(b) => b,
        };
        let state = match self.state {
            Slot::Absent | Slot::Nil => None,
            Slot::Wrong => return Err(wrong_type(JsonPath::root(STATE))),
            Slot::Value(b) => Some(b),
        };
        let ids = match self.ids {
            IdsSlot::Absent | IdsSlot::Nil => return Err(missing(IDS)),
            IdsSlot::Wrong(path) => return Err(wrong_type(path)),
            IdsSlot::List(ids) => ids,
        };
        DeleteOrRestore::checked(ids, deleted, state)
    }
}

/// The streaming state of the XML reader.
struct XmlParser {
    max_items: usize,
    /// Elements currently open.
    depth: usize,
    root_seen: bool,
    root_closed: bool,
    open: Option<Open>,
    body: XmlBody,
}

impl XmlParser {
    fn start(&mut self, start: &BytesStart<'_>) -> Result<(), RequestError> {
        let depth = self.depth + 1;
        if depth > MAX_XML_DEPTH || self.root_closed {
            return Err(malformed());
        }
        let nil = attributes_nil(start)?;
        let name = start.local_name();
        let name: &str = name.as_ref();
        match depth {
            1 => {
                if name != XML_ROOT {
                    return Err(malformed());
                }
                self.root_seen = true;
            }
            2 => {
                let member = match name {
                    DELETED => Member::Deleted,
                    STATE => Member::State,
                    IDS => Member::Ids,
                    _ => Member::Other,
                };
                self.open = Some(Open {
                    member,
                    nil,
                    value: ValueText::default(),
                    ids: IdsReader::default(),
                });
            }
            _ => match self.open.as_mut() {
                Some(Open {
                    member: Member::Ids,
                    ids,
                    ..
                }) => {
                    if depth == 3 {
                        ids.count += 1;
                        if ids.count > self.max_items {
                            return Err(RequestError::TooManyItems {
                                max: self.max_items,
                            });
                        }
                        ids.item = Some(if nil {
                            ValueText::nil()
                        } else {
                            ValueText::default()
                        });
                    } else if let Some(item) = ids.item.as_mut() {
                        item.bad = true;
                    }
                }
                Some(Open {
                    member: Member::Deleted | Member::State,
                    value,
                    ..
                }) => value.bad = true,
                _ => {}
            },
        }
        self.depth = depth;
        Ok(())
    }

    fn end(&mut self) -> Result<(), RequestError> {
        match self.depth {
            0 => return Err(malformed()),
            1 => self.root_closed = true,
            2 => {
                if let Some(open) = self.open.take() {
                    self.body.close(open);
                }
            }
            3 => {
                if let Some(Open {
                    member: Member::Ids,
                    ids,
                    ..
                }) = self.open.as_mut()
                    && let Some(item) = ids.item.take()
                {
                    let parsed = item.trimmed().and_then(|s| uuid::Uuid::try_parse(s).ok());
                    match parsed {
                        Some(id) if ids.first_bad.is_none() => ids.ids.push(LinkId::from(id)),
                        Some(_) => {}
                        None => {
                            if ids.first_bad.is_none() {
                                ids.first_bad = Some(ids.count - 1);
                                ids.ids = Vec::new();
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        self.depth -= 1;
        Ok(())
    }

    /// Character data (already unescaped) at the current depth.
    fn text(&mut self, s: &str) -> Result<(), RequestError> {
        let blank = trim_xml(s).is_empty();
        if !s.chars().all(is_xml_char) {
            return Err(malformed());
        }
        if self.depth == 0 {
            return if blank { Ok(()) } else { Err(malformed()) };
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        match (open.member, self.depth) {
            (Member::Deleted | Member::State, 2) => open.value.push(s),
            (Member::Ids, 2) if !blank => open.ids.bad_self = true,
            (Member::Ids, 3) => {
                if let Some(item) = open.ids.item.as_mut() {
                    item.push(s);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads an XML body, refusing more than `max_items` ids while reading.
pub(super) fn parse(body: &[u8], max_items: usize) -> Result<DeleteOrRestore, RequestError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().enable_all_checks(true);
    let mut parser = XmlParser {
        max_items,
        depth: 0,
        root_seen: false,
        root_closed: false,
        open: None,
        body: XmlBody::default(),
    };
    let mut first = true;
    loop {
        let event = reader.read_event().map_err(|_| malformed())?;
        match event {
            Event::Decl(_) if !first => return Err(malformed()),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            // No DTD is ever read: this refuses external entities and entity expansion bombs.
            Event::DocType(_) => return Err(malformed()),
            Event::Start(e) => parser.start(&e)?,
            Event::Empty(e) => {
                parser.start(&e)?;
                parser.end()?;
            }
            Event::End(_) => parser.end()?,
            Event::Text(t) => parser.text(&t)?,
            Event::CData(c) => {
                if parser.depth == 0 {
                    return Err(malformed());
                }
                parser.text(&c)?;
            }
            Event::GeneralRef(r) => {
                if parser.depth == 0 {
                    return Err(malformed());
                }
                let c = resolve_reference(&r)?;
                parser.text(c.encode_utf8(&mut [0; 4]))?;
            }
            Event::Eof => break,
        }
        first = false;
    }
    if !parser.root_seen || !parser.root_closed || parser.depth != 0 {
        return Err(malformed());
    }
    parser.body.finish()
}
