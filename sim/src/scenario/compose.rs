//! Composition: a scenario file that `extends` another, and command-line overrides
//! (`--param key=value`, `--set path=value`), laid over each other in order, so a
//! planted-bug variant is three lines instead of a copy.
//!
//! Each layer is parsed on its own, with its own line numbers (see `Diagnostics`), then the
//! layers are merged (`ScenarioFile::overlay`) and the result validated once: every error
//! names the file, and the line in it, that the offending value came from.

use std::path::{Path, PathBuf};

use crate::workload::Registry;

use super::diagnostics::Diagnostics;
use super::error::{ErrorKind, ScenarioErrors};
use super::load::{parse_layer, read_file};
use super::model::Scenario;
use super::schema::ScenarioFile;
use super::validate::validate;

/// How deep `extends` chains may go.
const EXTENDS_DEPTH_MAX: usize = 8;

/// A change to a loaded scenario given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Override {
    /// `--param key=value`: one workload parameter.
    Param { key: String, value: String },
    /// `--set path=value`: any key, `path` dot-separated (`phases.chaos=5s`,
    /// `network.loss_probability=0.1`); `value` is YAML.
    Set { path: String, value: String },
}

impl Override {
    /// Parses `key=value` as a `--param`.
    pub fn param(text: &str) -> Result<Override, String> {
        let (key, value) = split_assignment(text, "--param")?;
        Ok(Override::Param { key, value })
    }

    /// Parses `path=value` as a `--set`.
    pub fn set(text: &str) -> Result<Override, String> {
        let (path, value) = split_assignment(text, "--set")?;
        if path.split('.').any(|part| part.is_empty()) {
            return Err(format!("--set {text}: `{path}` is not a dot-separated key path"));
        }
        Ok(Override::Set { path, value })
    }

    /// How errors name this override.
    fn source_name(&self) -> String {
        match self {
            Override::Param { key, value } => format!("--param {key}={value}"),
            Override::Set { path, value } => format!("--set {path}={value}"),
        }
    }

    /// The override as a scenario fragment.
    fn yaml(&self) -> String {
        let (path, value): (Vec<&str>, &str) = match self {
            Override::Param { key, value } => (vec!["workload", "params", key], value),
            Override::Set { path, value } => (path.split('.').collect(), value),
        };
        let mut text = String::new();
        for (depth, key) in path.iter().enumerate() {
            text.push_str(&"  ".repeat(depth));
            text.push_str(key);
            text.push(':');
            if depth + 1 < path.len() {
                text.push('\n');
            }
        }
        text.push(' ');
        text.push_str(value);
        text.push('\n');
        text
    }
}

fn split_assignment(text: &str, flag: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("{flag} {text}: expected KEY=VALUE")),
    }
}

/// One source of the scenario: its name in errors and its text.
struct Source {
    name: String,
    text: String,
    first_line: u64,
}

/// Loads `root` (named `root_name`, in directory `dir`), what it extends, and `overrides`;
/// merges them and validates the result.
pub(crate) fn compose(
    root_name: &str,
    root: &[u8],
    dir: Option<&Path>,
    overrides: &[Override],
    registry: &Registry,
) -> Result<Scenario, ScenarioErrors> {
    let mut sources: Vec<Source> = Vec::new();
    let mut next_line = 1u64;
    let mut layer = |name: &str, bytes: &[u8], sources: &mut Vec<Source>| {
        let (text, file) = parse_layer(name, bytes, next_line)?;
        let first_line = next_line;
        next_line += text.lines().count() as u64 + 1;
        sources.push(Source { name: name.to_string(), text: text.to_string(), first_line });
        Ok::<ScenarioFile, ScenarioErrors>(file)
    };
    // The root, then each file it extends, deepest last.
    let mut files = vec![layer(root_name, root, &mut sources)?];
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut directory = dir.map(Path::to_path_buf);
    while let Some(extends) = files.last().and_then(|file| file.extends.clone()) {
        let child = sources.last().map(|s| s.name.clone()).unwrap_or_default();
        let path = directory.as_deref().unwrap_or(Path::new(".")).join(&extends.value);
        let refuse = |message: String, expected: &str, sources: &[Source]| {
            let source = sources.last().expect("a layer was read");
            let mut diagnostics = Diagnostics::new(&source.name, &source.text);
            diagnostics.relocate_first(source.first_line);
            diagnostics.error(ErrorKind::Reference, &extends.referenced, message, expected);
            Err(diagnostics.into_errors())
        };
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if seen.contains(&canonical) || files.len() > EXTENDS_DEPTH_MAX {
            let message = format!(
                "`extends: {}` in {child} makes a cycle or a chain too long",
                extends.value
            );
            let expected = format!("expected at most {EXTENDS_DEPTH_MAX} files, none twice");
            return refuse(message, &expected, &sources);
        }
        seen.push(canonical);
        let bytes = match read_file(&path) {
            Ok(bytes) => bytes,
            Err(_) => {
                let message = format!("cannot read `{}`, which {child} extends", path.display());
                return refuse(message, "expected a scenario file, relative to this one", &sources);
            }
        };
        let name = path.display().to_string();
        files.push(layer(&name, &bytes, &mut sources)?);
        directory = path.parent().map(Path::to_path_buf);
    }
    let mut merged = files.pop().expect("the root was read");
    while let Some(file) = files.pop() {
        merged = merged.overlay(file);
    }
    for change in overrides {
        let text = change.yaml();
        merged = merged.overlay(layer(&change.source_name(), text.as_bytes(), &mut sources)?);
    }
    let first = &sources[0];
    let mut diagnostics = Diagnostics::new(&first.name, &first.text);
    for source in &sources[1..] {
        diagnostics.add_layer(&source.name, &source.text, source.first_line);
    }
    match validate(&merged, registry, &mut diagnostics) {
        Some(scenario) => diagnostics.finish(scenario),
        None => Err(diagnostics.into_errors()),
    }
}
