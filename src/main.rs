//! The `origin_exporter` command: the daemon and its subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use origin_exporter::config;
use origin_exporter::daemon::{Daemon, Options};
use origin_exporter::logging::{self, LogFormat};
use origin_exporter::probe::ProbeContext;
use tracing::{error, info};

#[derive(Debug, Parser)]
#[command(
    name = "origin_exporter",
    version,
    about = "Probes CDN origins the way the CDN connects to them and tells which cause of a 502 is active."
)]
struct Cli {
    /// Configuration file.
    #[arg(long = "config.file", default_value = config::DEFAULT_CONFIG_FILE, global = true)]
    config_file: PathBuf,
    /// Address to serve metrics on: host:port, or :port for every interface.
    #[arg(long = "web.listen-address", default_value = ":19502")]
    listen_address: String,
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long = "log.level", default_value = "info", global = true)]
    log_level: String,
    /// Log format.
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with the configuration file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate the file and print every error with its field path (exit 0 valid, 2 invalid).
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(&cli.log_level, cli.log_format) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Some(Command::Config {
            action: ConfigAction::Check,
        }) => config_check(&cli.config_file),
        None => run_daemon(cli),
    }
}

fn config_check(file: &std::path::Path) -> ExitCode {
    let result = config::load(file)
        .map_err(|e| e.field_errors())
        .and_then(|c| {
            ProbeContext::new(&c.global)
                .map(|_| c)
                .map_err(|e| vec![config::FieldError::new(e.field(), e.to_string())])
        });
    match result {
        Ok(c) => {
            println!("{}: OK ({} origins)", file.display(), c.origins.len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                println!("{}: {e}", file.display());
            }
            println!("{}: {} error(s)", file.display(), errors.len());
            ExitCode::from(2)
        }
    }
}

fn run_daemon(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let options = Options {
            config_file: cli.config_file,
            listen_address: cli.listen_address,
        };
        let daemon = match Daemon::start(options).await {
            Ok(d) => d,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        match serve_signals(&daemon).await {
            Ok(()) => {}
            Err(e) => error!(error = %e, "cannot install signal handlers"),
        }
        info!("shutting down");
        daemon.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Reloads on SIGHUP until SIGTERM or SIGINT arrives.
async fn serve_signals(daemon: &Daemon) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                // The reloader logs the outcome and sets the reload metrics.
                let _ = daemon.reload().await;
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}
