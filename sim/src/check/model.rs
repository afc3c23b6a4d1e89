//! Which built-in model a history is checked against, and the conventions that say what the
//! history does not: the value a register or key holds before any write, and how a read of a
//! key never written (or a dequeue of an empty queue) is written.
//!
//! Conventions differ between tools and matter for verdicts: Jepsen and Knossos start a
//! register at `nil` and read a missing key as `nil`; porcupine's kv model starts every key at
//! `""`; a counter starts at 0. A check names its conventions explicitly ([`ModelSpec`]), and
//! the readers supply the defaults of the format they read (`porcupine-kv`: `""`).

use std::fmt;
use std::str::FromStr;

use super::value::Value;

/// Which built-in model to check against; parsed from the CLI's `--model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelName {
    /// `register`: read and write.
    Register,
    /// `cas-register`: read, write and compare-and-set (`:value [expected new]`).
    CasRegister,
    /// `kv`: get/read, put/write and append (string concatenation), per key.
    Kv,
    /// `set`: add an element; read returns the whole set.
    Set,
    /// `queue`: a FIFO queue; enqueue an element, dequeue returns the oldest one, or the
    /// `missing` value (nil) when the queue is empty.
    Queue,
    /// `counter`: add an integer (`:add`), read the total.
    Counter,
    /// `unique-ids`: generate returns an id no generate returned before.
    UniqueIds,
}

/// The model names, as `--model` spells them.
pub const MODEL_NAMES: &str = "register, cas-register, kv, set, queue, counter or unique-ids";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown model {0:?}; expected {MODEL_NAMES}")]
pub struct UnknownModelName(pub String);

impl FromStr for ModelName {
    type Err = UnknownModelName;

    fn from_str(text: &str) -> Result<ModelName, UnknownModelName> {
        match text {
            "register" => Ok(ModelName::Register),
            "cas-register" => Ok(ModelName::CasRegister),
            "kv" => Ok(ModelName::Kv),
            "set" => Ok(ModelName::Set),
            "queue" | "fifo-queue" => Ok(ModelName::Queue),
            "counter" => Ok(ModelName::Counter),
            "unique-ids" => Ok(ModelName::UniqueIds),
            other => Err(UnknownModelName(other.to_string())),
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelName::Register => "register",
            ModelName::CasRegister => "cas-register",
            ModelName::Kv => "kv",
            ModelName::Set => "set",
            ModelName::Queue => "queue",
            ModelName::Counter => "counter",
            ModelName::UniqueIds => "unique-ids",
        })
    }
}

/// Conventions as a user gives them: each one left out takes the model's (or the format's)
/// default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conventions {
    /// The value before any write: of the register, of every key (register, cas-register, kv;
    /// default `nil`), the counter's start (default 0), the set's or queue's first contents
    /// (default empty).
    pub initial: Option<Value>,
    /// How a read of a key never written is written (register, cas-register, kv; default: the
    /// initial value), or a dequeue of an empty queue (queue; default `nil`).
    pub missing: Option<Value>,
}

/// A model with every convention settled.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: ModelName,
    /// The state before any operation.
    pub initial: Value,
    /// The value that stands for "nothing there" in a read or a dequeue; `None` where the
    /// model has no such read.
    pub missing: Option<Value>,
}

/// A convention the model has no use for, or a value it cannot start from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {model} model {problem}")]
pub struct ConventionError {
    pub model: ModelName,
    pub problem: &'static str,
}

impl ModelSpec {
    /// The model with its default conventions.
    pub fn new(name: ModelName) -> ModelSpec {
        match ModelSpec::with_conventions(name, &Conventions::default()) {
            Ok(spec) => spec,
            Err(error) => unreachable!("default conventions are valid: {error}"),
        }
    }

