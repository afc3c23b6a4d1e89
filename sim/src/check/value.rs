//! EDN values: what histories are made of, compared, hashed and printed the same way wherever
//! they come from (EDN, JSON lines, porcupine's logs) or go (EDN, JSON lines).

use std::cmp::Ordering;
use std::fmt;

/// One EDN value. Maps and sets keep their entries in input order (EDN's equality for maps is
/// order-insensitive, but histories only need lookups by keyword key).
#[derive(Clone, Debug)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    /// A keyword, stored without its leading `:`.
    Keyword(Box<str>),
    Symbol(Box<str>),
    List(Vec<Value>),
    Vector(Vec<Value>),
    Set(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

/// A place in the input: 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Value {
    /// The keyword's name if this is a keyword.
    pub fn as_keyword(&self) -> Option<&str> {
        match self {
            Value::Keyword(name) => Some(name),
            _ => None,
        }
    }

    /// The value under keyword `key` if this is a map that has one.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => {
                entries.iter().find(|(k, _)| k.as_keyword() == Some(key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Keyword(_) => "a keyword",
            Value::Symbol(_) => "a symbol",
            Value::List(_) => "a list",
            Value::Vector(_) => "a vector",
            Value::Set(_) => "a set",
            Value::Map(_) => "a map",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Nil => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::Str(_) => 4,
            Value::Keyword(_) => 5,
            Value::Symbol(_) => 6,
            Value::List(_) => 7,
            Value::Vector(_) => 8,
            Value::Set(_) => 9,
            Value::Map(_) => 10,
        }
    }
}

// Values are compared structurally, floats by their total order, so that values can key the
// interning tables of the built-in models (BTreeMap needs `Ord`).
impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Nil, Value::Nil) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::Str(a), Value::Str(b))
            | (Value::Keyword(a), Value::Keyword(b))
            | (Value::Symbol(a), Value::Symbol(b)) => a.cmp(b),
            (Value::List(a), Value::List(b))
            | (Value::Vector(a), Value::Vector(b))
            | (Value::Set(a), Value::Set(b)) => a.cmp(b),
            (Value::Map(a), Value::Map(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

// Consistent with `Eq`: floats are equal exactly when their bits are (that is `total_cmp`).
impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u8(self.rank());
        match self {
            Value::Nil => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Float(x) => x.to_bits().hash(state),
            Value::Str(text) | Value::Keyword(text) | Value::Symbol(text) => text.hash(state),
            Value::List(items) | Value::Vector(items) | Value::Set(items) => items.hash(state),
            Value::Map(entries) => entries.hash(state),
        }
    }
}

impl fmt::Display for Value {
    /// Writes the value as EDN that `read_values` reads back to an equal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_nan() => f.write_str("##NaN"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "##Inf" } else { "##-Inf" })
            }
            // `{:?}` always writes a decimal point or exponent, so the text reads back as a float.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write_string(f, s),
            Value::Keyword(k) => write!(f, ":{k}"),
            Value::Symbol(s) => f.write_str(s),
            Value::List(items) => write_sequence(f, "(", items, ")"),
            Value::Vector(items) => write_sequence(f, "[", items, "]"),
            Value::Set(items) => write_sequence(f, "#{", items, "}"),
            Value::Map(entries) => {
                f.write_str("{")?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key} {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

fn write_sequence(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    items: &[Value],
    close: &str,
) -> fmt::Result {
    f.write_str(open)?;
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(close)
}
