//! The loader: the one way a scenario's bytes become a `Scenario`. Bounds the input (size,
//! nesting) before the YAML parser sees it, so no file can exhaust memory or the stack.

use std::io::Read;
use std::path::Path;

use serde_saphyr::MessageFormatter;

use crate::workload::Registry;

use super::compose::{compose, Override};
use super::diagnostics::Diagnostics;
use super::error::{ErrorKind, ScenarioErrors};
use super::model::Scenario;
use super::schema::ScenarioFile;

/// Scenario files larger than this are refused: a scenario is a page of settings, not data.
pub const INPUT_BYTES_MAX: usize = 4 << 20;
/// Deepest YAML nesting accepted (the schema itself needs six levels).
const DEPTH_MAX: usize = 32;

/// Reads and validates the scenario at `path` against the workloads of `registry`.
pub fn load(path: &Path, registry: &Registry) -> Result<Scenario, ScenarioErrors> {
    load_with(path, registry, &[])
}

/// Loads the scenario at `path` with command-line `overrides` laid over it (last wins).
pub fn load_with(
    path: &Path,
    registry: &Registry,
    overrides: &[Override],
) -> Result<Scenario, ScenarioErrors> {
    let name = path.display().to_string();
    let bytes = read_file(path)?;
    compose(&name, &bytes, path.parent(), overrides, registry)
}

/// A file's bytes, at most `INPUT_BYTES_MAX + 1` of them (more is refused when parsed).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ScenarioErrors> {
    let name = path.display().to_string();
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path)
        .and_then(|file| file.take(INPUT_BYTES_MAX as u64 + 1).read_to_end(&mut bytes));
    if let Err(error) = read {
        let diagnostics = Diagnostics::new(&name, "");
        let error = diagnostics.error_at(
            ErrorKind::Input,
            0,
            0,
            1,
            format!("cannot read the scenario: {error}"),
            "",
        );
        return Err(ScenarioErrors::new(vec![error]));
    }
    Ok(bytes)
}

/// Parses and validates scenario source `text`; `source_name` names it in errors. An
/// `extends:` in it is read relative to the current directory.
pub fn parse(
    source_name: &str,
    text: &[u8],
    registry: &Registry,
) -> Result<Scenario, ScenarioErrors> {
    compose(source_name, text, None, &[], registry)
}

/// Checks one layer's bytes (size, UTF-8, not empty) and parses its YAML with `first_line - 1`
/// blank lines in front, so its locations have their own line numbers (see `Diagnostics`).
pub(crate) fn parse_layer<'t>(
    source_name: &str,
    text: &'t [u8],
    first_line: u64,
) -> Result<(&'t str, ScenarioFile), ScenarioErrors> {
    let input_error = |line, column, message: String, expected: &str, source: &str| {
        let diagnostics = Diagnostics::new(source_name, source);
        let error = diagnostics.error_at(ErrorKind::Input, line, column, 1, message, expected);
        Err(ScenarioErrors::new(vec![error]))
    };
    if text.len() > INPUT_BYTES_MAX {
        let message = format!("the scenario is {} bytes, too large", text.len());
        let expected = format!("expected at most {INPUT_BYTES_MAX} bytes");
        return input_error(0, 0, message, &expected, "");
    }
    let text = match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(error) => {
            let valid = &text[..error.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let prefix = String::from_utf8_lossy(&valid[line_start..]);
            let column = prefix.chars().count() as u64 + 1;
            let source = String::from_utf8_lossy(text);
            let message = format!("byte {} is not valid UTF-8", error.valid_up_to());
            return input_error(line, column, message, "expected UTF-8 text", &source);
        }
    };
    if text.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with('#')) {
        let message = "the scenario is empty".to_string();
        return input_error(1, 1, message, "expected a mapping with `name`, `topology`, ...", text);
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: DEPTH_MAX,
            flow_nesting_limit: DEPTH_MAX,
        },
        with_snippet: false,
        strict_booleans: true,
    };
    let padded: String = "\n".repeat(first_line.saturating_sub(1) as usize) + text;
    match serde_saphyr::from_str_with_options(&padded, options) {
        Ok(file) => Ok((text, file)),
        Err(error) => {
            let error = error.without_snippet();
            let (message, expected) = yaml_problem(error);
            let at = error.location().unwrap_or(serde_saphyr::Location::UNKNOWN);
            let mut diagnostics = Diagnostics::new(source_name, text);
            diagnostics.relocate_first(first_line);
            diagnostics.error(ErrorKind::Syntax, &at, message, expected);
            Err(diagnostics.into_errors())
        }
    }
}

