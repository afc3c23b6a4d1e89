//! Workload parameters: a typed struct per workload (`#[derive(Params)]`), described at
//! run time by `ParamSpec`s so a scenario's `params:` can be validated at load time with
//! file:line:col, listed by `orrery list`, and shrunk.
//!
//! ```
//! use orrery_sim::{ms, Choice, Duration, Params};
//!
//! /// Which planted bug is on.
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
//! pub enum Bug {
//!     #[default]
//!     None,
//!     EarlyAck,
//! }
//!
//! #[derive(Debug, Clone, Params)]
//! pub struct KvParams {
//!     /// Time between a client's operations.
//!     #[param(default = ms(10))]
//!     pub interval: Duration,
//!     /// How many keys clients use.
//!     #[param(default = 3, min = 1, shrink)]
//!     pub keys: u64,
//!     /// Planted bug switch.
//!     pub bug: Bug,
//! }
//!
//! let defaults = KvParams::default();
//! assert_eq!((defaults.interval, defaults.keys, defaults.bug), (ms(10), 3, Bug::None));
//! let specs = <KvParams as orrery_sim::workload::Params>::specs();
//! assert_eq!(specs[2].kind.name(), "one of none, early_ack");
//! ```
//!
//! A scenario then writes `params: {keys: 5, bug: early_ack}`; `bug: early_akc` or
//! `keys: 0` is a load error naming the choices or the bound.

use std::collections::BTreeMap;
use std::fmt;

use crate::time::Duration;

/// The type of a workload parameter, as the scenario validator checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// An integer between `min` and `max` (inclusive).
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A finite number.
    Float,
    /// `true` or `false`.
    Bool,
    /// A duration written with its unit, e.g. `"150ms"`.
    Duration,
    /// Free text.
    Text,
    /// One of a closed set of names.
    Choice(&'static [&'static str]),
}

impl ParamKind {
    /// What a scenario must write, in words: `integer`, `one of none, early_ack`...
    pub fn name(self) -> String {
        match self {
            ParamKind::Int { min, max } => match (min, max) {
                (i64::MIN, i64::MAX) => "integer".to_string(),
                (min, i64::MAX) => format!("integer >= {min}"),
                (min, max) => format!("integer in {min}..={max}"),
            },
            ParamKind::Float => "number".to_string(),
            ParamKind::Bool => "boolean".to_string(),
            ParamKind::Duration => "duration (e.g. \"150ms\")".to_string(),
            ParamKind::Text => "string".to_string(),
            ParamKind::Choice(names) => format!("one of {}", names.join(", ")),
        }
    }

    /// The integer kind with `min` raised and `max` lowered where given.
    pub fn bounded(self, min: Option<i64>, max: Option<i64>) -> ParamKind {
        match self {
            ParamKind::Int { min: lo, max: hi } => ParamKind::Int {
                min: min.map_or(lo, |m| m.max(lo)),
                max: max.map_or(hi, |m| m.min(hi)),
            },
            other => other,
        }
    }

    /// Whether `value` is of this kind and in range.
    pub fn accepts(self, value: &ParamValue) -> bool {
        match (self, value) {
            (ParamKind::Int { min, max }, ParamValue::Int(v)) => (min..=max).contains(v),
            (ParamKind::Float, ParamValue::Float(v)) => v.is_finite(),
            (ParamKind::Bool, ParamValue::Bool(_))
            | (ParamKind::Duration, ParamValue::Duration(_))
            | (ParamKind::Text, ParamValue::Text(_)) => true,
            (ParamKind::Choice(names), ParamValue::Text(v)) => names.contains(&v.as_str()),
            _ => false,
        }
    }
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A duration.
    Duration(Duration),
    /// Text, or the name of a choice.
    Text(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Duration(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v}"),
        }
    }
}

/// A declared parameter: name, type, default, one line of documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// The key a scenario writes (the Rust field name).
    pub name: &'static str,
    /// Its type and range.
    pub kind: ParamKind,
    /// The value when a scenario does not set it.
    pub default: ParamValue,
    /// One line of documentation (the field's `///` comment).
    pub doc: &'static str,
    /// Whether shrinking may lower it (client counts, operation counts, payload sizes).
    pub shrink: bool,
}

/// Concrete parameters of one run by name, every declared one present (defaults filled in).
pub type ParamMap = BTreeMap<String, ParamValue>;

