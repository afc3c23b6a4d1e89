//! The loader: the one way a scenario's bytes become a `Scenario`. Bounds the input (size,
//! nesting) before the YAML parser sees it, so no file can exhaust memory or the stack.

use std::io::Read;
use std::path::Path;

use serde_saphyr::MessageFormatter;

use crate::workload::Registry;

use super::diagnostics::Diagnostics;
use super::error::{ErrorKind, ScenarioErrors};
use super::model::Scenario;
use super::schema::ScenarioFile;
use super::validate::validate;

/// Scenario files larger than this are refused: a scenario is a page of settings, not data.
pub const INPUT_BYTES_MAX: usize = 4 << 20;
/// Deepest YAML nesting accepted (the schema itself needs six levels).
const DEPTH_MAX: usize = 32;

/// Reads and validates the scenario at `path` against the workloads of `registry`.
pub fn load(path: &Path, registry: &Registry) -> Result<Scenario, ScenarioErrors> {
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
    parse(&name, &bytes, registry)
}

/// Parses and validates scenario source `text`; `source_name` names it in errors.
pub fn parse(
    source_name: &str,
    text: &[u8],
    registry: &Registry,
) -> Result<Scenario, ScenarioErrors> {
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
            max_documents: 1,
        },
        with_snippet: false,
        strict_booleans: true,
    };
    let mut diagnostics = Diagnostics::new(source_name, text);
    let file: ScenarioFile = match serde_saphyr::from_str_with_options(text, options) {
        Ok(file) => file,
        Err(error) => {
            let error = error.without_snippet();
            let message = serde_saphyr::DefaultMessageFormatter.format_message(error);
            let message: String = message.chars().filter(|c| !c.is_control()).collect();
            let (message, expected) = match message.split_once(", expected ") {
                Some((what, expected)) => (what.to_string(), format!("expected {expected}")),
                None => (message, String::new()),
            };
            let at = error.location().unwrap_or(serde_saphyr::Location::UNKNOWN);
            diagnostics.error(ErrorKind::Syntax, &at, message, expected);
            return Err(diagnostics.into_errors());
        }
    };
    let scenario = validate(&file, registry, &mut diagnostics);
    match scenario {
        Some(scenario) => diagnostics.finish(scenario),
        None => Err(diagnostics.into_errors()),
    }
}
