//! The mistakes of a config: each with the path of its field, all of them in one error, and the
//! order they are reported in (by document section, whichever way the document was read).

use std::fmt;
use std::path::PathBuf;

/// One mistake in a config, with the path of the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `origins[2].https_port`; empty for the document as a whole.
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {} error(s):{}", errors.len(), list(errors))]
    Invalid {
        file: PathBuf,
        errors: Vec<FieldError>,
    },
}

impl LoadError {
    /// Every field error, for `config check` and the reload log line.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            LoadError::Read { source, .. } => vec![FieldError::new("", source.to_string())],
            LoadError::Invalid { errors, .. } => errors.clone(),
        }
    }
}

fn list(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("\n  {e}")).collect()
}

/// Whether `path` is `within` or below it (`origins[1]` covers `origins[1].name`).
pub(super) fn is_within(path: &str, within: &str) -> bool {
    path.strip_prefix(within)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// The errors of reading (unknown keys, values of the wrong type) in document sections, and
/// by path within each: what serde met first depends on how much of the document it read at
/// once (the whole of it, or one origin), the order reported must not.
pub(super) fn reading_order(errors: &mut [FieldError]) {
    errors.sort_by(|a, b| {
        section_rank(&a.path)
            .cmp(&section_rank(&b.path))
            .then_with(|| a.path.cmp(&b.path))
    });
}

/// Errors of the document first, then `global`, then `origins` and each origin in turn; the
/// order within each stays as found.
pub(super) fn in_document_order(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.sort_by_key(|e| section_rank(&e.path));
    errors
}

fn section_rank(path: &str) -> (u8, usize) {
    if let Some(rest) = path.strip_prefix("origins") {
        let index = rest
            .strip_prefix('[')
            .and_then(|r| r.split(']').next())
            .and_then(|i| i.parse().ok());
        return index.map_or((2, 0), |i: usize| (3, i));
    }
    // The document itself and keys beside `global` and `origins` (unknown ones) come first.
    match path.split(['.', '[']).next() {
        Some("global") => (1, 0),
        _ => (0, 0),
    }
}