fn yaml_problem(error: &serde_saphyr::Error) -> (String, String) {
    use serde_saphyr::budget::BudgetBreach;
    use serde_saphyr::Error;
    let nesting = || format!("expected at most {DEPTH_MAX} levels of nesting");
    match error {
        Error::DuplicateMappingKey { key, .. } => {
            let key = key.as_deref().unwrap_or("?");
            (format!("duplicate key `{key}`"), "expected each key once per mapping".to_string())
        }
        Error::MultipleDocuments { .. } => (
            "a second YAML document".to_string(),
            "expected one document: nothing after `---`".to_string(),
        ),
        Error::Budget { breach: BudgetBreach::Depth { .. }, .. } => {
            ("the YAML is nested too deeply".to_string(), nesting())
        }
        _ => {
            let message = serde_saphyr::DefaultMessageFormatter.format_message(error);
            let message: String = message.chars().filter(|c| !c.is_control()).collect();
            if message.contains("recursion limit") {
                return ("the YAML is nested too deeply".to_string(), nesting());
            }
            // Number parse failures name Rust types; say what the user should write.
            let numbers = [
                ("invalid u32", "an integer from 0 to 4294967295"),
                ("invalid u64", "an integer from 0 to 18446744073709551615"),
                ("invalid i64", "an integer"),
                ("invalid floating point", "a number"),
            ];
            if let Some((_, wanted)) = numbers.iter().find(|(text, _)| message == *text) {
                return ("not a valid number here".to_string(), format!("expected {wanted}"));
            }
            let (what, expected) = match message.split_once(", expected ") {
                Some((what, expected)) => (what.to_string(), format!("expected {expected}")),
                None => (message, String::new()),
            };
            in_our_words(what, expected)
        }
    }
}

/// The parser's words for what is wrong and what was expected, with the names of its own
/// machinery (Rust types, serde's enum representations, `Option<...>`) replaced by what a
/// scenario's author writes.
fn in_our_words(what: String, expected: String) -> (String, String) {
    const NAME: &str = "expected a name this field accepts";
    let missing = "a value is missing here (`~` or nothing is null)".to_string();
    let (what, expected) = if let Some(rest) = what.strip_prefix("cannot deserialize null into ") {
        let wanted = rest.split(';').next().unwrap_or("").trim();
        (missing, format!("expected {}", plain_type(wanted)))
    } else if what.starts_with("invalid type: unit value") || what.starts_with("invalid type: null")
    {
        (missing, expected)
    } else if what.contains("externally tagged enum") || what == "invalid enum variant" {
        ("not a name this field accepts".to_string(), NAME.to_string())
    } else if what.starts_with("invalid boolean") {
        ("invalid boolean".to_string(), "expected true or false".to_string())
    } else if let Some(rest) = what.strip_prefix("non-finite float ") {
        let value = rest.split(" rejected").next().unwrap_or(rest);
        (format!("{value} is not a finite number"), "expected a number".to_string())
    } else {
        (what, expected)
    };
    let expected = match expected.strip_prefix("expected ") {
        Some(wanted) if wanted.starts_with("internally tagged enum") => {
            "expected a mapping with a `kind`, e.g. `{kind: fixed, value: 2ms}`".to_string()
        }
        Some(wanted) if wanted.contains("enum") => NAME.to_string(),
        Some(wanted) => format!("expected {}", plain_type(wanted)),
        None => expected,
    };
    let leaks = ["Option<", "Some(", "enum ", "struct ", "File`", "::"];
    if leaks.iter().any(|leak| what.contains(leak) || expected.contains(leak)) {
        // Nothing of the parser's internals reaches the user, even for a message not
        // translated above.
        return ("this value does not fit here".to_string(), String::new());
    }
    (what, expected)
}

/// A Rust type name, as a scenario's author would say it; anything else is kept.
fn plain_type(name: &str) -> String {
    match name.trim_matches('`') {
        "f64" | "f32" | "a float" => "a number".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "an integer" => "a whole number".to_string(),
        "bool" | "a boolean" => "true or false".to_string(),
        "string" | "String" | "str" | "a string" | "string scalar" => "a string".to_string(),
        "char" => "one character".to_string(),
        other if other.starts_with("Option<") => {
            plain_type(other.trim_start_matches("Option<").trim_end_matches('>'))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::test_support::registry;

    // Proves the parser's internals (Rust types, serde's enum representations, `Option<...>`)
    // never reach a message about a scenario: each shape of mistake reads in our words.
    #[test]
    fn yaml_type_errors_are_told_in_our_words() {
        let base = "name: x\ntopology: {count: 2}\nworkload: {name: kv}\nphases: {chaos: 1s}\n";
        for (change, said) in [
            ("name: ~\n", "the scenario has no `name`"),
            ("faults: [{at: 1s, kind: {}, node: n0}]\n", "not a name this field accepts"),
            ("faults: [{at: 1s, kind: [x], node: n0}]\n", "not a name this field accepts"),
            ("faults: [{at: 1s, kind: !!binary aGk=, node: n0}]\n", "not a name this field accepts"),
            ("network: {latency: fixed}\n", "expected a mapping with a `kind`"),
            ("network: {latency: {kind: uniform, min: 1ms, max: 2ms, x: 1}}\n", "unknown field"),
            (
                "network: {latency: {kind: long_tail, min: 1ms, max: 6ms, slow_probability: [x], slow_min: 1ms, slow_max: 2ms}}\n",
                "expected a number",
            ),
            ("buggify: {enabled: 7}\n", "expected true or false"),
            ("network: {latency: {kind: fixed, value: 1e400}}\n", "is not a finite number"),
            ("network: {latency: {kind: fixed, value: ~}}\n", "a value is missing here"),
        ] {
            let text = if change.starts_with("name") {
                base.replacen("name: x\n", change, 1)
            } else {
                format!("{base}{change}")
            };
            let errors = parse("s.yaml", text.as_bytes(), &registry()).expect_err(change);
            let rendered = errors.to_string();
            assert!(rendered.contains(said), "{change}: {rendered}");
            for leak in ["Option<", "Some(", "enum", "f64", "LatencyFile", "strict mode", "policy"] {
                assert!(!rendered.contains(leak), "{change} leaks {leak:?}: {rendered}");
            }
        }
    }
}
