//! `weir user add|list|delete`: the users of a data directory, edited in place — to create
//! the first admin before the first start, or while the broker is stopped. A running broker
//! keeps its own copy: change its users over the Kafka protocol instead
//! (AlterUserScramCredentials, as Java's AdminClient and `kafka-configs` do).

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use weir_auth::{CredentialStore, ScramMechanism, DEFAULT_ITERATIONS};

/// `weir user …`.
#[derive(Args, Debug)]
pub struct UserArgs {
    /// The broker's data directory.
    #[arg(
        long,
        env = "WEIR_DATA_DIR",
        default_value = "weir-data",
        global = true
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user or change its password: SCRAM credentials for each mechanism (PLAIN
    /// checks the same). The password is read from stdin, or from WEIR_USER_PASSWORD.
    Add {
        /// The user name.
        name: String,
        /// Mechanisms to store a credential for.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "SCRAM-SHA-256,SCRAM-SHA-512"
        )]
        mechanism: Vec<String>,
        /// PBKDF2 iterations (4096 to 16384).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
    /// List users with their mechanisms and iterations.
    List,
    /// Delete a user.
    Delete {
        /// The user name.
        name: String,
    },
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("WEIR_USER_PASSWORD") {
        return Ok(p);
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let p = input.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(
        !p.is_empty(),
        "no password on stdin (or WEIR_USER_PASSWORD)"
    );
    Ok(p)
}

/// Runs the command; prints what it did.
pub fn run(args: UserArgs) -> anyhow::Result<()> {
    let meta = args.data_dir.join("meta");
    let store = CredentialStore::open(&meta)?;
    match args.command {
        UserCommand::Add {
            name,
            mechanism,
            iterations,
        } => {
            let mechanisms = mechanism
                .iter()
                .map(|m| {
                    ScramMechanism::from_name(m)
                        .ok_or_else(|| anyhow::anyhow!("unknown SCRAM mechanism {m}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let password = password()?;
            for m in mechanisms {
                store.set_password(&name, m, password.as_bytes(), iterations)?;
            }
            println!("user {name}: {}", mechanism.join(", "));
        }
        UserCommand::List => {
            for (user, credentials) in store.describe() {
                let list: Vec<String> = credentials
                    .iter()
                    .map(|(m, i)| format!("{} (iterations {i})", m.name()))
                    .collect();
                println!("{user}\t{}", list.join(", "));
            }
        }
        UserCommand::Delete { name } => {
            anyhow::ensure!(store.remove_user(&name)?, "no user {name}");
            println!("user {name} deleted");
        }
    }
    Ok(())
}
