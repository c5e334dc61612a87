//! SCIM `filter` (RFC 7644 §3.4.2.2), the part identity providers send: `eq` tests joined
//! by `and`, over `userName`, `externalId`, `id`, `active` and the work e-mail (Entra's
//! `emails[type eq "work"].value eq "…"`, outside the RFC grammar, and `emails.value`).
//! Anything else is refused as `invalidFilter`, as are filters longer, deeper or with
//! more terms than small limits, before any work.

use std::fmt;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 1024;
/// The most `eq` tests one filter may join.
pub const MAX_TERMS: usize = 8;
/// The deepest nesting of parentheses accepted.
pub const MAX_DEPTH: usize = 4;

/// An attribute a filter may test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// `userName` (compared without regard to case).
    UserName,
    /// `externalId` (exact).
    ExternalId,
    /// `id` (the user's `link_id`).
    Id,
    /// `active`.
    Active,
    /// The work e-mail: `emails[type eq "work"].value` or `emails.value` (exact).
    Email,
}

/// A value a filter compares with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    /// A JSON string.
    Text(String),
    /// `true` or `false`.
    Flag(bool),
    /// `null`.
    Null,
}

/// One `attribute eq value` test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    /// What is tested.
    pub attribute: Attribute,
    /// What it must equal.
    pub value: Literal,
}

/// A parsed filter: every test must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScimFilter {
    /// The tests, in the order written.
    pub tests: Vec<Test>,
}

/// Why a filter is refused (`invalidFilter`); the text is the SCIM error's `detail`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Longer than [`MAX_FILTER_BYTES`].
    #[error("The filter is longer than {MAX_FILTER_BYTES} bytes")]
    TooLong,
    /// More than [`MAX_TERMS`] tests.
    #[error("The filter has more than {MAX_TERMS} terms")]
    TooManyTerms,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("The filter is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// An attribute this service cannot filter on.
    #[error(
        "Filtering on `{0}` is not supported (userName, externalId, id, active, emails[type eq \"work\"].value)"
    )]
    Attribute(String),
    /// An operator other than `eq` and `and`.
    #[error("The operator `{0}` is not supported (eq, and)")]
    Operator(String),
    /// Not a filter at all.
    #[error("The filter is malformed: {0}")]
    Syntax(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

fn tokens(s: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                // A JSON string: find its end, then let serde_json read the escapes.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (j, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let end = end.ok_or(FilterError::Syntax("a string is not closed"))?;
                let text: String = serde_json::from_str(&s[i..=end])
                    .map_err(|_| FilterError::Syntax("a string is not valid JSON"))?;
                out.push(Token::Text(text));
            }
            _ => {
                // A word: an attribute path (with an Entra value filter in brackets), an
                // operator or a literal.
                let mut end = s.len();
                let mut depth = 0usize;
                let mut in_string = false;
                let mut escaped = false;
                for (j, c) in s[i..].char_indices() {
                    let j = i + j;
                    if in_string {
                        if escaped {
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == '"' {
                            in_string = false;
                        }
                        continue;
                    }
                    match c {
                        '"' if depth > 0 => in_string = true,
                        '[' => depth += 1,
                        ']' => depth = depth.saturating_sub(1),
                        c if depth == 0 && (c.is_whitespace() || c == '(' || c == ')') => {
                            end = j;
                            break;
                        }
                        '"' => return Err(FilterError::Syntax("a quote inside a word")),
                        _ => {}
                    }
                }
                if in_string || depth > 0 {
                    return Err(FilterError::Syntax("a bracket is not closed"));
                }
                out.push(Token::Word(s[i..end].to_owned()));
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            }
        }
    }
    Ok(out)
}

fn attribute(path: &str) -> Result<Attribute, FilterError> {
    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:user:";
    let lower = path.to_ascii_lowercase();
    let plain = lower.strip_prefix(CORE).unwrap_or(&lower);
    let compact: String = plain.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.as_str() {
        "username" => Ok(Attribute::UserName),
        "externalid" => Ok(Attribute::ExternalId),
        "id" => Ok(Attribute::Id),
        "active" => Ok(Attribute::Active),
        "emails.value" | "emails" | "emails[typeeq\"work\"].value" => Ok(Attribute::Email),
        _ => Err(FilterError::Attribute(path.to_owned())),
    }
}

