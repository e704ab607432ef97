//! The `mxgate` command line: `serve`, `check-config`, `keys fetch|show`
//! and `status`.
//!
//! The configuration is read here (the core parses text, it never opens
//! files): [`load_config`] reads the file, parses it relative to its own
//! directory and checks that every file it names exists, reporting each
//! problem with its key path.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mxgate_core::{
    config::{Config, ConfigProblem, HostPort},
    ids::ServerName,
};
use tracing_subscriber::EnvFilter;

use crate::{
    keyring::{Clock as _, SystemClock},
    keys_cmd, status,
};

/// `println!` that ends quietly when stdout is closed (e.g. piped to `head`)
/// instead of panicking on a broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` counterpart of [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Matrix federation border gateway.
#[derive(Parser, Debug)]
#[command(name = "mxgate", version, after_help = TOP_EXAMPLES)]
pub struct Cli {
    /// Log format: `text` (human-readable, coloured on a terminal) or `json`
    /// (one JSON object per line). The level is set by `RUST_LOG` (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The log output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (ANSI colours only when stderr is a terminal).
    Text,
    /// JSON lines, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ConfigArgs),
    /// Validate a configuration file: print every problem with its key path
    /// (exit 1), or a summary of what the configuration does (exit 0).
    #[command(after_help = CHECK_EXAMPLES)]
    CheckConfig(ConfigArgs),
    /// Fetch a server's signing keys for pinning, or list pinned and cached keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print a running gateway's status (from its admin listener's /status).
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
}

/// `mxgate keys ...`.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Fetch and validate a server's signing keys (as the gateway does) and
    /// print a ready-to-paste `[[remote]]` block pinning them.
    #[command(after_help = KEYS_FETCH_EXAMPLES)]
    Fetch(KeysFetchArgs),
    /// List, per configured server, the pinned keys and the keys cached
    /// under `state_dir`, with their state.
    #[command(after_help = KEYS_SHOW_EXAMPLES)]
    Show(ConfigArgs),
}

/// `mxgate keys fetch` arguments.
#[derive(Args, Debug)]
pub struct KeysFetchArgs {
    /// The server name, e.g. `matrix.partner.example` or `127.0.0.1:8448`.
    #[arg(value_name = "SERVER_NAME", value_parser = parse_server_name)]
    pub server_name: ServerName,
    /// Where to connect (`host:port`); default: the remote's `address` in
    /// `--config`, else the server name's host and port (8448).
    #[arg(long, value_name = "HOST:PORT", value_parser = HostPort::parse)]
    pub address: Option<HostPort>,
    /// PEM file of the CA(s) to trust for this server's TLS certificate;
    /// default: the remote's `ca` in `--config`, else the system roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// A configuration to take the remote's address, CA and SPKI pins from.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The tier written into the block.
    #[arg(long, default_value = "external")]
    pub tier: String,
}

/// `mxgate status` arguments.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Base URL of the gateway's admin listener (`[admin] listen`).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9090")]
    pub admin: String,
    /// Print the raw JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The `--config FILE` argument.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Path of mxgate.toml. Relative paths inside it are relative to its directory.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

/// Why a configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("can't read {path}: {source}")]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{} problem(s) in the configuration: {}", .0.len(), join_problems(.0))]
    Invalid(Vec<ConfigProblem>),
}

impl LoadError {
    /// A stable snake_case label for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            LoadError::Read { .. } => "config_unreadable",
            LoadError::Invalid(_) => "config_invalid",
        }
    }
}

const TOP_EXAMPLES: &str = "\
Examples:
  mxgate check-config --config /etc/mxgate/mxgate.toml
  mxgate serve --config /etc/mxgate/mxgate.toml
  mxgate keys fetch matrix.partner.example --address 203.0.113.7:8448 --ca partner-ca.pem
  mxgate keys show --config /etc/mxgate/mxgate.toml
  mxgate status --admin http://127.0.0.1:9090
  mxgate --log-format json serve --config /etc/mxgate/mxgate.toml

Configuration reference: docs/configuration.md";

const SERVE_EXAMPLES: &str = "\
Examples:
  mxgate serve --config /etc/mxgate/mxgate.toml
  RUST_LOG=mxgate=debug mxgate serve --config mxgate.toml
  mxgate --log-format json serve -c /etc/mxgate/mxgate.toml

The configuration is checked as by check-config before anything starts.";

const CHECK_EXAMPLES: &str = "\
Examples:
  mxgate check-config --config /etc/mxgate/mxgate.toml
  mxgate check-config -c examples/mxgate.toml && systemctl reload mxgate

Exit status: 0 = valid (a summary is printed), 1 = problems (each printed as
`key.path: problem`, e.g. `remote[1].keys.\"ed25519:a_1\": ...`).
Files named by the configuration (TLS certificates and keys, CA files, the
outbound secret) must exist.";

const KEYS_FETCH_EXAMPLES: &str = "\
Examples:
  mxgate keys fetch matrix.partner.example
  mxgate keys fetch matrix.partner.example --address 203.0.113.7:8448 --ca partner-ca.pem
  mxgate keys fetch 127.0.0.1:8448 --ca /tmp/ca.crt
  mxgate keys fetch matrix.partner.example -c /etc/mxgate/mxgate.toml >> new-remote.toml

