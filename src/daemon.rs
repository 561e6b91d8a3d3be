//! The running exporter: loads the config, starts the scheduler and the HTTP server, and applies
//! reloads. A config that fails to load keeps the running one and says so in a metric and a log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::checks::{ContextError, ContextFiles, ProbeContext};
use crate::config::{self, CloudFrontDiscovery, Config, LoadError};
use crate::discovery::{self, Discovered, DiscoveryStatus};
use crate::metrics::{self, ExporterMetrics};
use crate::scheduler::{Budget, Scheduler};
use crate::server::listener::WebListener;
use crate::server::web::Web;
use crate::server::web_config::WebConfigError;
use crate::server::{self, AppState, Current, ReloadRequest};
use crate::shard::Shard;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct Options {
    pub config_file: PathBuf,
    /// `host:port`, or `:port` for every interface.
    pub listen_address: String,
    /// `--web.config.file`: TLS and basic auth for every endpoint.
    pub web_config_file: Option<PathBuf>,
    /// The share of the origins this replica probes.
    pub shard: Shard,
}

/// How often the web config file is checked for changes.
const WEB_CONFIG_POLL: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] LoadError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
    #[error("the config could not be loaded: {0}")]
    Startup(String),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// A started exporter. Dropping it does not stop it; call [`Daemon::shutdown`].