impl ScimFilter {
    /// Parses a filter.
    pub fn parse(s: &str) -> Result<Self, FilterError> {
        if s.len() > MAX_FILTER_BYTES {
            return Err(FilterError::TooLong);
        }
        let tokens = tokens(s)?;
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            tests: Vec::new(),
        };
        parser.conjunction(0)?;
        if parser.at != tokens.len() {
            return Err(match &tokens[parser.at] {
                Token::Word(w) if w.eq_ignore_ascii_case("or") => FilterError::Operator(w.clone()),
                Token::Close => FilterError::Syntax("a parenthesis is not opened"),
                _ => FilterError::Syntax("unexpected text after a term"),
            });
        }
        if parser.tests.is_empty() {
            return Err(FilterError::Syntax("empty"));
        }
        Ok(Self {
            tests: parser.tests,
        })
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    tests: Vec<Test>,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.at);
        self.at += 1;
        t
    }

    fn conjunction(&mut self, depth: usize) -> Result<(), FilterError> {
        if depth > MAX_DEPTH {
            return Err(FilterError::TooDeep);
        }
        self.term(depth)?;
        while let Some(Token::Word(w)) = self.tokens.get(self.at) {
            if !w.eq_ignore_ascii_case("and") {
                break;
            }
            self.at += 1;
            self.term(depth)?;
        }
        Ok(())
    }

    fn term(&mut self, depth: usize) -> Result<(), FilterError> {
        match self.next().cloned() {
            Some(Token::Open) => {
                self.conjunction(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(()),
                    _ => Err(FilterError::Syntax("a parenthesis is not closed")),
                }
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("not") => Err(FilterError::Operator(w)),
            Some(Token::Word(path)) => {
                let op = match self.next() {
                    Some(Token::Word(op)) => op.clone(),
                    _ => return Err(FilterError::Syntax("an attribute without an operator")),
                };
                if !op.eq_ignore_ascii_case("eq") {
                    return Err(FilterError::Operator(op));
                }
                let value = match self.next() {
                    Some(Token::Text(t)) => Literal::Text(t.clone()),
                    Some(Token::Word(w)) if w == "true" => Literal::Flag(true),
                    Some(Token::Word(w)) if w == "false" => Literal::Flag(false),
                    Some(Token::Word(w)) if w == "null" => Literal::Null,
                    _ => return Err(FilterError::Syntax("a comparison without a value")),
                };
                let attribute = attribute(&path)?;
                if self.tests.len() == MAX_TERMS {
                    return Err(FilterError::TooManyTerms);
                }
                self.tests.push(Test { attribute, value });
                Ok(())
            }
            _ => Err(FilterError::Syntax("expected a comparison")),
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Attribute::UserName => "userName",
            Attribute::ExternalId => "externalId",
            Attribute::Id => "id",
            Attribute::Active => "active",
            Attribute::Email => "emails[type eq \"work\"].value",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(attribute: Attribute, value: &str) -> ScimFilter {
        ScimFilter {
            tests: vec![Test {
                attribute,
                value: Literal::Text(value.into()),
            }],
        }
    }

    #[test]
    fn what_entra_and_okta_send_parses() {
        assert_eq!(
            ScimFilter::parse(r#"userName eq "5ad33a8b-7f3e-4d2d-9e4b-0d6d2a6e1b11""#).unwrap(),
            one(Attribute::UserName, "5ad33a8b-7f3e-4d2d-9e4b-0d6d2a6e1b11")
        );
        assert_eq!(
            ScimFilter::parse(r#"externalId eq "E-100""#).unwrap(),
            one(Attribute::ExternalId, "E-100")
        );
        assert_eq!(
            ScimFilter::parse(r#"emails[type eq "work"].value eq "ann@x.io""#).unwrap(),
            one(Attribute::Email, "ann@x.io")
        );
        assert_eq!(
            ScimFilter::parse(r#"USERNAME EQ "ANN@X.IO""#).unwrap(),
            one(Attribute::UserName, "ANN@X.IO")
        );
        let f = ScimFilter::parse(r#"userName eq "a \"q\" b" and (active eq true and id eq "x")"#)
            .unwrap();
        assert_eq!(f.tests.len(), 3);
        assert_eq!(f.tests[0].value, Literal::Text("a \"q\" b".into()));
        assert_eq!(f.tests[1].value, Literal::Flag(true));
        assert_eq!(f.tests[2].attribute, Attribute::Id);
        assert_eq!(
            ScimFilter::parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#)
                .unwrap(),
            one(Attribute::UserName, "a")
        );
    }

    #[test]
    fn anything_else_is_an_invalid_filter() {
        let cases = [
            (r#"userName ne "a""#, FilterError::Operator("ne".into())),
            (r#"userName co "a""#, FilterError::Operator("co".into())),
            (
                r#"userName eq "a" or userName eq "b""#,
                FilterError::Operator("or".into()),
            ),
            (
                r#"not (userName eq "a")"#,
                FilterError::Operator("not".into()),
            ),
            (r#"title eq "a""#, FilterError::Attribute("title".into())),
            (
                r#"userName eq"#,
                FilterError::Syntax("a comparison without a value"),
            ),
            (
                r#"userName eq "a"#,
                FilterError::Syntax("a string is not closed"),
            ),
            (
                r#"(userName eq "a""#,
                FilterError::Syntax("a parenthesis is not closed"),
            ),
            (
                r#"userName eq "a")"#,
                FilterError::Syntax("a parenthesis is not opened"),
            ),
            ("", FilterError::Syntax("expected a comparison")),
            (r#"userName pr"#, FilterError::Operator("pr".into())),
        ];
        for (filter, expected) in cases {
            assert_eq!(ScimFilter::parse(filter), Err(expected), "{filter}");
        }
    }

    #[test]
    fn size_depth_and_terms_are_limited() {
        let deep = format!("{}userName eq \"a\"{}", "(".repeat(6), ")".repeat(6));
        assert_eq!(ScimFilter::parse(&deep), Err(FilterError::TooDeep));
        let many = [r#"id eq "a""#; MAX_TERMS + 1].join(" and ");
        assert_eq!(ScimFilter::parse(&many), Err(FilterError::TooManyTerms));
        let huge = vec![r#"id eq "a""#; 10_000].join(" and ");
        assert_eq!(ScimFilter::parse(&huge), Err(FilterError::TooLong));
        let ok = [r#"id eq "a""#; MAX_TERMS].join(" and ");
        assert_eq!(ScimFilter::parse(&ok).unwrap().tests.len(), MAX_TERMS);
    }
}
