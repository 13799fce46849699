//! Meilisearch filter expressions: parser and evaluator.
//!
//! Grammar (keywords case-insensitive, values bare words or `'…'`/`"…"` strings with `\` escapes):
//!
//! ```text
//! expression := and ("OR" and)*
//! and        := not ("AND" not)*
//! not        := "NOT" not | "(" expression ")" | condition
//! condition  := attribute ( ("=" | "!=" | ">" | ">=" | "<" | "<=") value
//!                         | value "TO" value
//!                         | ["NOT"] "IN" "[" value ("," value)* "]"
//!                         | ["NOT"] "EXISTS"
//!                         | "IS" ["NOT"] ("NULL" | "EMPTY") )
//! ```
//!
//! The JSON form is Meilisearch's: a string, or an array whose items are ANDed, each a string or an
//! array of strings ORed. Evaluation follows Meilisearch: `=` compares strings case-insensitively
//! and numbers numerically (`1` matches `1` and `1.0`; booleans compare as `true`/`false`);
//! comparisons and `TO` are numeric (or lexicographic when the value is not a number); an
//! array-valued attribute matches when any element does; `!=`, `NOT IN` and `NOT EXISTS` are the
//! complements over all documents (documents without the attribute included). Geo filters are not
//! supported (syntax error).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::fields::{leaves, lookup};
use super::settings::covers;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    /// Every one matches.
    And(Vec<Filter>),
    /// At least one matches.
    Or(Vec<Filter>),
    /// The filter does not match.
    Not(Box<Filter>),
    /// A test on one attribute.
    Condition {
        /// The attribute path, e.g. `genre` or `author.name`.
        attribute: String,
        /// What is tested.
        test: Test,
    },
}

/// The test of a condition on an attribute's values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Test {
    /// `=`, `>`, `>=`, `<`, `<=` with a value.
    Compare(Operator, String),
    /// `from TO to`, both included.
    Between(String, String),
    /// `IN [..]`: equal to one of the values.
    In(Vec<String>),
    /// `EXISTS`: the attribute is present (even `null`).
    Exists,
    /// `IS NULL`: the attribute is `null`.
    IsNull,
    /// `IS EMPTY`: the attribute is `""`, `[]` or `{}`.
    IsEmpty,
}

/// A comparison operator (`!=` is parsed as `NOT =`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operator {
    Equal,
    Greater,
    GreaterOrEqual,
    Lower,
    LowerOrEqual,
}

/// Parses a JSON filter (`null`, a string, or an array of strings and arrays of strings). With
/// `filterable`, every attribute must be covered by one of those patterns. The error is the
/// message Meilisearch would give (without its code: the caller knows whether it is a search or
/// a documents filter). `Ok(None)`: no filter (null, blank or empty).
pub(crate) fn parse(
    value: &Value,
    filterable: Option<&[String]>,
) -> Result<Option<Filter>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(source) => parse_expression(source, filterable),
        Value::Array(items) => {
            let mut all = Vec::new();
            for item in items {
                match item {
                    Value::String(source) => all.extend(parse_expression(source, filterable)?),
                    Value::Array(inner) => {
                        let mut any = Vec::new();
                        for alternative in inner {
                            let Value::String(source) = alternative else {
                                return Err(shape_error(alternative));
                            };
                            any.extend(parse_expression(source, filterable)?);
                        }
                        if !any.is_empty() {
                            all.push(Filter::Or(any));
                        }
                    }
                    other => return Err(shape_error(other)),
                }
            }
            Ok(if all.is_empty() {
                None
            } else {
                Some(Filter::And(all))
            })
        }
        other => Err(shape_error(other)),
    }
}

fn shape_error(value: &Value) -> String {
    format!("Invalid syntax for the filter parameter: `expected String, Array, found: {value}`.")
}

/// Parses one string expression (`Ok(None)` when blank).
fn parse_expression(source: &str, filterable: Option<&[String]>) -> Result<Option<Filter>, String> {
    if source.trim().is_empty() {
        return Ok(None);
    }
    let render = |error: SyntaxError| {
        format!(
            "{}\n{}:{} {source}",
            error.message,
            error.start + 1,
            error.end + 1
        )
    };
    let tokens = lex(source).map_err(render)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        filterable,
        end: source.chars().count(),
        depth: 0,
    };
    let filter = parser.parse_or().map_err(render)?;
    if let Some(extra) = parser.tokens.get(parser.position) {
        let rest: String = source.chars().skip(extra.start).collect();
        return Err(render(SyntaxError {
            message: format!(
                "Found unexpected characters at the end of the filter: `{rest}`. You probably \
                 forgot an `OR` or an `AND` rule."
            ),
            start: extra.start,
            end: parser.end,
        }));
    }
    Ok(Some(filter))
}

