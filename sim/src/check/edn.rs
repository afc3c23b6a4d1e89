//! Our own small EDN value reader (values are `value`, which also writes them as EDN).
//!
//! Jepsen writes histories in EDN. We read it without a dependency: the subset of EDN that
//! histories use is small, and owning the reader lets us promise what a dependency would not —
//! every malformed input becomes a typed [`ReadError`] with `line:column`, never a panic,
//! whatever the nesting depth, size or encoding of the input — and lets the history reader
//! (`jepsen`) stream: values are parsed from a [`Cursor`] over a window of the input, and a
//! value cut by the end of the window asks for more input instead of failing.
//!
//! Reading is a pure function of the bytes given.

use super::format::{ReadError, ReadErrorKind};
use super::source::{Cursor, Stop};
use super::value::{Position, Value};
use super::values::{ValueId, ValueTable, NIL};

/// How deep collections may nest before the reader refuses the input. Histories nest about
/// four levels; the bound exists so that `[[[[…` cannot exhaust the stack.
pub const NESTING_DEPTH_MAX: usize = 128;

/// Reads every top-level value of an EDN document, with the position where each starts.
pub fn read_values(text: &[u8]) -> Result<Vec<(Position, Value)>, ReadError> {
    let mut cursor = Cursor::over(text);
    let mut values = Vec::new();
    while skip_whitespace(&mut cursor).map_err(into_error)? {
        let position = cursor.position();
        if let Some(value) = parse_top_level(&mut cursor).map_err(into_error)? {
            values.push((position, value));
        }
    }
    Ok(values)
}

/// A cursor over a whole input never asks for more.
fn into_error(stop: Stop) -> ReadError {
    match stop {
        Stop::Error(error) => error,
        Stop::Incomplete => unreachable!("a cursor over the whole input never runs short"),
    }
}

/// Skips whitespace, commas and comments. True when a value follows, false at the end of the
/// input.
pub(super) fn skip_whitespace(cursor: &mut Cursor<'_>) -> Result<bool, Stop> {
    loop {
        match cursor.peek() {
            Some(b' ' | b'\t' | b'\r' | b',') => cursor.bump(),
            Some(b'\n') => cursor.newline(),
            Some(b';') => loop {
                match cursor.peek() {
                    Some(b'\n') => break,
                    Some(_) => cursor.bump(),
                    None if cursor.may_grow() => return Err(Stop::Incomplete),
                    None => break,
                }
            },
            Some(_) => return Ok(true),
            None if cursor.may_grow() || cursor.followed_by_invalid_utf8() => {
                return Err(cursor.end("a value"))
            }
            None => return Ok(false),
        }
    }
}

/// A top-level value; `None` for one discarded with `#_`.
pub(super) fn parse_top_level(cursor: &mut Cursor<'_>) -> Result<Option<Value>, Stop> {
    if cursor.peek() == Some(b'#') && cursor.peek_at(1) == Some(b'_') {
        cursor.bump();
        cursor.bump();
        skip_whitespace_in_value(cursor)?;
        parse_value(cursor, 1)?;
        return Ok(None);
    }
    parse_value(cursor, 0).map(Some)
}

/// Skips whitespace inside a value, where the end of the input is an error.
pub(super) fn skip_whitespace_in_value(cursor: &mut Cursor<'_>) -> Result<(), Stop> {
    if skip_whitespace(cursor)? {
        Ok(())
    } else {
        Err(cursor.end("a value"))
    }
}

/// Reads one value at the cursor (whitespace already skipped).
pub(super) fn parse_value(cursor: &mut Cursor<'_>, depth: usize) -> Result<Value, Stop> {
    if depth >= NESTING_DEPTH_MAX {
        return Err(cursor.error(ReadErrorKind::NestingTooDeep));
    }
    let Some(byte) = cursor.peek() else {
        return Err(cursor.end("a value"));
    };
    match byte {
        b'(' => parse_sequence(cursor, depth, b')').map(Value::List),
        b'[' => parse_sequence(cursor, depth, b']').map(Value::Vector),
        b'{' => parse_map(cursor, depth),
        b'"' => parse_string(cursor).map(Value::Str),
        b':' => parse_keyword(cursor).map(|name| Value::Keyword(name.into())),
        b'#' => parse_dispatch(cursor, depth),
        b'\\' => parse_character(cursor),
        b')' | b']' | b'}' => Err(unexpected(cursor)),
        _ => {
            let start = cursor.position();
            let token = read_token(cursor)?;
            if token.is_empty() {
                return Err(unexpected(cursor));
            }
            token_value(token).ok_or_else(|| {
                let kind = ReadErrorKind::InvalidNumber { token: token.to_string() };
                Stop::Error(ReadError { position: start, kind })
            })
        }
    }
}

