//! The commands: `genkey`, `server`, `status`, `key`, `store check` (and the hidden `board`
//! for the installers). Parses the command line (clap), hands `server`
//! a validated [`Config`], and maps every outcome to an exit code: 0 success, 1 a runtime
//! failure (data dir, keys, sockets, no node running), 2 a usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, RawConfig};
use crate::daemon;
use crate::nostr::{Keys, hex, nip19};

/// A personal Nostr node for small boards: your own relay on the home network, and an
/// encrypted peer-to-peer mesh with the nodes of the people you talk to.
#[derive(Debug, Parser)]
#[command(
    name = "nostrp2p",
    version,
    arg_required_else_help = true,
    after_help = "Start with `nostrp2p server`: it creates its data dir and keys on first run \
                  and prints what it serves.\nDocs: README.md; config keys: `nostrp2p server --help`."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a new Nostr key pair (nsec, secret hex, npub, public hex), as NostrP2P does.
    Genkey,
    /// Run the node in the foreground until Ctrl-C or SIGTERM.
    Server(Box<ServerArgs>),
    /// Ask the node running on this machine how it is doing.
    Status(StatusArgs),
    /// Move the owner key between the node and your Nostr apps.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Inspect the event store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print the board profile this machine gets and its memory cap (for the installers).
    #[command(hide = true)]
    Board(BoardArgs),
}

/// Flags of the hidden `nostrp2p board`, which the `.deb` and `scripts/install` run to write
/// the unit's `MemoryMax=` drop-in from the same detection the daemon uses.
#[derive(Debug, Args)]
struct BoardArgs {
    /// Board profile to use instead of detecting one (`auto` detects).
    #[arg(long, value_name = "NAME")]
    board: Option<String>,
    /// Print a systemd drop-in setting `MemoryMax=` to the board's `memory_max`.
    #[arg(long)]
    systemd_drop_in: bool,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Verify that every event has its index entries and every index entry its event; exits 1
    /// on damage. Run it with the node stopped (the data dir is locked while it runs).
    Check(KeyArgs),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print the owner's secret key (nsec) so you can import it into a Nostr app.
    Export(KeyArgs),
    /// Give the node an owner secret key (nsec or 64 hex), read from standard input. An
    /// existing different key is never replaced.
    Import(KeyArgs),
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// The node's data dir. [default: as `server` picks it]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Flags of `nostrp2p server`. Each overrides the config file and the `NOSTRP2P_*`
/// environment; upstream NostrP2P's flags keep their names and meanings.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Mesh address host:P (UDP); the HTTP API listens on P+1 and the websocket relay on P+2.
    /// [default: 0.0.0.0:20000]
    #[arg(short = 'l', long = "listen-addr-port", value_name = "HOST:PORT")]
    listen: Option<String>,
    /// A node already in the network, host:port (repeat for several).
    #[arg(short = 'b', long = "boot-peer-addr-port", value_name = "HOST:PORT")]
    boot_peers: Vec<String>,
    /// The owner's public key (npub or 64 hex). Without it the node keeps its own owner key
    /// in the data dir, created on first start.
    #[arg(short = 'p', long = "public-key", value_name = "NPUB|HEX")]
    public_key: Option<String>,
    /// Accept writes from clients (`-w=false` makes the node read-only). [default: true]
    #[arg(short = 'w', long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    writable: Option<bool>,
    /// Log debug lines. [default: false]
    #[arg(short = 'd', long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    debug: Option<bool>,
    /// Serve the API over TLS with fullchain.pem and privkey.pem from the working directory
    /// (or --tls-cert / --tls-key). [default: false]
    #[arg(short = 's', long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    ssl: Option<bool>,
    /// TLS certificate chain (PEM). [default: fullchain.pem]
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM). [default: privkey.pem]
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Where keys and events live. [default: $STATE_DIRECTORY under systemd, else
    /// ~/.local/share/nostrp2p]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A TOML config file. [default: DATA_DIR/config.toml when it exists]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Board profile (memory and storage budgets): rpi-zero-2w, rpi-3, rpi-4, rpi-5,
    /// armv7-router-256, x86_64-generic. [default: detected]
    #[arg(long, value_name = "NAME")]
    board: Option<String>,
    /// Another author whose events clients may publish, npub or hex (repeat for several).
    #[arg(long = "writer", value_name = "NPUB|HEX")]
    writers: Vec<String>,
    /// Accept valid events of any author from clients (a shared household node; benchmarks).
    /// [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    open_writes: Option<bool>,
    /// Let the API also answer 100.64.0.0/10 (Tailscale-style overlays). [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    allow_cgnat: Option<bool>,
    /// Mesh network name; nodes with different names cannot talk (labs, tests).
    /// [default: nostrp2p]
    #[arg(long, value_name = "NAME")]
    network_id: Option<String>,
    /// `always` (OK only after fsync) or `interval:<ms>` (OK at once, fsync at most every <ms>;
    /// a crash loses up to that window). [default: always]
    #[arg(long, value_name = "MODE")]
    store_sync: Option<String>,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The node's data dir. [default: the first of $STATE_DIRECTORY, /var/lib/nostrp2p,
    /// ~/.local/share/nostrp2p that holds a running node]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Entry point of the binary.
#[must_use]
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout with code 0, usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        Command::Genkey => genkey(),
        Command::Server(args) => server(*args),
        Command::Status(args) => status(&args),
        Command::Key(KeyCommand::Export(args)) => key_export(&args),
        Command::Key(KeyCommand::Import(args)) => key_import(&args),
        Command::Store(StoreCommand::Check(args)) => store_check(&args),
        Command::Board(args) => board(&args),
    }
}