pub struct Daemon {
    local_addr: SocketAddr,
    reload: mpsc::Sender<ReloadRequest>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Daemon {
    pub async fn start(options: Options) -> Result<Daemon, DaemonError> {
        // Reading the files is blocking work: on a blocking thread, as reloads are.
        let file = options.config_file.clone();
        let (loaded, ctx) = tokio::task::spawn_blocking(move || {
            let loaded = config::load(&file)?;
            let ctx = ProbeContext::new(&loaded.global)?;
            Ok::<_, DaemonError>((loaded, ctx))
        })
        .await
        .map_err(|e| DaemonError::Startup(e.to_string()))??;
        let web = Web::load_blocking(options.web_config_file.clone()).await?;
        let listen_error = |source| DaemonError::Listen {
            address: options.listen_address.clone(),
            source,
        };
        let listener = listen(&options.listen_address).await?;
        let listener = WebListener::new(listener, Arc::clone(&web)).map_err(listen_error)?;
        let local_addr = listener.local_addr();
        // Ad-hoc probes may not connect to the exporter itself.
        let ctx = Arc::new(ctx.serving(local_addr));

        let store = Arc::new(Store::default());
        let own = Arc::new(ExporterMetrics::default());
        own.web_config_reload_successful.set(1);
        let registry = Arc::new(metrics::own_registry(Arc::clone(&store), Arc::clone(&own)));
        let budget = Arc::new(Budget::new(loaded.global.concurrency));
        let mut scheduler =
            Scheduler::new(Arc::clone(&store), Arc::clone(&ctx), Arc::clone(&budget));
        let config = compose(
            &loaded,
            &Discovered::default(),
            options.shard,
            &own.discovery,
        );
        let current = Arc::new(ArcSwap::from_pointee(apply(
            &mut scheduler,
            &own,
            config,
            ctx,
        )));
        own.config_loaded();
        info!(file = %options.config_file.display(), origins = current.load().config.origins.len(), "config loaded");
        let (sets_tx, sets_rx) = mpsc::channel(2);

        let (reload_tx, reload_rx) = mpsc::channel(8);
        let (stop_tx, stop_rx) = oneshot::channel();
        let app = server::router(AppState {
            registry,
            store,
            own: Arc::clone(&own),
            current: Arc::clone(&current),
            budget,
            scrapes: Arc::new(tokio::sync::Semaphore::new(server::MAX_SCRAPES)),
            reload: reload_tx.clone(),
            web: Arc::clone(&web),
        });
        info!(address = %local_addr, "listening");
        let task = tokio::spawn(async move {
            let (server_stop_tx, server_stop_rx) = oneshot::channel::<()>();
            let server = tokio::spawn(async move {
                let shutdown = async {
                    let _ = server_stop_rx.await;
                };
                crate::server::listener::serve(listener, app, shutdown).await;
            });
            let mut reloader = Reloader {
                file: options.config_file,
                scheduler,
                own,
                current,
                web,
                shard: options.shard,
                loaded,
                discovered: Discovered::default(),
                discovery: None,
                sets: sets_tx,
                listen: local_addr,
            };
            reloader.restart_discovery();
            reloader.run(reload_rx, sets_rx, stop_rx).await;
            let _ = server_stop_tx.send(());
            let _ = server.await;
        });
        Ok(Daemon {
            local_addr,
            reload: reload_tx,
            stop: stop_tx,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Reloads the config file now (what SIGHUP and `POST /-/reload` do).
    pub async fn reload(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.reload
            .send(tx)
            .await
            .map_err(|_| "exporter stopped".to_string())?;
        rx.await.map_err(|_| "exporter stopped".to_string())?
    }

    /// Stops probing, finishes in-flight HTTP requests, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Owns the scheduler; applies reload requests one at a time.
struct Reloader {
    file: PathBuf,
    scheduler: Scheduler,
    own: Arc<ExporterMetrics>,
    current: Arc<ArcSwap<Current>>,
    web: Arc<Web>,
    shard: Shard,
    /// The config file as loaded: `current` is it plus the discovered origins.
    loaded: Config,
    /// The last set discovery listed successfully.
    discovered: Discovered,
    /// The running discovery task and the settings it runs with.
    discovery: Option<(CloudFrontDiscovery, JoinHandle<()>)>,
    /// Where discovery tasks send what they list.
    sets: mpsc::Sender<Discovered>,
    /// Where the exporter listens (ad-hoc probes may not connect to it).
    listen: SocketAddr,
}

impl Drop for Reloader {
    fn drop(&mut self) {
        if let Some((_, task)) = self.discovery.take() {
            task.abort();
        }
    }
}

impl Reloader {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<ReloadRequest>,
        mut sets: mpsc::Receiver<Discovered>,
        mut stop: oneshot::Receiver<()>,
    ) {
        // The web config was just loaded: its first check is one period from now.
        let mut poll = tokio::time::interval_at(
            tokio::time::Instant::now() + WEB_CONFIG_POLL,
            WEB_CONFIG_POLL,
        );
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(reply) = requests.recv() => {
                    // Reading and checking the files is blocking work (a second for 100,000
                    // origins): on a blocking thread, never on an async worker.
                    let reloaded = tokio::task::spawn_blocking(move || {
                        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.reload()
                        }))
                        .unwrap_or_else(|_| {
                            Err("the reload panicked; the running config stays in force".into())
                        });
                        (self, outcome)
                    })
                    .await;
                    // The closure catches panics: only a runtime shutting down loses it.
                    let Ok((this, outcome)) = reloaded else { return };
                    self = this;
                    let _ = reply.send(outcome);
                }
                Some(set) = sets.recv() => self.discovered(set),
                _ = poll.tick() => {
                    // Reading and checking the file is blocking work: on a blocking thread.
                    let outcome = self.web.reload_if_changed_blocking().await.map(|_| ());
                    let _ = self.web_outcome(outcome);
                }
            }
        }
        self.scheduler.stop();
    }

    /// Starts, restarts or stops discovery to match the loaded config. Unchanged settings keep
    /// the running task.
    fn restart_discovery(&mut self) {
        let wanted = self.loaded.discovery.cloudfront.clone();
        if self.discovery.as_ref().map(|(s, _)| s) == wanted.as_ref() {
            return;
        }
        if let Some((_, task)) = self.discovery.take() {
            task.abort();
        }
        self.own.discovery.set_enabled(wanted.is_some());
        if let Some(settings) = wanted {
            let task = discovery::cloudfront::spawn(
                settings.clone(),
                Arc::clone(&self.own.discovery),
                self.sets.clone(),
            );
            self.discovery = Some((settings, task));
        } else {
            self.discovered = Discovered::default();
        }
    }

    /// A new discovered set: applied like a reload when it differs from the running one.
    fn discovered(&mut self, set: Discovered) {
        if set != self.discovered {
            self.discovered = set;
            let ctx = Arc::clone(&self.current.load().ctx);
            let origins = self.apply_composed(ctx);
            info!(origins, "discovered origins applied");
        }
        self.own.discovery.settle();
    }

    /// Applies the loaded config joined with the discovered set; returns the origins running.
    fn apply_composed(&mut self, ctx: Arc<ProbeContext>) -> usize {
        let config = compose(
            &self.loaded,
            &self.discovered,
            self.shard,
            &self.own.discovery,
        );
        let current = apply(&mut self.scheduler, &self.own, config, ctx);
        let origins = current.config.origins.len();
        self.current.store(Arc::new(current));
        origins
    }

    /// Records a web config (re)load; a failed one keeps the running web config.
    fn web_outcome(&self, outcome: Result<(), WebConfigError>) -> Result<(), String> {
        match outcome {
            Ok(()) => {
                self.own.web_config_reload_successful.set(1);
                Ok(())
            }
            Err(e) => {
                self.own.web_config_reload_successful.set(0);
                error!(error = %e, "web config reload failed; the running web config stays in force");
                Err(e.to_string())
            }
        }
    }

    /// Reloads the web config and the config; reports the first failure.
    fn reload(&mut self) -> Result<(), String> {
        let web = self.web_outcome(self.web.reload());
        let config = self.reload_config();
        web.and(config)
    }

    fn reload_config(&mut self) -> Result<(), String> {
        let file = self.file.display().to_string();
        let loaded = config::load(&self.file)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                // Unchanged global settings whose files (ca_file, the system resolver's) read
                // the same keep the probe context (roots, resolver, caches); a replaced file
                // builds a new one, as a rotated client certificate restarts its origin.
                let files = ContextFiles::read(&c.global).map_err(|e| e.to_string())?;
                let running = self.current.load();
                let ctx = if running.ctx.fits(&c.global, &files) {
                    Arc::clone(&running.ctx)
                } else {
                    info!(file = %file, "probe context rebuilt: global settings or the files they name changed");
                    let ctx =
                        ProbeContext::from_files(&c.global, files).map_err(|e| e.to_string())?;
                    Arc::new(ctx.serving(self.listen))
                };
                Ok((c, ctx))
            });
        match loaded {
            Ok((loaded, ctx)) => {
                self.loaded = loaded;
                self.restart_discovery();
                let origins = self.apply_composed(ctx);
                self.own.config_loaded();
                info!(file = %file, origins, "config reloaded");
                Ok(())
            }
            Err(e) => {
                self.own.config_reload_successful.set(0);
                error!(file = %file, error = %e, "config reload failed; the running config stays in force");
                Err(e)
            }
        }
    }
}