/// A keyword at the cursor, without its colon; the name borrows the input.
pub(super) fn parse_keyword<'a>(cursor: &mut Cursor<'a>) -> Result<&'a str, Stop> {
    cursor.bump();
    let token = read_token(cursor)?;
    if token.is_empty() {
        return Err(unexpected(cursor));
    }
    Ok(token)
}

/// The error for the character at the cursor (or the end of the input).
pub(super) fn unexpected(cursor: &mut Cursor<'_>) -> Stop {
    match current_char(cursor) {
        None => cursor.end("a value"),
        Some(found) => cursor.error(ReadErrorKind::UnexpectedCharacter { found }),
    }
}

/// The character starting at the cursor, for error messages.
fn current_char(cursor: &Cursor<'_>) -> Option<char> {
    let rest = cursor.bytes.get(cursor.offset..).unwrap_or_default();
    let end = rest.len().min(4);
    (1..=end)
        .find_map(|length| std::str::from_utf8(&rest[..length]).ok())
        .and_then(|text| text.chars().next())
}

fn parse_character(cursor: &mut Cursor<'_>) -> Result<Value, Stop> {
    // A character literal, `\a` or `\newline`; histories hardly use them, so we keep them as
    // one-character strings.
    let start = cursor.position();
    cursor.bump();
    let token = read_token(cursor)?;
    let text = match token {
        "newline" => "\n",
        "space" => " ",
        "tab" => "\t",
        "return" => "\r",
        _ if token.chars().count() == 1 => token,
        "" => match current_char(cursor) {
            Some(c) => {
                for _ in 0..c.len_utf8() {
                    cursor.advance();
                }
                return Ok(Value::Str(c.to_string().into()));
            }
            None => return Err(cursor.end("a character")),
        },
        _ => {
            let kind = ReadErrorKind::UnexpectedCharacter { found: '\\' };
            return Err(Stop::Error(ReadError { position: start, kind }));
        }
    };
    Ok(Value::Str(text.into()))
}

fn parse_dispatch(cursor: &mut Cursor<'_>, depth: usize) -> Result<Value, Stop> {
    let start = cursor.position();
    cursor.bump();
    match cursor.peek() {
        Some(b'{') => parse_sequence(cursor, depth, b'}').map(Value::Set),
        Some(b'_') => {
            // A discarded value in a position that needs one: the next value stands in.
            cursor.bump();
            skip_whitespace_in_value(cursor)?;
            parse_value(cursor, depth + 1)?;
            skip_whitespace_in_value(cursor)?;
            parse_value(cursor, depth)
        }
        Some(b'#') => {
            cursor.bump();
            match read_token(cursor)? {
                "NaN" => Ok(Value::Float(f64::NAN)),
                "Inf" => Ok(Value::Float(f64::INFINITY)),
                "-Inf" => Ok(Value::Float(f64::NEG_INFINITY)),
                token => {
                    let kind = ReadErrorKind::InvalidNumber { token: format!("##{token}") };
                    Err(Stop::Error(ReadError { position: start, kind }))
                }
            }
        }
        Some(byte) if byte.is_ascii_alphabetic() => {
            // A tagged literal such as `#inst "…"` or `#jepsen.history.Op{…}`: the tag is
            // dropped and the value kept, which is what a history needs.
            read_token(cursor)?;
            skip_whitespace_in_value(cursor)?;
            parse_value(cursor, depth + 1)
        }
        None => Err(cursor.end("a value after '#'")),
        Some(_) => {
            let kind = ReadErrorKind::UnexpectedCharacter { found: '#' };
            Err(Stop::Error(ReadError { position: start, kind }))
        }
    }
}