/// A syntax error at characters `start..end` of the expression.
struct SyntaxError {
    message: String,
    start: usize,
    end: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
    NotEqual,
    Operator(Operator),
    Word { text: String, quoted: bool },
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Token {
    fn text(&self) -> String {
        match &self.kind {
            Kind::Open => "(".into(),
            Kind::Close => ")".into(),
            Kind::OpenBracket => "[".into(),
            Kind::CloseBracket => "]".into(),
            Kind::Comma => ",".into(),
            Kind::NotEqual => "!=".into(),
            Kind::Operator(Operator::Equal) => "=".into(),
            Kind::Operator(Operator::Greater) => ">".into(),
            Kind::Operator(Operator::GreaterOrEqual) => ">=".into(),
            Kind::Operator(Operator::Lower) => "<".into(),
            Kind::Operator(Operator::LowerOrEqual) => "<=".into(),
            Kind::Word { text, .. } => text.clone(),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, Kind::Word { text, quoted: false } if text.eq_ignore_ascii_case(keyword))
    }
}

fn is_word_char(character: char) -> bool {
    !character.is_whitespace() && !"()[],=!<>'\"".contains(character)
}

fn lex(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while let Some(&character) = chars.get(index) {
        let start = index;
        let next = chars.get(index + 1).copied();
        let (kind, length) = match character {
            c if c.is_whitespace() => {
                index += 1;
                continue;
            }
            '(' => (Kind::Open, 1),
            ')' => (Kind::Close, 1),
            '[' => (Kind::OpenBracket, 1),
            ']' => (Kind::CloseBracket, 1),
            ',' => (Kind::Comma, 1),
            '=' => (Kind::Operator(Operator::Equal), 1),
            '!' if next == Some('=') => (Kind::NotEqual, 2),
            '>' if next == Some('=') => (Kind::Operator(Operator::GreaterOrEqual), 2),
            '>' => (Kind::Operator(Operator::Greater), 1),
            '<' if next == Some('=') => (Kind::Operator(Operator::LowerOrEqual), 2),
            '<' => (Kind::Operator(Operator::Lower), 1),
            '\'' | '"' => {
                let (text, length) = quoted(&chars[index..], character).ok_or_else(|| {
                    let rest: String = chars[index..].iter().collect();
                    SyntaxError {
                        message: format!(
                            "Expression `{rest}` is missing the following closing delimiter: \
                             `{character}`."
                        ),
                        start,
                        end: chars.len(),
                    }
                })?;
                (Kind::Word { text, quoted: true }, length)
            }
            c if is_word_char(c) => {
                let length = chars[index..]
                    .iter()
                    .take_while(|c| is_word_char(**c))
                    .count();
                let text = chars[index..index + length].iter().collect();
                (
                    Kind::Word {
                        text,
                        quoted: false,
                    },
                    length,
                )
            }
            other => {
                return Err(SyntaxError {
                    message: format!("Found unexpected character `{other}`."),
                    start,
                    end: start + 1,
                });
            }
        };
        index += length;
        tokens.push(Token {
            kind,
            start,
            end: index,
        });
    }
    Ok(tokens)
}

/// The text of the string starting with `quote` at `chars[0]` and the characters it spans
/// (quotes included); `None` if unterminated.
fn quoted(chars: &[char], quote: char) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut index = 1;
    while let Some(&character) = chars.get(index) {
        if character == '\\' {
            text.push(*chars.get(index + 1)?);
            index += 2;
        } else if character == quote {
            return Some((text, index + 1));
        } else {
            text.push(character);
            index += 1;
        }
    }
    None
}

const OPERATIONS: &str = "`=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, \
                          `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, \
                          `_geoRadius`, or `_geoBoundingBox`";

/// How deeply `NOT`s and parentheses may nest (Meilisearch's limit too): deeper filters are
/// refused instead of exhausting the stack.
const MAX_DEPTH: usize = 200;