/// The loaded config with the discovered origins joined, keeping the origins this replica's
/// shard owns; records what discovery's mapping made of the set.
fn compose(
    loaded: &Config,
    discovered: &Discovered,
    shard: Shard,
    status: &DiscoveryStatus,
) -> Config {
    let (mut config, mapping) = discovery::merge(loaded, discovered);
    if shard != Shard::ALL {
        let all = config.origins.len();
        config.origins.retain(|o| shard.owns(&o.name));
        info!(%shard, owned = config.origins.len(), of = all, "sharding origins");
    }
    status.mapped(&mapping);
    config
}

/// Makes `config` the running one. The config file's reload metrics are not touched: this
/// also applies discovered sets, and a refresh says nothing about the file (discovery has
/// metrics of its own).
fn apply(
    scheduler: &mut Scheduler,
    own: &ExporterMetrics,
    config: Config,
    ctx: Arc<ProbeContext>,
) -> Current {
    scheduler.apply(&config, Arc::clone(&ctx));
    own.origins.set(scheduler.len() as i64);
    Current {
        config: Arc::new(config),
        ctx,
    }
}

/// Binds `host:port`; `:port` means every interface (IPv6 and IPv4 where the host allows).
async fn listen(address: &str) -> Result<TcpListener, DaemonError> {
    let err = |source| DaemonError::Listen {
        address: address.to_string(),
        source,
    };
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "port must be a number",
            ))
        })?;
        return match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port)).await.map_err(err),
        };
    }
    TcpListener::bind(address).await.map_err(err)
}
