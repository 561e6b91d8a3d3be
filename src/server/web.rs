//! Applying the web config: the config in force, swapped atomically on reload or when its file
//! changes so that new connections and requests see the new one, and the middleware in front of
//! every endpoint (basic auth, `auth.rs`, and the configured response headers). The listener
//! (`listener.rs`) asks it whether to speak TLS.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::info;

use super::auth::{Auth, Login};
use super::web_config::{self, WebConfig, WebConfigError};

/// The web config in force, and where it came from.
pub struct Web {
    file: Option<PathBuf>,
    current: ArcSwap<WebConfig>,
    stamp: Mutex<Option<SystemTime>>,
    auth: Auth,
}

impl Web {
    /// Loads `file` (none: plain HTTP, no auth). An error here is a startup error.
    pub fn load(file: Option<PathBuf>) -> Result<Arc<Web>, WebConfigError> {
        let config = match &file {
            Some(f) => web_config::load(f)?,
            None => WebConfig::default(),
        };
        let stamp = file.as_ref().and_then(|f| modified(f));
        Ok(Arc::new(Web {
            file,
            current: ArcSwap::from_pointee(config),
            stamp: Mutex::new(stamp),
            auth: Auth::new(),
        }))
    }

    /// [`Web::load`] on a blocking thread (reading files, parsing keys, checking bcrypt hashes
    /// and making the unknown-user hash are blocking, CPU-heavy work).
    pub async fn load_blocking(file: Option<PathBuf>) -> Result<Arc<Web>, WebConfigError> {
        let named = file.clone();
        tokio::task::spawn_blocking(move || Web::load(file))
            .await
            .unwrap_or_else(|e| Err(panicked(named, &e)))
    }

    /// [`Web::reload_if_changed`] on a blocking thread, for the same reason.
    pub async fn reload_if_changed_blocking(self: &Arc<Self>) -> Result<bool, WebConfigError> {
        let web = Arc::clone(self);
        tokio::task::spawn_blocking(move || web.reload_if_changed())
            .await
            .unwrap_or_else(|e| Err(panicked(self.file.clone(), &e)))
    }

    pub fn config(&self) -> Arc<WebConfig> {
        self.current.load_full()
    }

    /// Re-reads the file; on error the running web config stays.
    pub fn reload(&self) -> Result<(), WebConfigError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let stamp = modified(file);
        let config = web_config::load(file)?;
        self.current.store(Arc::new(config));
        if let Ok(mut s) = self.stamp.lock() {
            *s = stamp;
        }
        self.auth.forget();
        info!(file = %file.display(), "web config loaded");
        Ok(())
    }

    /// Reloads when the file's modification time changed since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, WebConfigError> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let now = modified(file);
        let before = self.stamp.lock().map(|s| *s).unwrap_or(None);
        if now == before {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }
}

/// A web config load that panicked on its blocking thread, as a load error.
fn panicked(file: Option<PathBuf>, e: &tokio::task::JoinError) -> WebConfigError {
    WebConfigError {
        file: file.unwrap_or_default(),
        field: "(load)".into(),
        reason: format!("the load did not finish: {e}"),
    }
}

fn modified(file: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

/// Middleware: basic auth when users are configured, and the configured response headers.
pub async fn guard(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    let config = web.config();
    if !config.users.is_empty() {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match web.auth.authorized(&config, authorization).await {
            Login::Accepted => {}
            Login::Refused => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"origin_exporter\"")],
                    "Unauthorized\n",
                )
                    .into_response()
            }
            Login::Busy => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many logins being verified; try again\n",
                )
                    .into_response()
            }
        }
    }
    let mut response = next.run(request).await;
    for (name, value) in &config.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_changed_file_is_picked_up_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&file, "").unwrap();
        let web = Web::load(Some(file.clone())).unwrap();
        assert!(!web.reload_if_changed().unwrap(), "unchanged file reloaded");

        let touch = |text: &str, secs: u64| {
            std::fs::write(&file, text).unwrap();
            let t = SystemTime::now() + Duration::from_secs(secs);
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        touch(&format!("basic_auth_users: {{u: '{hash}'}}"), 10);
        assert!(web.reload_if_changed().unwrap());
        assert!(web.config().users.contains_key("u"));

        touch("basic_auth_users: {u: broken}", 20);
        assert!(web.reload_if_changed().is_err());
        assert!(
            web.config().users.contains_key("u"),
            "the running config must stay"
        );
    }
}
