//! Diagnostics: the source text of one scenario and the errors found in it so far. Turns a
//! YAML location into a located `ScenarioError` with its source line.

use serde_saphyr::Location;

use super::error::{ErrorKind, ScenarioError, ScenarioErrors};

/// Collects errors against one source text.
pub(crate) struct Diagnostics<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<ScenarioError>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Diagnostics<'a> {
        Diagnostics { file, text, errors: Vec::new() }
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
        let source_line = usize::try_from(line.saturating_sub(1))
            .ok()
            .and_then(|index| self.text.lines().nth(index))
            .unwrap_or("")
            .to_string();
        // The caret stays on its line: a multi-line span is underlined to the line's end.
        let rest = source_line.chars().count() as u64 + 1;
        let width = width.min(rest.saturating_sub(column).max(1));
        ScenarioError {
            kind,
            message: message.into(),
            expected: expected.into(),
            file: self.file.to_string(),
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
