//! `weir table get|history`: table lookups through the broker's HTTP admin API
//! (`/v1/tables/{topic}/keys/{key}`), printing the same data as text or JSON.

use base64::Engine;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::{CliError, Result};

/// Arguments of `weir table`.
#[derive(Args, Debug)]
pub struct TableArgs {
    /// The broker's HTTP admin listener, HOST:PORT.
    #[arg(
        long,
        env = "WEIR_HTTP_ADDR",
        default_value = "127.0.0.1:9644",
        global = true
    )]
    pub http: String,
    /// Print the broker's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: TableCommand,
}

/// `weir table` subcommands.
#[derive(Subcommand, Debug)]
pub enum TableCommand {
    /// The current value of KEY (or its value as of a timestamp or offset).
    Get {
        topic: String,
        key: String,
        /// Milliseconds since the epoch: the value as of the last change at or before it.
        #[arg(long, conflicts_with = "as_of_offset")]
        as_of: Option<i64>,
        /// A source offset: the value as of the last change at or before it.
        #[arg(long)]
        as_of_offset: Option<i64>,
    },
    /// Every change of KEY: op, offset, timestamp, value.
    History { topic: String, key: String },
}

fn url(http: &str, topic: &str, key: &str, suffix: &str) -> String {
    // Keys travel as `b64:` so any byte string is addressable without percent-encoding.
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes());
    format!("http://{http}/v1/tables/{topic}/keys/b64:{key}{suffix}")
}

fn text(v: &Value, field: &str) -> String {
    match (v.get(field), v.get(format!("{field}_base64"))) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::String(b))) => format!("base64:{b}"),
        (Some(Value::Null), _) | (None, None) => "null".to_string(),
        (Some(other), _) => other.to_string(),
        (None, Some(other)) => other.to_string(),
    }
}

/// Runs `weir table …`.
pub async fn run(args: TableArgs) -> Result<()> {
    let (topic, key, suffix) = match &args.command {
        TableCommand::Get {
            topic,
            key,
            as_of,
            as_of_offset,
        } => {
            let query = match (as_of, as_of_offset) {
                (Some(ts), _) => format!("?as_of={ts}"),
                (None, Some(o)) => format!("?as_of_offset={o}"),
                (None, None) => String::new(),
            };
            (topic, key, query)
        }
        TableCommand::History { topic, key } => (topic, key, "/history".to_string()),
    };
    let (status, body) = super::http_get_json(&url(&args.http, topic, key, &suffix))?;
    if status != 200 {
        let why = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("request failed");
        return Err(CliError::Failed(format!(
            "{topic} {key}: HTTP {status}: {why}"
        )));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return Ok(());
    }
    match args.command {
        TableCommand::Get { .. } => {
            println!(
                "key={} partition={} offset={} timestamp={} value={}",
                text(&body, "key"),
                body["partition"],
                body["offset"],
                body["timestamp"],
                text(&body, "value")
            );
        }
        TableCommand::History { .. } => {
            println!("OP  PARTITION  OFFSET  TIMESTAMP  VALUE");
            for c in body["changes"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  {}  {}  {}",
                    c["op"].as_str().unwrap_or("?"),
                    c["partition"],
                    c["offset"],
                    c["timestamp"],
                    text(c, "value")
                );
            }
        }
    }
    Ok(())
}