/// Prints a fresh key pair in upstream NostrP2P's exact layout: eleven lines, the two "(In Hex
/// Representation): " labels ending in a space, "key" in lower case on the public one.
fn genkey() -> ExitCode {
    let keys = Keys::generate(daemon::os_random);
    let secret = keys.secret_bytes();
    let public = keys.public();
    print!(
        "Secret Key:\n{}\nSecret Key (In Hex Representation): \n{}\nPublic Key:\n{}\n\
         Public key (In Hex Representation): \n{}\n\nPlease keep the secret key secret.\n\
         The key is used only at NostrP2P client as your identity.\n",
        nip19::encode_nsec(&secret),
        hex::encode(&secret),
        nip19::encode_npub(&public),
        public.to_hex(),
    );
    ExitCode::SUCCESS
}

fn server(args: ServerArgs) -> ExitCode {
    let config = match resolve(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match daemon::serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn resolve(args: ServerArgs) -> Result<Config, config::ConfigError> {
    let flags = RawConfig {
        listen: args.listen,
        boot_peers: (!args.boot_peers.is_empty()).then_some(args.boot_peers),
        owner: args.public_key,
        writable: args.writable,
        debug: args.debug,
        ssl: args.ssl,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        data_dir: args.data_dir,
        board: args.board,
        writers: (!args.writers.is_empty()).then_some(args.writers),
        open_writes: args.open_writes,
        allow_cgnat: args.allow_cgnat,
        network_id: args.network_id,
        store_sync: args.store_sync,
    };
    config::resolve(
        flags,
        args.config,
        &config::from_process_env(),
        &config::ProcBoardProbe,
    )
}

fn status(args: &StatusArgs) -> ExitCode {
    let env = config::from_process_env();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = &args.data_dir {
        candidates.push(dir.clone());
    } else {
        if let Some(dir) = config::state_directory(&env) {
            candidates.push(dir);
        }
        candidates.push(PathBuf::from("/var/lib/nostrp2p"));
        if let Some(dir) = config::default_data_dir(&env) {
            candidates.push(dir);
        }
    }
    let Some((dir, running)) = candidates.iter().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join(daemon::datadir::RUNNING_FILE)).ok()?;
        Some((dir, text))
    }) else {
        let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
        eprintln!(
            "no running nostrp2p node found (looked in {}); start one with `nostrp2p server`",
            looked.join(", ")
        );
        return ExitCode::from(1);
    };
    let api = serde_json::from_str::<serde_json::Value>(&running)
        .ok()
        .and_then(|v| v["api"].as_str().and_then(|a| a.parse().ok()));
    let Some(api) = api else {
        eprintln!(
            "{} is damaged; restart the node",
            dir.join(daemon::datadir::RUNNING_FILE).display()
        );
        return ExitCode::from(1);
    };
    let target = daemon::local_target(api);
    match daemon::status::fetch(target, Duration::from_secs(5)) {
        Ok(body) => {
            print_status(dir, &body);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "the node of {} does not answer on {target} ({e}); it may have stopped \
                 uncleanly: start it with `nostrp2p server`",
                dir.display()
            );
            ExitCode::from(1)
        }
    }
}

/// The data dir a key command works on: `--data-dir`, else the one `server` would use.
fn key_data_dir(args: &KeyArgs) -> Result<PathBuf, ExitCode> {
    if let Some(dir) = &args.data_dir {
        return Ok(dir.clone());
    }
    config::default_data_dir(&config::from_process_env()).ok_or_else(|| {
        eprintln!("error: no data dir: give --data-dir (HOME is not set)");
        ExitCode::from(2)
    })
}