The block goes to stdout (comments give each key's SHA-256 fingerprint and
validity): check the fingerprint with the partner out of band before pasting
it into mxgate.toml. Exit status 1 if the keys can't be fetched or validated.";

const KEYS_SHOW_EXAMPLES: &str = "\
Examples:
  mxgate keys show --config /etc/mxgate/mxgate.toml

States: pinned (from the config), cached, valid until DATE / expired since
DATE (fetched, under state_dir/keys), not cached, unreadable: WHY.";

const STATUS_EXAMPLES: &str = "\
Examples:
  mxgate status
  mxgate status --admin http://127.0.0.1:9090
  mxgate status --admin http://127.0.0.1:9090 --json | jq '.servers[] | select(.marker == \"red\")'

The same data is served as JSON at /status and as a web page at / on the
admin listener.";

/// Runs the command line `cli` and returns the process exit status.
pub fn run(cli: Cli) -> ExitCode {
    init_logging(cli.log_format);
    match cli.command {
        Command::CheckConfig(args) => check_config(&args.config),
        Command::Serve(args) => serve(&args.config),
        Command::Keys(KeysCommand::Fetch(args)) => keys_fetch(args),
        Command::Keys(KeysCommand::Show(args)) => keys_show(&args.config),
        Command::Status(args) => status(&args),
    }
}

/// Reads, parses and validates the configuration file at `path`, and checks
/// that every file it refers to exists.
pub fn load_config(path: &Path) -> Result<Config, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let absolute = std::path::absolute(path).map_err(read_error)?;
    let base_dir = absolute.parent().unwrap_or(Path::new("/"));
    let config = Config::from_toml_str(&text, base_dir).map_err(LoadError::Invalid)?;
    let missing: Vec<ConfigProblem> = config
        .referenced_files()
        .into_iter()
        .filter_map(|(key, file)| match std::fs::metadata(file) {
            Ok(meta) if meta.is_file() => None,
            Ok(_) => Some(ConfigProblem::invalid(
                key,
                "file",
                format!("{} is not a file", file.display()),
            )),
            Err(e) => Some(ConfigProblem::invalid(
                key,
                "file",
                format!("{}: {e}", file.display()),
            )),
        })
        .collect();
    if missing.is_empty() {
        Ok(config)
    } else {
        Err(LoadError::Invalid(missing))
    }
}

/// Sets up the global `tracing` subscriber, writing to stderr.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

fn check_config(path: &Path) -> ExitCode {
    match load_config(path) {
        Ok(config) => {
            outln!("{}: ok\n{}", path.display(), config.summary());
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid(problems)) => {
            for problem in &problems {
                outln!("{problem}");
            }
            outln!("{}: {} problem(s)", path.display(), problems.len());
            ExitCode::FAILURE
        }
        Err(e) => {
            outln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: &Path) -> ExitCode {
    let config = match load_config(path) {
        Ok(config) => config,
        Err(LoadError::Invalid(problems)) => {
            for problem in &problems {
                tracing::error!(config = %path.display(), "configuration problem: {problem}");
            }
            tracing::error!("{} configuration problem(s): not starting", problems.len());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            tracing::error!(reason = e.reason(), "{e}");
            return ExitCode::FAILURE;
        }
    };
    for line in config.summary().lines() {
        tracing::info!("{line}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::server::serve(config, path.to_owned())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(reason = error.reason(), "{error}");
            ExitCode::FAILURE
        }
    }
}

fn keys_fetch(args: KeysFetchArgs) -> ExitCode {
    let config = match &args.config {
        None => None,
        Some(path) => match load_config(path) {
            Ok(config) => Some(config),
            Err(error) => return fail(&error),
        },
    };
    let target =
        keys_cmd::FetchTarget::new(args.server_name, args.address, args.ca, config.as_ref());
    match block_on(keys_cmd::fetch(&target)) {
        Ok(Ok(keys)) => {
            out!(
                "{}",
                keys_cmd::remote_block(&keys, &target, &args.tier, SystemClock.now_ms())
            );
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => fail(&format!(
            "keys of {} not usable ({}): {error}",
            target.server,
            error.reason()
        )),
        Err(error) => fail(&error),
    }
}

fn keys_show(path: &Path) -> ExitCode {
    match load_config(path) {
        Ok(config) => {
            out!(
                "{}",
                keys_cmd::show_table(&keys_cmd::show(&config, SystemClock.now_ms()))
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

fn status(args: &StatusArgs) -> ExitCode {
    match block_on(status::fetch::fetch_snapshot(&args.admin)) {
        Ok(Ok(snapshot)) if args.json => match serde_json::to_string_pretty(&snapshot) {
            Ok(json) => {
                outln!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        Ok(Ok(snapshot)) => {
            out!("{}", status::render::text_table(&snapshot));
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => fail(&error),
        Err(error) => fail(&error),
    }
}

/// Runs `future` on a small current-thread runtime.
fn block_on<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// Prints `error` to stderr and returns failure.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("mxgate: {error}");
    ExitCode::FAILURE
}

fn parse_server_name(text: &str) -> Result<ServerName, String> {
    ServerName::parse(text).map_err(|e| e.to_string())
}

fn join_problems(problems: &[ConfigProblem]) -> String {
    let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
    rendered.join("; ")
}
