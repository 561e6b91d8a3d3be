//! Reading the file: figment merges the YAML file with `ORIGIN_EXPORTER_*` environment overrides
//! of `global` keys. figment's own YAML provider uses the deprecated `serde_yaml`, so the format
//! here is a small one over `serde_norway`.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format};
use figment::Figment;
use serde::de::DeserializeOwned;

use super::{validate, Config, RawConfig};

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

/// YAML for figment, via `serde_norway`.
struct Yaml;

impl Format for Yaml {
    type Error = serde_norway::Error;
    const NAME: &'static str = "YAML";

    fn from_str<T: DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        serde_norway::from_str(string)
    }
}

/// Loads and validates a config file, with environment overrides.
pub fn load(file: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    load_str(&text, file)
}

/// Loads and validates config text; `file` names it in errors.
pub fn load_str(text: &str, file: &Path) -> Result<Config, LoadError> {
    let invalid = |errors| LoadError::Invalid {
        file: file.to_path_buf(),
        errors,
    };
    // An empty file is a document with no keys, which validation then reports properly.
    let figment = if text.trim().is_empty() {
        Figment::new()
    } else {
        Figment::from(Yaml::string(text))
    }
    .merge(Env::prefixed("ORIGIN_EXPORTER_").map(|key| format!("global.{}", key.as_str()).into()));
    let raw: RawConfig = figment.extract().map_err(|e| invalid(figment_errors(e)))?;
    validate(&raw).map_err(invalid)
}

fn figment_errors(error: figment::Error) -> Vec<FieldError> {
    error
        .into_iter()
        .map(|e| {
            let path = render_path(&e.path);
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            let mut message = e.kind.to_string();
            if from_env {
                message.push_str(" (from an ORIGIN_EXPORTER_* environment variable)");
            }
            FieldError::new(path, message)
        })
        .collect()
}

/// `["origins", "2", "https_port"]` → `origins[2].https_port`.
fn render_path(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths_like_the_spec() {
        let parts = ["origins", "2", "https_port"].map(String::from);
        assert_eq!(render_path(&parts), "origins[2].https_port");
    }
}
