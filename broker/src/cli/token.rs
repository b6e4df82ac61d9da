//! `weir token create|list|revoke`: bearer tokens for services calling the HTTP admin API,
//! kept in the data directory (`meta/tokens.json`). A running broker re-reads the file when
//! it changes, so tokens created or revoked here apply at once.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use weir_auth::{Principal, TokenStore};

/// `weir token …`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The broker's data directory.
    #[arg(
        long,
        env = "WEIR_DATA_DIR",
        default_value = "weir-data",
        global = true
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token acting as a principal; prints it once (it is not stored).
    Create {
        /// The principal, `User:name` (its ACLs decide what the token may do).
        #[arg(long)]
        principal: String,
        /// What the token is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List tokens (ids, principals, descriptions; never the tokens).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The id `list` shows.
        id: String,
    },
}

/// Runs the command; prints what it did.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let store = TokenStore::open(&args.data_dir.join("meta"))?;
    match args.command {
        TokenCommand::Create {
            principal,
            description,
        } => {
            let Some(("User", name)) = principal.split_once(':').filter(|(_, n)| !n.is_empty())
            else {
                anyhow::bail!("principal {principal:?} is not of the form User:name");
            };
            let (info, token) = store.create(&Principal::user(name), &description)?;
            eprintln!("token {} for {} (shown once):", info.id, info.principal);
            println!("{token}");
        }
        TokenCommand::List => {
            for t in store.list()? {
                println!("{}\t{}\t{}", t.id, t.principal, t.description);
            }
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(store.revoke(&id)?, "no token {id}");
            println!("token {id} revoked");
        }
    }
    Ok(())
}
