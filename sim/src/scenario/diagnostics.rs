//! Diagnostics: the source texts of one scenario (the file, what it `extends`, command-line
//! overrides) and the errors found so far. Turns a YAML location into a located
//! `ScenarioError` naming the file it is in, with its source line.
//!
//! Layers are parsed with blank lines in front so that their line numbers never overlap;
//! a location's line says which layer, and so which file, it belongs to.

use serde_saphyr::Location;

use super::error::{ErrorKind, ScenarioError, ScenarioErrors};

/// One source text and the line at which its lines start in the numbering of locations.
struct Layer<'a> {
    file: &'a str,
    text: &'a str,
    first_line: u64,
}

/// Collects errors against the source texts of a scenario.
pub(crate) struct Diagnostics<'a> {
    layers: Vec<Layer<'a>>,
    errors: Vec<ScenarioError>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Diagnostics<'a> {
        Diagnostics { layers: vec![Layer { file, text, first_line: 1 }], errors: Vec::new() }
    }

    /// The first layer's locations are numbered from `first_line` on.
    pub fn relocate_first(&mut self, first_line: u64) {
        self.layers[0].first_line = first_line;
    }

    /// Adds a source whose locations are numbered from `first_line` on (it was parsed with
    /// `first_line - 1` blank lines in front).
    pub fn add_layer(&mut self, file: &'a str, text: &'a str, first_line: u64) {
        self.layers.push(Layer { file, text, first_line });
    }

    /// Records a problem at a YAML location (an unknown location points at the file).
    pub fn error(
        &mut self,
        kind: ErrorKind,
        at: &Location,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) {
        let width = at.span().len().max(1);
        let error = self.error_at(kind, at.line(), at.column(), width, message, expected);
        self.errors.push(error);
    }

    /// Records a problem of the whole scenario, at the first line of its own file.
    pub fn error_at_start(
        &mut self,
        kind: ErrorKind,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) {
        let first_line = self.layers[0].first_line;
        let error = self.error_at(kind, first_line, 1, 1, message, expected);
        self.errors.push(error);
    }

    /// A located error, not recorded.
    pub fn error_at(
        &self,
        kind: ErrorKind,
        line: u64,
        column: u64,
        width: u64,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> ScenarioError {
        // Line 0 (no position) names the scenario's own file, the first layer.
        let layer = match line {
            0 => &self.layers[0],
            _ => self
                .layers
                .iter()
                .filter(|layer| layer.first_line <= line)
                .max_by_key(|layer| layer.first_line)
                .unwrap_or(&self.layers[0]),
        };
        let line = match line {
            0 => 0,
            _ => line - layer.first_line + 1,
        };
        let source_line = usize::try_from(line.saturating_sub(1))
            .ok()
            .and_then(|index| layer.text.lines().nth(index))
            .unwrap_or("")
            .to_string();
        // The caret stays on its line: a multi-line span is underlined to the line's end.
        let rest = source_line.chars().count() as u64 + 1;
        let width = width.min(rest.saturating_sub(column).max(1));
        ScenarioError {
            kind,
            message: message.into(),
            expected: expected.into(),
            file: layer.file.to_string(),
            line,
            column,
            width,
            source_line,
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `Err` with every recorded problem, or `Ok(value)` if there were none.
    pub fn finish<T>(self, value: T) -> Result<T, ScenarioErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ScenarioErrors::new(self.errors))
        }
    }

    pub fn into_errors(self) -> ScenarioErrors {
        ScenarioErrors::new(self.errors)
    }
}