/// A workload's typed parameters. Derive it (`#[derive(Params)]`): every field needs a `///`
/// line and a type implementing `ParamType`; `#[param(default = EXPR)]` sets its default
/// (else `Default::default()`), `#[param(min = N, max = N)]` bounds an integer, and
/// `#[param(shrink)]` lets shrinking lower it. The derive also implements `Default`.
pub trait Params: Sized + Clone + fmt::Debug + Send + Sync + 'static {
    /// The declared parameters, in field order.
    fn specs() -> Vec<ParamSpec>;
    /// The typed value of validated values: every declared name present with its kind.
    fn from_map(map: &ParamMap) -> Result<Self, String>;
}

/// No parameters.
impl Params for () {
    fn specs() -> Vec<ParamSpec> {
        Vec::new()
    }
    fn from_map(_map: &ParamMap) -> Result<(), String> {
        Ok(())
    }
}

/// A type a parameter field can have.
pub trait ParamType: Sized {
    /// Its kind (before any `min`/`max` of the field).
    fn kind() -> ParamKind;
    /// As a value (for defaults and write-back).
    fn to_value(&self) -> ParamValue;
    /// From a value of its kind.
    fn from_value(value: &ParamValue) -> Option<Self>;
}

/// The closed set of names of a `#[derive(Choice)]` enum, and the conversions.
pub trait Choice: Sized + Copy + 'static {
    /// Every variant's name (snake_case of the variant, or `#[choice(name = "...")]`).
    const NAMES: &'static [&'static str];
    /// The variant named `name`.
    fn from_name(name: &str) -> Option<Self>;
    /// This variant's name.
    fn name(self) -> &'static str;
}

/// Reads field `name` of a derived `Params` from validated values.
pub fn field<T: ParamType>(map: &ParamMap, name: &str) -> Result<T, String> {
    match map.get(name) {
        Some(value) => T::from_value(value)
            .ok_or_else(|| format!("parameter `{name}` = {value} is not {}", T::kind().name())),
        None => Err(format!("parameter `{name}` is missing")),
    }
}

macro_rules! int_param {
    ($($ty:ty),*) => {$(
        impl ParamType for $ty {
            fn kind() -> ParamKind {
                ParamKind::Int {
                    min: i64::try_from(<$ty>::MIN).unwrap_or(i64::MIN),
                    max: i64::try_from(<$ty>::MAX).unwrap_or(i64::MAX),
                }
            }
            fn to_value(&self) -> ParamValue {
                ParamValue::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
            fn from_value(value: &ParamValue) -> Option<Self> {
                match value {
                    ParamValue::Int(v) => <$ty>::try_from(*v).ok(),
                    _ => None,
                }
            }
        }
    )*};
}

int_param!(i64, i32, u64, u32, u16, u8, usize);

impl ParamType for f64 {
    fn kind() -> ParamKind {
        ParamKind::Float
    }
    fn to_value(&self) -> ParamValue {
        ParamValue::Float(*self)
    }
    fn from_value(value: &ParamValue) -> Option<Self> {
        match value {
            ParamValue::Float(v) => Some(*v),
            ParamValue::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
}

impl ParamType for bool {
    fn kind() -> ParamKind {
        ParamKind::Bool
    }
    fn to_value(&self) -> ParamValue {
        ParamValue::Bool(*self)
    }
    fn from_value(value: &ParamValue) -> Option<Self> {
        match value {
            ParamValue::Bool(v) => Some(*v),
            _ => None,
        }
    }
}

impl ParamType for Duration {
    fn kind() -> ParamKind {
        ParamKind::Duration
    }
    fn to_value(&self) -> ParamValue {
        ParamValue::Duration(*self)
    }
    fn from_value(value: &ParamValue) -> Option<Self> {
        match value {
            ParamValue::Duration(v) => Some(*v),
            _ => None,
        }
    }
}

impl ParamType for String {
    fn kind() -> ParamKind {
        ParamKind::Text
    }
    fn to_value(&self) -> ParamValue {
        ParamValue::Text(self.clone())
    }
    fn from_value(value: &ParamValue) -> Option<Self> {
        match value {
            ParamValue::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl<C: Choice> ParamType for C {
    fn kind() -> ParamKind {
        ParamKind::Choice(C::NAMES)
    }
    fn to_value(&self) -> ParamValue {
        ParamValue::Text(self.name().to_string())
    }
    fn from_value(value: &ParamValue) -> Option<Self> {
        match value {
            ParamValue::Text(v) => C::from_name(v),
            _ => None,
        }
    }
}
