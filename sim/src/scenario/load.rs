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
            match message.split_once(", expected ") {
                Some((what, expected)) => (what.to_string(), format!("expected {expected}")),
                None => (message, String::new()),
            }
        }
    }
}