fn key_export(args: &KeyArgs) -> ExitCode {
    let dir = match key_data_dir(args) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    // Reading needs no lock: the key file is written once and never replaced.
    let path = dir.join(daemon::datadir::OWNER_KEY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "error: {} does not exist: this node holds no owner secret (it was started with -p, \
                 or has not run yet)",
                path.display()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    match nip19::decode_secret(text.trim())
        .ok()
        .and_then(|s| Keys::from_secret_bytes(s).ok())
    {
        Some(keys) => {
            eprintln!(
                "warning: this is the owner's secret key: anyone who has it can post as the owner"
            );
            println!("{}", nip19::encode_nsec(&keys.secret_bytes()));
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "error: key file {} is corrupt; it is left untouched",
                path.display()
            );
            ExitCode::from(1)
        }
    }
}

fn key_import(args: &KeyArgs) -> ExitCode {
    let dir = match key_data_dir(args) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    // From standard input, never from an argument: arguments end up in shell history and `ps`.
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: reading the key from standard input: {e}");
        return ExitCode::from(2);
    }
    let Some(keys) = nip19::decode_secret(line.trim())
        .ok()
        .and_then(|s| Keys::from_secret_bytes(s).ok())
    else {
        eprintln!("error: standard input: expected an nsec or 64 hex characters");
        return ExitCode::from(2);
    };
    let result = daemon::datadir::DataDir::open(&dir).and_then(|dd| dd.import_owner_keys(&keys));
    match result {
        Ok(true) => {
            println!("owner key imported: {}", nip19::encode_npub(&keys.public()));
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!(
                "owner key already present: {}",
                nip19::encode_npub(&keys.public())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(daemon::DaemonError::from(e).exit_code())
        }
    }
}

fn store_check(args: &KeyArgs) -> ExitCode {
    let dir = match key_data_dir(args) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    match daemon::store::check(&dir) {
        Ok(report) => {
            println!("{report}");
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The board profile `server` would pick with the same `--board` (and no config file or
/// environment), as one line or as the unit's memory drop-in.
fn board(args: &BoardArgs) -> ExitCode {
    let (profile, choice) = match args.board.as_deref() {
        None | Some(config::BOARD_AUTO) => config::detect(&config::ProcBoardProbe),
        Some(name) => match config::BoardProfile::builtin(name) {
            Some(profile) => (
                profile,
                config::BoardChoice::Named {
                    by: "flag --board".to_owned(),
                },
            ),
            None => {
                let names: Vec<&str> = config::BoardProfile::names().collect();
                eprintln!(
                    "error: --board {name:?}: expected auto or one of {}",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    let bytes = profile.memory_max.get();
    if args.systemd_drop_in {
        // The installers rewrite this file on every install; `systemctl edit` writes
        // override.conf, which sorts after it and so wins.
        print!(
            "# Written by the nostrp2p installer from board profile {} ({choice}).\n\
             # Rewritten on each install or upgrade: to change the cap, set NOSTRP2P_BOARD in\n\
             # /etc/default/nostrp2p and reinstall, or override it with `systemctl edit nostrp2p`.\n\
             [Service]\nMemoryMax={bytes}\n",
            profile.name
        );
    } else {
        println!(
            "{} ({choice}): MemoryMax={bytes} ({} MiB)",
            profile.name,
            bytes / (1024 * 1024)
        );
    }
    ExitCode::SUCCESS
}

fn print_status(dir: &std::path::Path, body: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        println!("{body}");
        return;
    };
    let text = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v[k].to_string())
    };
    let mib = |b: &serde_json::Value| {
        b.as_u64().map_or("?".to_owned(), |b| {
            format!("{:.1} MiB", b as f64 / 1_048_576.0)
        })
    };
    println!(
        "nostrp2p {} running for {} s",
        text("version"),
        v["uptime_secs"]
    );
    println!("  owner     {}", text("owner"));
    println!("  node id   {}", text("node_id"));
    println!("  data dir  {}", dir.display());
    println!("  board     {}", text("board"));
    println!(
        "  mesh      udp {} ({} peers)",
        v["listen"]["mesh"].as_str().unwrap_or("?"),
        v["mesh"]["peers"]
    );
    println!(
        "  api       http://{}",
        v["listen"]["api"].as_str().unwrap_or("?")
    );
    println!("  writable  {}", v["writable"]);
    let http = &v["http"];
    if http.is_object() {
        println!(
            "  rest      {} open, {} requests, {} refused off-LAN",
            http["open"], http["requests"], http["refused_not_lan"]
        );
    }
    println!(
        "  process   {} threads, {} resident",
        v["threads"],
        mib(&v["rss_bytes"])
    );
}
