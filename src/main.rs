//! The `origin_exporter` command: the daemon and its subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use origin_exporter::checks::ProbeContext;
use origin_exporter::config;
use origin_exporter::daemon::{Daemon, Options};
use origin_exporter::logging::{self, LogFormat};
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
    /// Probe only this replica's share of the origins: INDEX/COUNT, or ordinal/COUNT to take
    /// INDEX from the hostname's trailing -N (a Kubernetes StatefulSet pod).
    #[arg(long = "shard")]
    shard: Option<String>,
    /// Web config (exporter-toolkit format): TLS, client certificates, basic auth.
    #[arg(long = "web.config.file")]
    web_config_file: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    // Global options are listed after a subcommand's own (`check --help`), not among them.
    #[arg(
        long = "log.level",
        default_value = "info",
        global = true,
        display_order = LAST
    )]
    log_level: String,
    /// Log format.
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true,
        display_order = LAST + 1
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Where help lists the global logging options: after every other option, the subcommands'
/// included (clap numbers options in declaration order, each struct from 0, so without this a
/// subcommand's options and the inherited ones interleave).
const LAST: usize = 1000;

#[derive(Debug, Subcommand)]
enum Command {
    /// Probe once and explain every active cause (exit 0 ready, 1 a critical cause, 2 usage or config error).
    Check(Box<CheckArgs>),
    /// Work with the configuration file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Start, on loopback, origins that each show one cause (certificates made at start), and
    /// the exporter probing them; prints where to look, Ctrl-C stops everything.
    Demo(DemoArgs),
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// Address to serve the landing page and metrics on: host:port, or :port for every
    /// interface.
    #[arg(long = "web.listen-address", default_value = ":19502")]
    listen_address: String,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Origins of the config file to check (default: all of them).
    #[arg(conflicts_with = "domain")]
    origins: Vec<String>,
    /// Check one origin given by its domain instead of the config file: DNS, TCP and TLS (not
    /// TLS with --protocol-policy http-only); HTTP only with --http-path, or --checks listing
    /// http (then GET /).
    #[arg(long)]
    domain: Option<String>,
    /// The Host header the CDN forwards (also the SNI).
    #[arg(long = "host-header", requires = "domain")]
    host_header: Option<String>,
    /// Connect to this IP instead of resolving the domain.
    #[arg(long, requires = "domain")]
    address: Option<String>,
    /// https-only, http-only or match-viewer.
    #[arg(long = "protocol-policy", requires = "domain")]
    protocol_policy: Option<String>,
    /// The origin's HTTPS port, with --domain (default 443).
    #[arg(long = "https-port", requires = "domain")]
    https_port: Option<i64>,
    /// The origin's HTTP port, with --domain (default 80).
    #[arg(long = "http-port", requires = "domain")]
    http_port: Option<i64>,
    /// Versions the CDN may use, comma-separated (SSLv3,TLSv1,TLSv1.1,TLSv1.2).
    #[arg(long = "ssl-protocols", value_delimiter = ',', requires = "domain")]
    ssl_protocols: Option<Vec<String>>,
    /// Checks to run, comma-separated (dns,tcp,tls,http), with --domain; default: all that apply.
    #[arg(long, value_delimiter = ',', requires = "domain")]
    checks: Option<Vec<String>>,
    /// Send the CDN's GET to this path (enables the HTTP check), with --domain.
    #[arg(long = "http-path", requires = "domain")]
    http_path: Option<String>,
    /// Extra trusted roots (PEM), with --domain.
    #[arg(long = "ca-file", requires = "domain")]
    ca_file: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate the file and print every error with its field path (exit 0 valid, 2 invalid).
    Check,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if let Err(e) = logging::init(&cli.log_level, cli.log_format) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Some(Command::Config {
            action: ConfigAction::Check,
        }) => config_check(&cli.config_file),
        Some(Command::Check(args)) => check(&cli.config_file, *args),
        Some(Command::Demo(args)) => demo(args),
        None => run_daemon(cli),
    }
}

/// jemalloc for every Rust allocation of the daemon: with 100,000 origins' snapshots replaced
/// every cycle and 300 MB scrapes, it keeps less memory (peak RSS -5 %), spends less CPU per
/// probe (-13 %) and encodes `/metrics` faster (-43 %) than glibc malloc (bench/README.md).
/// Gated exactly as the `tikv-jemallocator` dependency (Cargo.toml): other targets (musl, macOS)
/// keep the system allocator.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One glibc malloc arena (for what C code, OpenSSL, still allocates there) instead of up to
/// eight per core. glibc gives each thread that
/// allocates under contention an arena of its own, and memory freed in one is not reused by the
/// others: with the runtime's workers and the `/metrics` encoder each filling theirs, 10,000
/// origins took 49 MiB of RSS instead of 35. Allocation is a small part of the probes' CPU time,
/// so the shared arena's lock costs nothing measurable. `MALLOC_ARENA_MAX`, when set, wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "mallopt is a C call; see the SAFETY note")]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator tunable; it runs first thing in main, before
        // any other thread exists. Its return value (0 on failure) leaves the default in force.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

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
            let discovery = if c.discovery.cloudfront.is_some() {
                ", plus those discovered from cloudfront"
            } else {
                ""
            };
            let n = c.origins.len();
            let origins = if n == 1 { "origin" } else { "origins" };
            println!("{}: OK ({n} {origins}{discovery})", file.display());
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

