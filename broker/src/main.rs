//! The `weir` command line: `weir serve` runs the broker (see the `weir_broker` library);
//! `weir topic …` and `weir group …` administer a running one (see `weir_broker::cli`).

use clap::{Parser, Subcommand};
use weir_broker::cli::{self, AclArgs, GroupArgs, TableArgs, TokenArgs, TopicArgs, UserArgs};
use weir_broker::config::{BrokerConfig, LogFormat, ServeArgs};
use weir_broker::server;

/// Weir: a Kafka-compatible streaming-storage broker.
#[derive(Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker. Every setting can also be given as a WEIR_* environment variable or in
    /// the TOML file named by --config; flags win over the environment, which wins over the file.
    Serve(Box<ServeArgs>),
    /// Manage topics on a running broker: create, list, describe, delete, alter.
    Topic(TopicArgs),
    /// Inspect consumer groups on a running broker: list, describe.
    Group(GroupArgs),
    /// Look up table topics on a running broker (over its HTTP admin API): get, history.
    Table(TableArgs),
    /// Manage the users of a data directory (before the first start, or while stopped):
    /// add, list, delete.
    User(UserArgs),
    /// Manage the ACLs of a data directory (before the first start, or while stopped):
    /// add, list, remove. A running broker's ACLs are managed with CreateAcls/DeleteAcls.
    Acl(AclArgs),
    /// Manage the bearer tokens of the HTTP admin API: create, list, revoke.
    Token(TokenArgs),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = BrokerConfig::resolve(*args)?;
            init_logging(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(server::run(config))
        }
        Command::Topic(args) => std::process::exit(cli::run(cli::topic::run(args))),
        Command::Group(args) => std::process::exit(cli::run(cli::group::run(args))),
        Command::Table(args) => std::process::exit(cli::run(cli::table::run(args))),
        Command::User(args) => cli::user::run(args),
        Command::Acl(args) => cli::acl::run(args),
        Command::Token(args) => cli::token::run(args),
    }
}