/// The elements of a list, vector or set, up to the closing delimiter.
fn parse_sequence(cursor: &mut Cursor<'_>, depth: usize, close: u8) -> Result<Vec<Value>, Stop> {
    cursor.bump();
    let mut items = Vec::new();
    loop {
        if !skip_whitespace(cursor)? {
            let expected = match close {
                b')' => "')'",
                b']' => "']'",
                _ => "'}'",
            };
            return Err(cursor.end(expected));
        }
        match cursor.peek() {
            Some(byte) if byte == close => {
                cursor.bump();
                return Ok(items);
            }
            Some(byte @ (b')' | b']' | b'}')) => {
                let kind = ReadErrorKind::MismatchedDelimiter {
                    found: byte as char,
                    expected: close as char,
                };
                return Err(cursor.error(kind));
            }
            Some(b'#') if cursor.peek_at(1) == Some(b'_') => {
                // `#_` before the closing delimiter discards to nothing.
                cursor.bump();
                cursor.bump();
                skip_whitespace_in_value(cursor)?;
                parse_value(cursor, depth + 1)?;
            }
            _ => items.push(parse_value(cursor, depth + 1)?),
        }
    }
}

fn parse_map(cursor: &mut Cursor<'_>, depth: usize) -> Result<Value, Stop> {
    let open = cursor.position();
    let mut items = parse_sequence(cursor, depth, b'}')?;
    if items.len() % 2 != 0 {
        return Err(Stop::Error(ReadError { position: open, kind: ReadErrorKind::MapOddEntries }));
    }
    let mut entries = Vec::with_capacity(items.len() / 2);
    let mut drain = items.drain(..);
    while let (Some(key), Some(value)) = (drain.next(), drain.next()) {
        entries.push((key, value));
    }
    Ok(Value::Map(entries))
}

/// A string at the cursor, its escapes resolved.
pub(super) fn parse_string(cursor: &mut Cursor<'_>) -> Result<Box<str>, Stop> {
    let start = cursor.position();
    cursor.bump();
    let mut text = String::new();
    loop {
        let run_start = cursor.offset;
        while let Some(byte) = cursor.peek() {
            match byte {
                b'"' | b'\\' => break,
                b'\n' => cursor.newline(),
                _ => cursor.bump(),
            }
        }
        // The window is valid UTF-8 and the run ends at an ASCII byte or the window's end.
        text.push_str(std::str::from_utf8(&cursor.bytes[run_start..cursor.offset]).unwrap_or(""));
        match cursor.peek() {
            None => {
                return Err(match cursor.end("'\"'") {
                    Stop::Error(ReadError {
                        kind: ReadErrorKind::UnexpectedEnd { .. }, ..
                    }) => Stop::Error(ReadError {
                        position: start,
                        kind: ReadErrorKind::UnterminatedString,
                    }),
                    other => other,
                })
            }
            Some(b'"') => {
                cursor.bump();
                return Ok(text.into());
            }
            _ => {
                let escape = cursor.position();
                cursor.bump();
                let invalid = || {
                    Stop::Error(ReadError { position: escape, kind: ReadErrorKind::InvalidEscape })
                };
                let Some(byte) = cursor.peek() else {
                    return Err(match cursor.end("an escape") {
                        Stop::Incomplete => Stop::Incomplete,
                        _ => Stop::Error(ReadError {
                            position: start,
                            kind: ReadErrorKind::UnterminatedString,
                        }),
                    });
                };
                cursor.bump();
                match byte {
                    b'"' => text.push('"'),
                    b'\\' => text.push('\\'),
                    b'n' => text.push('\n'),
                    b't' => text.push('\t'),
                    b'r' => text.push('\r'),
                    b'b' => text.push('\u{8}'),
                    b'f' => text.push('\u{c}'),
                    b'u' => {
                        let Some(digits) = cursor.bytes.get(cursor.offset..cursor.offset + 4)
                        else {
                            return Err(match cursor.end("four hex digits") {
                                Stop::Incomplete => Stop::Incomplete,
                                _ => invalid(),
                            });
                        };
                        let digits = std::str::from_utf8(digits).map_err(|_| invalid())?;
                        let code = u32::from_str_radix(digits, 16).map_err(|_| invalid())?;
                        text.push(char::from_u32(code).ok_or_else(invalid)?);
                        for _ in 0..4 {
                            cursor.bump();
                        }
                    }
                    _ => return Err(invalid()),
                }
            }
        }
    }
}

/// The characters of a symbol, keyword name or number, borrowed from the input. A token that
/// reaches the end of the window may go on: then more input is needed.
pub(super) fn read_token<'a>(cursor: &mut Cursor<'a>) -> Result<&'a str, Stop> {
    let token = read_token_bytes(cursor)?;
    // Token bytes are ASCII or whole UTF-8 sequences of validated input.
    Ok(std::str::from_utf8(token).unwrap_or(""))
}

