//! Scenario errors: what is wrong, where (file:line:col), the offending source line with a
//! caret under the value, and what was expected, rendered the way compilers render them.
//!
//! Loading collects every problem it can find instead of stopping at the first, so a user
//! fixes a scenario in one round trip. YAML syntax and type errors stop the parse (serde
//! cannot continue past them), so those come alone.

use std::fmt;

/// What family of mistake an error is, for callers that want to react to one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read, is not UTF-8, is empty or too large.
    Input,
    /// Not YAML, or YAML of the wrong shape: unknown field, wrong type, duplicate key.
    Syntax,
    /// A name that refers to nothing: node, domain, workload, parameter, check.
    Reference,
    /// A value of the right type but outside what it may be: probability, duration, range.
    Value,
    /// Settings that contradict each other: overlapping groups, two timings, missing partner.
    Conflict,
}

/// One problem in a scenario, located in its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ScenarioError {
    pub kind: ErrorKind,
    /// The headline: what is wrong.
    pub message: String,
    /// Shown under the caret: what was expected instead.
    pub expected: String,
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line; 0 when the problem has no position (e.g. an unreadable file).
    pub line: u64,
    /// 1-based column in characters.
    pub column: u64,
    /// How many characters the caret underlines (at least one).
    pub width: u64,
    /// The source line the error points into, without its line break.
    pub source_line: String,
}

impl ScenarioError {
    /// `file:line:col`.
    pub fn position(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }

    /// The rustc-style rendering:
    ///
    /// ```text
    /// error: loss_probability 1.5 is not a probability
    ///   --> scenario.yaml:3:9
    ///    |
    ///  3 |   loss_probability: 1.5
    ///    |                     ^^^ expected a number in [0, 1]
    /// ```
    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.message);
        if self.line == 0 {
            out.push_str(&format!("  --> {}\n", self.file));
            if !self.expected.is_empty() {
                out.push_str(&format!("   = {}\n", self.expected));
            }
            return out;
        }
        let number = self.line.to_string();
        let width = number.len().max(2);
        let gutter = " ".repeat(width);
        out.push_str(&format!("{gutter}--> {}\n", self.position()));
        out.push_str(&format!("{gutter} |\n"));
        let (shown, column) = crop(&self.source_line, self.column);
        out.push_str(&format!("{number:>width$} | {shown}\n"));
        // Keep tabs in the padding so the caret lines up under tab-indented text.
        let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
        let mut padding: String =
            shown.chars().take(skip).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        let missing = skip.saturating_sub(padding.chars().count());
        padding.push_str(&" ".repeat(missing.min(LINE_SHOWN_MAX)));
        let width = usize::try_from(self.width.clamp(1, LINE_SHOWN_MAX as u64)).unwrap_or(1);
        out.push_str(&format!("{gutter} | {padding}{}", "^".repeat(width)));
        if !self.expected.is_empty() {
            out.push(' ');
            out.push_str(&self.expected);
        }
        out.push('\n');
        out
    }
}

/// Longest source line shown whole; longer ones are cropped around the column.
const LINE_SHOWN_MAX: usize = 100;

/// The part of `line` to show and the column within it.
fn crop(line: &str, column: u64) -> (String, u64) {
    let length = line.chars().count();
    if length <= LINE_SHOWN_MAX {
        return (line.to_string(), column);
    }
    let index = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX).min(length);
    let start = index.saturating_sub(LINE_SHOWN_MAX / 2);
    let end = (start + LINE_SHOWN_MAX).min(length);
    let mut shown = String::new();
    let mut column = (index - start) as u64 + 1;
    if start > 0 {
        shown.push_str("...");
        column += 3;
    }
    shown.extend(line.chars().skip(start).take(end - start));
    if end < length {
        shown.push_str("...");
    }
    (shown, column)
}

/// Every problem found in one scenario, in source order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioErrors {
    errors: Vec<ScenarioError>,
}

impl ScenarioErrors {
    /// `errors` must not be empty.
    pub(crate) fn new(mut errors: Vec<ScenarioError>) -> ScenarioErrors {
        debug_assert!(!errors.is_empty(), "an error list without errors");
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        ScenarioErrors { errors }
    }

    pub fn iter(&self) -> impl Iterator<Item = &ScenarioError> {
        self.errors.iter()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The first problem in source order.
    pub fn first(&self) -> Option<&ScenarioError> {
        self.errors.first()
    }

    pub fn into_vec(self) -> Vec<ScenarioError> {
        self.errors
    }
}

impl fmt::Display for ScenarioErrors {
    /// Every error rendered, separated by blank lines, then a count when there are several.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&error.render())?;
        }
        if self.errors.len() > 1 {
            write!(f, "\nerror: the scenario has {} problems\n", self.errors.len())?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ScenarioErrors {
    type Item = &'a ScenarioError;
    type IntoIter = std::slice::Iter<'a, ScenarioError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}