    /// The model with `conventions`, each one left out taking the model's default.
    pub fn with_conventions(
        name: ModelName,
        conventions: &Conventions,
    ) -> Result<ModelSpec, ConventionError> {
        let problem = |problem| ConventionError { model: name, problem };
        let (initial, missing) = match name {
            ModelName::Register | ModelName::CasRegister | ModelName::Kv => {
                let initial = conventions.initial.clone().unwrap_or(Value::Nil);
                let missing = conventions.missing.clone().unwrap_or_else(|| initial.clone());
                (initial, Some(missing))
            }
            ModelName::Counter => {
                if conventions.missing.is_some() {
                    return Err(problem("has no read of something missing (no --missing)"));
                }
                match conventions.initial.clone().unwrap_or(Value::Int(0)) {
                    initial @ Value::Int(_) => (initial, None),
                    _ => return Err(problem("starts from an integer (--initial)")),
                }
            }
            ModelName::Set => {
                if conventions.missing.is_some() {
                    return Err(problem("has no read of something missing (no --missing)"));
                }
                match conventions.initial.clone().unwrap_or(Value::Set(Vec::new())) {
                    Value::Set(items) | Value::Vector(items) | Value::List(items) => {
                        (canonical_set(items), None)
                    }
                    _ => return Err(problem("starts from a collection of elements (--initial)")),
                }
            }
            ModelName::Queue => {
                let missing = conventions.missing.clone().unwrap_or(Value::Nil);
                match conventions.initial.clone().unwrap_or(Value::Vector(Vec::new())) {
                    Value::Vector(items) | Value::List(items) => {
                        (Value::Vector(items), Some(missing))
                    }
                    _ => return Err(problem("starts from a vector of elements, oldest first")),
                }
            }
            ModelName::UniqueIds => {
                if conventions.initial.is_some() || conventions.missing.is_some() {
                    return Err(problem("has no conventions (no --initial or --missing)"));
                }
                (Value::Nil, None)
            }
        };
        Ok(ModelSpec { name, initial, missing })
    }

    /// Whether the model keeps a register-like value per key, so that a format's initial value
    /// (porcupine's `""`) applies to it.
    pub fn holds_a_value(name: ModelName) -> bool {
        matches!(name, ModelName::Register | ModelName::CasRegister | ModelName::Kv)
    }
}

impl From<ModelName> for ModelSpec {
    fn from(name: ModelName) -> ModelSpec {
        ModelSpec::new(name)
    }
}

impl fmt::Display for ModelSpec {
    /// The model and the conventions in force, for reports: `kv (initial "", missing "")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (initial {}", self.name, self.initial)?;
        if let Some(missing) = &self.missing {
            let what = if self.name == ModelName::Queue { "empty dequeue" } else { "missing read" };
            write!(f, ", {what} {missing}")?;
        }
        f.write_str(")")
    }
}

/// A set's canonical form: its elements sorted, each once, so that equal sets are equal values
/// whatever order a history wrote them in.
pub fn canonical_set(mut items: Vec<Value>) -> Value {
    items.sort();
    items.dedup();
    Value::Set(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves model names parse (with the fifo-queue alias) and print back, and conventions
    // take each model's defaults, accept what fits and refuse what the model has no use for.
    #[test]
    fn names_and_conventions() {
        for name in ["register", "cas-register", "kv", "set", "queue", "counter", "unique-ids"] {
            assert_eq!(name.parse::<ModelName>().map(|m| m.to_string()), Ok(name.to_string()));
        }
        assert_eq!("fifo-queue".parse(), Ok(ModelName::Queue));
        assert_eq!("stack".parse::<ModelName>(), Err(UnknownModelName("stack".into())));
        let kv = ModelSpec::new(ModelName::Kv);
        assert_eq!((kv.initial, kv.missing), (Value::Nil, Some(Value::Nil)));
        assert_eq!(ModelSpec::new(ModelName::Counter).initial, Value::Int(0));
        let porcupine = Conventions { initial: Some(Value::Str("".into())), missing: None };
        let spec = ModelSpec::with_conventions(ModelName::Kv, &porcupine).expect("fits");
        assert_eq!(spec.to_string(), "kv (initial \"\", missing read \"\")");
        let set = Conventions {
            initial: Some(Value::Vector(vec![Value::Int(2), Value::Int(1), Value::Int(2)])),
            missing: None,
        };
        let spec = ModelSpec::with_conventions(ModelName::Set, &set).expect("fits");
        assert_eq!(spec.initial, Value::Set(vec![Value::Int(1), Value::Int(2)]));
        for (name, conventions) in [
            (ModelName::Counter, Conventions { initial: Some(Value::Nil), missing: None }),
            (ModelName::Set, Conventions { initial: None, missing: Some(Value::Nil) }),
            (ModelName::UniqueIds, Conventions { initial: Some(Value::Int(0)), missing: None }),
            (ModelName::Queue, Conventions { initial: Some(Value::Int(0)), missing: None }),
        ] {
            assert!(ModelSpec::with_conventions(name, &conventions).is_err(), "{name}");
        }
    }
}