/// [`read_token`] as bytes, for callers that match it against ASCII names.
#[inline]
pub(super) fn read_token_bytes<'a>(cursor: &mut Cursor<'a>) -> Result<&'a [u8], Stop> {
    let start = cursor.offset;
    let bytes: &'a [u8] = cursor.bytes;
    let length = bytes[start..].iter().take_while(|&&byte| is_token_byte(byte)).count();
    cursor.offset = start + length;
    if cursor.offset == bytes.len() && cursor.may_grow() {
        return Err(Stop::Incomplete);
    }
    Ok(&bytes[start..cursor.offset])
}

/// Reads one value at the cursor straight into `values`: strings without escapes, integers and
/// `nil` are interned without building a [`Value`]; anything else is read as a value first.
pub(super) fn parse_interned(
    cursor: &mut Cursor<'_>,
    values: &mut ValueTable,
    depth: usize,
) -> Result<ValueId, Stop> {
    let bytes = cursor.bytes;
    let start = cursor.offset;
    match cursor.peek() {
        Some(b'"') => {
            let body = &bytes[start + 1..];
            let end = body.iter().position(|&byte| matches!(byte, b'"' | b'\\' | b'\n'));
            if let Some(end) = end {
                if body[end] == b'"' {
                    // The window is UTF-8 and the string ends at an ASCII quote.
                    if let Ok(text) = std::str::from_utf8(&body[..end]) {
                        cursor.offset = start + end + 2;
                        return Ok(values.intern_str(text));
                    }
                }
            }
        }
        Some(byte) if byte.is_ascii_digit() || byte == b'-' || byte == b'n' => {
            let token = read_token_bytes(cursor)?;
            if token == b"nil" {
                return Ok(NIL);
            }
            if let Some(integer) = parse_integer(token) {
                return Ok(values.intern_owned(Value::Int(integer)));
            }
            cursor.offset = start;
        }
        _ => {}
    }
    let value = parse_value(cursor, depth)?;
    Ok(values.intern_owned(value))
}

/// A plain decimal integer (no suffix), if the token is one that fits an `i64`.
#[inline]
pub(super) fn parse_integer(token: &[u8]) -> Option<i64> {
    let (negative, digits) = match token {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, token),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        // Longer numbers (and suffixed ones) take the general path, which checks overflow.
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |total, &digit| total * 10 + i64::from(digit - b'0'));
    Some(if negative { -magnitude } else { magnitude })
}

/// One event of the input, decoded from its map but not yet paired.
/// Which bytes may be part of a symbol, keyword name or number: ASCII letters and digits, the
/// punctuation EDN allows, and every byte of a non-ASCII character.
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || b >= 0x80
            || matches!(
                b,
                b'.' | b'*'
                    | b'+'
                    | b'!'
                    | b'-'
                    | b'_'
                    | b'?'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'='
                    | b'<'
                    | b'>'
                    | b'/'
                    | b'\''
                    | b':'
                    | b'#'
            );
        byte += 1;
    }
    table
};

#[inline]
fn is_token_byte(byte: u8) -> bool {
    TOKEN_BYTES[byte as usize]
}