/// Loads the origins to check: the named ones of the config file, or the one given by flags.
fn check_config(
    file: &std::path::Path,
    args: &CheckArgs,
) -> Result<(config::Config, Vec<std::sync::Arc<config::Origin>>), Vec<String>> {
    let show = |errors: Vec<config::FieldError>| -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    };
    let config = match &args.domain {
        Some(domain) => {
            let global = config::RawGlobal {
                ca_file: args.ca_file.clone(),
                ..Default::default()
            };
            let target = config::AdhocTarget {
                domain: domain.clone(),
                host_header: args.host_header.clone(),
                address: args.address.clone(),
                http_port: args.http_port,
                https_port: args.https_port,
                ssl_protocols: args.ssl_protocols.clone(),
                checks: args.checks.clone(),
                protocol_policy: args.protocol_policy.clone(),
                http_path: args.http_path.clone(),
            };
            config::Config::for_target(global, &target).map_err(show)?
        }
        None => config::load(file).map_err(|e| vec![e.to_string()])?,
    };
    let mut origins = config.origins.clone();
    if !args.origins.is_empty() {
        let unknown: Vec<String> = args
            .origins
            .iter()
            .filter(|n| !origins.iter().any(|o| &o.name == *n))
            .map(|n| format!("no origin named {n:?} in {}", file.display()))
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        origins.retain(|o| args.origins.contains(&o.name));
    }
    Ok((config, origins))
}

fn check(file: &std::path::Path, args: CheckArgs) -> ExitCode {
    use std::io::IsTerminal;
    let (config, origins) = match check_config(file, &args) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    let ctx = match ProbeContext::new(&config.global) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(()) => return ExitCode::from(2),
    };
    let reports = runtime.block_on(origin_exporter::report::probe_all(
        &origins,
        &ctx,
        config.global.concurrency,
    ));
    match args.format {
        OutputFormat::Text => print!(
            "{}",
            origin_exporter::report::render_text(&reports, std::io::stdout().is_terminal())
        ),
        OutputFormat::Json => println!("{:#}", origin_exporter::report::render_json(&reports)),
    }
    ExitCode::from(origin_exporter::report::exit_code(&reports))
}

/// The async runtime; a failure to start it is reported here.
fn runtime() -> Result<tokio::runtime::Runtime, ()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("cannot start the async runtime: {e}"))
}

fn run_daemon(cli: Cli) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(()) => return ExitCode::FAILURE,
    };
    let shard = match &cli.shard {
        None => origin_exporter::shard::Shard::ALL,
        Some(spec) => {
            let hostname = std::env::var("HOSTNAME").unwrap_or_else(|_| {
                std::fs::read_to_string("/etc/hostname")
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            });
            match origin_exporter::shard::Shard::parse(spec, &hostname) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    runtime.block_on(async move {
        let options = Options {
            config_file: cli.config_file,
            listen_address: cli.listen_address,
            web_config_file: cli.web_config_file,
            shard,
        };
        let daemon = match Daemon::start(options).await {
            Ok(d) => d,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        match serve_signals(&daemon, || {}).await {
            Ok(()) => {}
            Err(e) => error!(error = %e, "cannot install signal handlers"),
        }
        info!("shutting down");
        daemon.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// The demo's origins and the daemon probing them, until SIGTERM or SIGINT.
fn demo(args: DemoArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(()) => return ExitCode::FAILURE,
    };
    runtime.block_on(async move {
        let lab = origin_exporter::demo::Lab::start().await;
        let options = Options {
            config_file: lab.config_file().to_path_buf(),
            listen_address: args.listen_address,
            web_config_file: None,
            shard: origin_exporter::shard::Shard::ALL,
        };
        let daemon = match Daemon::start(options).await {
            Ok(d) => d,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("origin_exporter"));
        let guide = || {
            print!("{}", lab.guide(daemon.local_addr(), &exe));
            // Whoever reads the output (a pipe, a test) sees the guide now, not at exit.
            let _ = std::io::Write::flush(&mut std::io::stdout());
        };
        if let Err(e) = serve_signals(&daemon, guide).await {
            error!(error = %e, "cannot install signal handlers");
        }
        info!("shutting down");
        daemon.shutdown().await;
        drop(lab);
        ExitCode::SUCCESS
    })
}

/// Reloads on SIGHUP until SIGTERM or SIGINT arrives; `ready` runs once they are caught.
async fn serve_signals(daemon: &Daemon, ready: impl FnOnce()) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    ready();
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
