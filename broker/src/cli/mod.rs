//! The admin half of the `weir` command line: `weir topic …` and `weir group …` run against a
//! running broker over the Kafka protocol (see [`client`]), never by touching its data
//! directory.
//!
//! Exit codes: 0 on success, 1 when the broker answers with an error (printed as Kafka's error
//! name and message) or a request cannot be served, 2 when the broker cannot be reached or the
//! connection breaks (and for usage errors, which clap reports).

pub mod acl;
pub mod client;
pub mod group;
pub mod output;
pub mod table;
pub mod token;
pub mod topic;
pub mod user;

use std::fmt;

use clap::Args;
use kafka_protocol::error::ResponseError;

pub use acl::AclArgs;
pub use group::GroupArgs;
pub use table::TableArgs;
pub use token::TokenArgs;
pub use topic::TopicArgs;
pub use user::UserArgs;

/// The broker address and output format shared by every admin subcommand.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The broker to connect to, HOST:PORT (a comma-separated list is tried in order).
    #[arg(
        long,
        env = "WEIR_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT",
        global = true
    )]
    pub bootstrap: String,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// How to connect: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(
        long,
        env = "WEIR_SECURITY_PROTOCOL",
        default_value = "PLAINTEXT",
        global = true
    )]
    pub security_protocol: String,
    /// The SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(
        long,
        env = "WEIR_SASL_MECHANISM",
        default_value = "SCRAM-SHA-512",
        global = true
    )]
    pub sasl_mechanism: String,
    /// The SASL user.
    #[arg(long, env = "WEIR_SASL_USERNAME", global = true)]
    pub sasl_username: Option<String>,
    /// The SASL password (prefer the environment variable: flags show in `ps`).
    #[arg(
        long,
        env = "WEIR_SASL_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub sasl_password: Option<String>,
    /// PEM CA certificates the broker's TLS certificate must chain to (SSL, SASL_SSL).
    #[arg(long, env = "WEIR_SSL_CA_LOCATION", global = true)]
    pub ssl_ca_location: Option<std::path::PathBuf>,
}

impl ConnectArgs {
    /// Plain TCP to `bootstrap`, without a login (benchmarks, tests).
    pub fn plaintext(bootstrap: &str) -> ConnectArgs {
        ConnectArgs {
            bootstrap: bootstrap.to_string(),
            json: false,
            security_protocol: "PLAINTEXT".to_string(),
            sasl_mechanism: "SCRAM-SHA-512".to_string(),
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
        }
    }
}

/// Why an admin command failed.
#[derive(Debug)]
pub enum CliError {
    /// The broker could not be reached, the connection broke, or it answered with bytes that
    /// are not a Kafka response (exit code 2).
    Connection(String),
    /// The broker answered with a Kafka error code (exit code 1).
    Kafka {
        /// What was being done, e.g. "create topic events".
        context: String,
        code: i16,
        message: Option<String>,
    },
    /// Anything else that stops the command, e.g. an API the broker does not offer (exit 1).
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Connection(_) => 2,
            CliError::Kafka { .. } | CliError::Failed(_) => 1,
        }
    }

    /// `Err(Kafka)` for a non-zero error code.
    pub fn check(code: i16, message: Option<&str>, context: impl FnOnce() -> String) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        Err(CliError::Kafka {
            context: context(),
            code,
            message: message.map(str::to_string).filter(|m| !m.is_empty()),
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Connection(m) | CliError::Failed(m) => f.write_str(m),
            CliError::Kafka {
                context,
                code,
                message,
            } => {
                write!(f, "{context}: {}", error_name(*code))?;
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CliError {}

pub type Result<T> = std::result::Result<T, CliError>;

/// Kafka's name for an error code, e.g. `TOPIC_ALREADY_EXISTS` for 36.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => upper_snake(&e.to_string()),
    }
}

/// `TopicAlreadyExists` -> `TOPIC_ALREADY_EXISTS`.
fn upper_snake(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Runs one admin command to completion on a fresh single-threaded runtime and returns the
/// process exit code, having printed the result to stdout or the error to stderr.
pub fn run<F>(future: F) -> i32
where
    F: std::future::Future<Output = Result<()>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Parses `KEY=VALUE` (the value may itself contain `=` and `,`).
pub fn parse_key_value(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// GETs `url` from the broker's HTTP admin API: the status and the JSON body.
pub(crate) fn http_get_json(url: &str) -> Result<(u16, serde_json::Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| {
        CliError::Connection(format!("cannot reach the broker's HTTP API at {url}: {e}"))
    })?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| CliError::Connection(format!("broken answer from {url}: {e}")))?;
    let value = serde_json::from_str(&text)
        .map_err(|e| CliError::Connection(format!("answer from {url} is not JSON: {e}")))?;
    Ok((status, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(69), "GROUP_ID_NOT_FOUND");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("cleanup.policy=compact,delete"),
            Ok(("cleanup.policy".into(), "compact,delete".into()))
        );
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