/// The value a bare token stands for: `nil`, a boolean, a number or a symbol. `None` for a
/// token that starts like a number but is not one.
pub(super) fn token_value(token: &str) -> Option<Value> {
    match token {
        "nil" => return Some(Value::Nil),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let bytes = token.as_bytes();
    let starts_numeric = bytes.first().is_some_and(u8::is_ascii_digit)
        || (matches!(bytes.first(), Some(b'+' | b'-'))
            && bytes.get(1).is_some_and(u8::is_ascii_digit));
    if !starts_numeric {
        return Some(Value::Symbol(token.into()));
    }
    if let Some(integer) = token.strip_suffix('N') {
        return integer.parse().ok().map(Value::Int);
    }
    if token.contains(['.', 'e', 'E']) || token.ends_with('M') {
        let float = token.strip_suffix('M').unwrap_or(token);
        // Rust's float syntax is wider than EDN's (it takes "inf"), but a token that starts with
        // a digit can only be an EDN-shaped number here.
        return float.parse().ok().map(Value::Float);
    }
    token.parse().ok().map(Value::Int)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(line: u32, column: u32) -> Position {
        Position { line, column }
    }

    // Proves comments, commas, sets, discards, tags, big-int suffixes and escapes read as EDN says.
    #[test]
    fn reader_handles_the_edn_subset() {
        let text = "; a comment\n[1, 2N -3 4.5 1e3 \"t\\u0041\\t\" :k/x sym #{1 2} (a) #_ 99 \
                    #inst \"2020\" ##NaN true false nil \\c]";
        let values = read_values(text.as_bytes()).expect("reads");
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].0, position(2, 1));
        let Value::Vector(items) = &values[0].1 else { panic!("expected a vector") };
        assert_eq!(items[0], Value::Int(1));
        assert_eq!(items[1], Value::Int(2));
        assert_eq!(items[2], Value::Int(-3));
        assert_eq!(items[3], Value::Float(4.5));
        assert_eq!(items[4], Value::Float(1000.0));
        assert_eq!(items[5], Value::Str("tA\t".into()));
        assert_eq!(items[6], Value::Keyword("k/x".into()));
        assert_eq!(items[7], Value::Symbol("sym".into()));
        assert_eq!(items[8], Value::Set(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(items[9], Value::List(vec![Value::Symbol("a".into())]));
        assert_eq!(items[10], Value::Str("2020".into()));
        assert!(matches!(items[11], Value::Float(x) if x.is_nan()));
        assert_eq!(
            &items[12..],
            &[Value::Bool(true), Value::Bool(false), Value::Nil, Value::Str("c".into())]
        );
    }

    // Proves each kind of malformed input is a typed error at the right line:column, never a
    // panic.
    #[test]
    fn malformed_input_reports_line_and_column() {
        let deep = "[".repeat(100_000);
        let cases: Vec<(&[u8], Position, ReadErrorKind)> = vec![
            (b"{:type :invoke", position(1, 15), ReadErrorKind::UnexpectedEnd { expected: "'}'" }),
            (
                b"[1 2)",
                position(1, 5),
                ReadErrorKind::MismatchedDelimiter { found: ')', expected: ']' },
            ),
            (b"\n  \"abc", position(2, 3), ReadErrorKind::UnterminatedString),
            (b"\"a\\qb\"", position(1, 3), ReadErrorKind::InvalidEscape),
            (b"\"\\u12\"", position(1, 2), ReadErrorKind::InvalidEscape),
            (b"12abc", position(1, 1), ReadErrorKind::InvalidNumber { token: "12abc".into() }),
            (
                b"99999999999999999999",
                position(1, 1),
                ReadErrorKind::InvalidNumber { token: "99999999999999999999".into() },
            ),
            (deep.as_bytes(), position(1, 129), ReadErrorKind::NestingTooDeep),
            (b"{:a}", position(1, 1), ReadErrorKind::MapOddEntries),
            (b"  )", position(1, 3), ReadErrorKind::UnexpectedCharacter { found: ')' }),
            (b"{:a 1}\n\xff", position(2, 1), ReadErrorKind::InvalidUtf8),
            (b"\"\xc3\xa9\" \xe2\x82", position(1, 5), ReadErrorKind::InvalidUtf8),
            (b"#?", position(1, 1), ReadErrorKind::UnexpectedCharacter { found: '#' }),
            (b":", position(1, 2), ReadErrorKind::UnexpectedEnd { expected: "a value" }),
            (b"1 2\n[3 #_]", position(2, 6), ReadErrorKind::UnexpectedCharacter { found: ']' }),
        ];
        for (text, expected_position, expected_kind) in cases {
            let result = read_values(text);
            assert_eq!(
                result.map(|_| ()),
                Err(ReadError { position: expected_position, kind: expected_kind }),
                "input {:?}",
                String::from_utf8_lossy(&text[..text.len().min(40)])
            );
        }
    }

    // Proves malformed histories (well-formed EDN, wrong shape) are typed errors pointing at the
    // offending event.

    // Proves a value cut anywhere by the end of the window asks for more input, never fails,
    // and reads whole once the rest arrives.
    #[test]
    fn values_cut_by_the_window_ask_for_more() {
        let text = "{:a [1 2.5 \"x\\ny\" #{:k} (s)] :b ##Inf :c \\newline}";
        let whole = read_values(text.as_bytes()).expect("reads");
        for cut in 1..text.len() {
            let mut cursor = Cursor::partial(&text.as_bytes()[..cut]);
            let result = parse_value(&mut cursor, 0);
            assert!(matches!(result, Err(Stop::Incomplete)), "cut at {cut}: {result:?}");
        }
        assert_eq!(whole.len(), 1);
    }
}