struct Parser<'a> {
    tokens: Vec<Token>,
    position: usize,
    filterable: Option<&'a [String]>,
    end: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|token| token.is_keyword(keyword))
    }

    fn nothing(&self) -> SyntaxError {
        SyntaxError {
            message: "Was expecting a value but instead got nothing.".into(),
            start: self.end,
            end: self.end,
        }
    }

    fn parse_or(&mut self) -> Result<Filter, SyntaxError> {
        let mut any = vec![self.parse_and()?];
        while self.peek_keyword("OR") {
            self.position += 1;
            any.push(self.parse_and()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Filter::Or(any)
        })
    }

    fn parse_and(&mut self) -> Result<Filter, SyntaxError> {
        let mut all = vec![self.parse_not()?];
        while self.peek_keyword("AND") {
            self.position += 1;
            all.push(self.parse_not()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn parse_not(&mut self) -> Result<Filter, SyntaxError> {
        self.depth += 1;
        let parsed = self.parse_nested();
        self.depth -= 1;
        parsed
    }

    /// `NOT …`, `( … )` or a condition, at nesting depth `self.depth`.
    fn parse_nested(&mut self) -> Result<Filter, SyntaxError> {
        if self.depth > MAX_DEPTH {
            let start = self.peek().map_or(self.end, |token| token.start);
            return Err(SyntaxError {
                message: "The filter exceeded the maximum depth limit. Try rewriting the filter \
                          so that it contains fewer nested conditions."
                    .into(),
                start,
                end: self.end,
            });
        }
        if self.peek_keyword("NOT") {
            self.position += 1;
            return Ok(Filter::Not(Box::new(self.parse_not()?)));
        }
        let Some(token) = self.peek().cloned() else {
            return Err(self.nothing());
        };
        match token.kind {
            Kind::Open => {
                self.position += 1;
                let inner = self.parse_or()?;
                match self.next() {
                    Some(Token {
                        kind: Kind::Close, ..
                    }) => Ok(inner),
                    _ => Err(SyntaxError {
                        message: "Expression is missing the following closing delimiter: `)`."
                            .into(),
                        start: token.start,
                        end: self.end,
                    }),
                }
            }
            Kind::Word { .. } => self.parse_condition(),
            _ => Err(SyntaxError {
                message: format!("Was expecting a value but instead got `{}`.", token.text()),
                start: token.start,
                end: token.end,
            }),
        }
    }

    fn parse_condition(&mut self) -> Result<Filter, SyntaxError> {
        let Some(attribute_token) = self.next() else {
            return Err(self.nothing());
        };
        let attribute = attribute_token.text();
        if ["AND", "OR", "TO"]
            .iter()
            .any(|keyword| attribute_token.is_keyword(keyword))
        {
            return Err(SyntaxError {
                message: format!("Was expecting a value but instead got `{attribute}`."),
                start: attribute_token.start,
                end: attribute_token.end,
            });
        }
        self.check_filterable(&attribute, &attribute_token)?;
        let condition = |test| Filter::Condition {
            attribute: attribute.clone(),
            test,
        };
        let operation_error = |token: &Token| SyntaxError {
            message: format!("Was expecting an operation {OPERATIONS} at `{attribute}`."),
            start: attribute_token.start,
            end: token.end,
        };
        let Some(token) = self.next() else {
            return Err(operation_error(&attribute_token));
        };
        let filter = match &token.kind {
            Kind::Operator(operator) => condition(Test::Compare(*operator, self.parse_value()?)),
            Kind::NotEqual => Filter::Not(Box::new(condition(Test::Compare(
                Operator::Equal,
                self.parse_value()?,
            )))),
            Kind::Word { .. } if token.is_keyword("IN") => condition(Test::In(self.parse_list()?)),
            Kind::Word { .. } if token.is_keyword("EXISTS") => condition(Test::Exists),
            Kind::Word { .. } if token.is_keyword("NOT") => match self.next() {
                Some(next) if next.is_keyword("IN") => {
                    Filter::Not(Box::new(condition(Test::In(self.parse_list()?))))
                }
                Some(next) if next.is_keyword("EXISTS") => {
                    Filter::Not(Box::new(condition(Test::Exists)))
                }
                _ => return Err(operation_error(&token)),
            },
            Kind::Word { .. } if token.is_keyword("IS") => {
                let negated = self.peek_keyword("NOT");
                if negated {
                    self.position += 1;
                }
                let test = match self.next() {
                    Some(next) if next.is_keyword("NULL") => Test::IsNull,
                    Some(next) if next.is_keyword("EMPTY") => Test::IsEmpty,
                    _ => return Err(operation_error(&token)),
                };
                if negated {
                    Filter::Not(Box::new(condition(test)))
                } else {
                    condition(test)
                }
            }
            Kind::Word { text, .. } if self.peek_keyword("TO") => {
                let from = text.clone();
                self.position += 1;
                condition(Test::Between(from, self.parse_value()?))
            }
            _ => return Err(operation_error(&token)),
        };
        Ok(filter)
    }

    fn check_filterable(&self, attribute: &str, token: &Token) -> Result<(), SyntaxError> {
        let Some(filterable) = self.filterable else {
            return Ok(());
        };
        if covers(filterable, attribute) {
            return Ok(());
        }
        let available = if filterable.is_empty() {
            "This index does not have configured filterable attributes.".to_owned()
        } else {
            format!(
                "Available filterable attributes are: `{}`.",
                filterable.join(", ")
            )
        };
        Err(SyntaxError {
            message: format!("Attribute `{attribute}` is not filterable. {available}"),
            start: token.start,
            end: token.end,
        })
    }

    fn parse_value(&mut self) -> Result<String, SyntaxError> {
        match self.next() {
            Some(Token {
                kind: Kind::Word { text, quoted },
                start,
                end,
            }) => {
                let is_keyword = !quoted
                    && ["AND", "OR", "TO"]
                        .iter()
                        .any(|keyword| text.eq_ignore_ascii_case(keyword));
                if is_keyword {
                    return Err(SyntaxError {
                        message: format!("Was expecting a value but instead got `{text}`."),
                        start,
                        end,
                    });
                }
                Ok(text)
            }
            Some(token) => Err(SyntaxError {
                message: format!("Was expecting a value but instead got `{}`.", token.text()),
                start: token.start,
                end: token.end,
            }),
            None => Err(self.nothing()),
        }
    }

    fn parse_list(&mut self) -> Result<Vec<String>, SyntaxError> {
        let open = self.next();
        let start = open.as_ref().map_or(self.end, |token| token.start);
        if !matches!(
            open,
            Some(Token {
                kind: Kind::OpenBracket,
                ..
            })
        ) {
            return Err(SyntaxError {
                message: "Expected `[` after `IN` keyword.".into(),
                start,
                end: self.end,
            });
        }
        let mut values = Vec::new();
        loop {
            if matches!(
                self.peek(),
                Some(Token {
                    kind: Kind::CloseBracket,
                    ..
                })
            ) {
                self.position += 1;
                return Ok(values);
            }
            values.push(self.parse_value()?);
            match self.next() {
                Some(Token {
                    kind: Kind::Comma, ..
                }) => {}
                Some(Token {
                    kind: Kind::CloseBracket,
                    ..
                }) => return Ok(values),
                _ => {
                    return Err(SyntaxError {
                        message: "Expected matching `]` after the list of values.".into(),
                        start,
                        end: self.end,
                    });
                }
            }
        }
    }
}

impl Filter {
    /// Whether `document` passes the filter.
    pub(crate) fn matches(&self, document: &Map<String, Value>) -> bool {
        match self {
            Self::And(all) => all.iter().all(|filter| filter.matches(document)),
            Self::Or(any) => any.iter().any(|filter| filter.matches(document)),
            Self::Not(inner) => !inner.matches(document),
            Self::Condition { attribute, test } => {
                let values = lookup(document, attribute);
                match test {
                    Test::Exists => !values.is_empty(),
                    Test::IsNull => values.iter().any(|value| value.is_null()),
                    Test::IsEmpty => values.iter().any(|value| is_empty(value)),
                    Test::Compare(operator, text) => leaves(&values)
                        .iter()
                        .any(|leaf| compare_matches(leaf, *operator, text)),
                    Test::In(texts) => leaves(&values)
                        .iter()
                        .any(|leaf| texts.iter().any(|text| equals(leaf, text))),
                    Test::Between(from, to) => leaves(&values).iter().any(|leaf| {
                        compare_matches(leaf, Operator::GreaterOrEqual, from)
                            && compare_matches(leaf, Operator::LowerOrEqual, to)
                    }),
                }
            }
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(object) => object.is_empty(),
        _ => false,
    }
}

fn as_number(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

fn equals(leaf: &Value, text: &str) -> bool {
    match leaf {
        Value::String(value) => value.trim().to_lowercase() == text.trim().to_lowercase(),
        Value::Number(number) => number
            .as_f64()
            .zip(as_number(text))
            .is_some_and(|(value, wanted)| value == wanted),
        Value::Bool(value) => text.trim().eq_ignore_ascii_case(&value.to_string()),
        _ => false,
    }
}

fn compare_matches(leaf: &Value, operator: Operator, text: &str) -> bool {
    if operator == Operator::Equal {
        return equals(leaf, text);
    }
    let ordering = match (leaf, as_number(text)) {
        (Value::Number(number), Some(wanted)) => {
            number.as_f64().and_then(|value| value.partial_cmp(&wanted))
        }
        (Value::String(value), None) => Some(value.to_lowercase().cmp(&text.to_lowercase())),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match operator {
        Operator::Equal => ordering == Ordering::Equal,
        Operator::Greater => ordering == Ordering::Greater,
        Operator::GreaterOrEqual => ordering != Ordering::Less,
        Operator::Lower => ordering == Ordering::Less,
        Operator::LowerOrEqual => ordering != Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn check(filter: &str, value: Value) -> bool {
        match parse(&json!(filter), None) {
            Ok(Some(parsed)) => parsed.matches(&document(value)),
            other => panic!("{filter}: {other:?}"),
        }
    }

    #[test]
    fn operators() {
        let movie = json!({"id": 1, "genre": ["Horror", "Drama"], "year": 1999, "rating": 7.5,
                           "title": "The Ring", "seen": true, "sequel": null, "tags": []});
        assert!(check("genre = horror", movie.clone()));
        assert!(check("genre = 'Drama'", movie.clone()));
        assert!(!check("genre != horror", movie.clone()));
        assert!(check("year > 1998 AND year >= 1999", movie.clone()));
        assert!(check("rating < 8 AND rating <= 7.5", movie.clone()));
        assert!(check("year 1990 TO 2000", movie.clone()));
        assert!(!check("year 2000 TO 2010", movie.clone()));
        assert!(check("genre IN [comedy, horror]", movie.clone()));
        assert!(check("genre NOT IN [comedy]", movie.clone()));
        assert!(check("sequel EXISTS AND nope NOT EXISTS", movie.clone()));
        assert!(check("sequel IS NULL AND year IS NOT NULL", movie.clone()));
        assert!(check("tags IS EMPTY AND title IS NOT EMPTY", movie.clone()));
        assert!(check("seen = true AND id = \"1\"", movie.clone()));
        assert!(check("NOT (genre = comedy OR year < 1900)", movie.clone()));
        assert!(check("title = \"the ring\"", movie.clone()));
        assert!(check("genre = comedy OR year = 1999 AND rating > 7", movie));
    }

    #[test]
    fn array_form_ands_and_ors() {
        let parsed = parse(&json!(["a = 1", ["b = 2", "b = 3"]]), None);
        let Ok(Some(filter)) = parsed else {
            panic!("{parsed:?}")
        };
        assert!(filter.matches(&document(json!({"a": 1, "b": 3}))));
        assert!(!filter.matches(&document(json!({"a": 1, "b": 4}))));
        assert_eq!(parse(&json!([]), None), Ok(None));
        assert_eq!(parse(&json!("  "), None), Ok(None));
        assert!(parse(&json!(1), None).is_err());
        assert!(parse(&json!([[["a = 1"]]]), None).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}a = 1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&json!(deep), None).is_err());
        let nots = format!("{}a = 1", "NOT ".repeat(100_000));
        assert!(parse(&json!(nots), None).is_err());
        let fine = format!("{}a = 1{}", "(".repeat(50), ")".repeat(50));
        assert!(matches!(parse(&json!(fine), None), Ok(Some(_))));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let filterable = vec!["year".to_owned(), "id".to_owned()];
        assert_eq!(
            parse(&json!("genre = horror"), Some(&filterable)),
            Err(
                "Attribute `genre` is not filterable. Available filterable attributes are: \
                 `year, id`.\n1:6 genre = horror"
                    .to_owned()
            )
        );
        for bad in [
            "genre =",
            "genre",
            "genre horror",
            "(a = 1",
            "a = 1 b = 2",
            "a IN [1, 2",
            "a = 'x",
            "AND",
            "a ! b",
        ] {
            assert!(parse(&json!(bad), None).is_err(), "{bad}");
        }
    }
}
