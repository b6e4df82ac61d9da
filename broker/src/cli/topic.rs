//! `weir topic create|list|describe|delete|alter`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};
use uuid::Uuid;

use super::client::Client;
use super::output::{print_json, Table};
use super::{parse_key_value, CliError, ConnectArgs, Result};

const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs source of a config set on the topic itself.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// ListOffsets timestamps.
pub(crate) const LATEST: i64 = -1;
pub(crate) const EARLIEST: i64 = -2;
const TIMEOUT_MS: i32 = 30_000;

/// Manage topics on a running broker.
#[derive(Args, Debug)]
pub struct TopicArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: TopicCommand,
}

#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic (CreateTopics).
    Create {
        /// The topic name.
        name: String,
        /// Number of partitions (default: the broker's num.partitions).
        #[arg(long)]
        partitions: Option<i32>,
        /// A topic config, KEY=VALUE; repeat for more.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topics (Metadata).
    List {
        /// Also list internal topics.
        #[arg(long)]
        include_internal: bool,
    },
    /// Show a topic's partitions with their offsets and its non-default configs.
    Describe {
        /// The topic name.
        name: String,
        /// The broker's HTTP admin listener, HOST:PORT, for where the data is stored (local
        /// log and object store).
        #[arg(long, env = "WEIR_HTTP_ADDR", default_value = "127.0.0.1:9644")]
        http: String,
    },
    /// Delete a topic (DeleteTopics).
    Delete {
        /// The topic name.
        name: String,
    },
    /// Set or delete topic configs (IncrementalAlterConfigs).
    Alter {
        /// The topic name.
        name: String,
        /// Set a config, KEY=VALUE; repeat for more.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value,
              required_unless_present = "delete_configs")]
        configs: Vec<(String, String)>,
        /// Remove a config override (back to the default); repeat for more.
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
    },
}

/// Runs a `weir topic` subcommand.
pub async fn run(args: TopicArgs) -> Result<()> {
    let mut client = Client::connect(&args.connect).await?;
    let json = args.connect.json;
    match args.command {
        TopicCommand::Create {
            name,
            partitions,
            configs,
        } => create(&mut client, json, &name, partitions, &configs).await,
        TopicCommand::List { include_internal } => list(&mut client, json, include_internal).await,
        TopicCommand::Describe { name, http } => describe(&mut client, json, &name, &http).await,
        TopicCommand::Delete { name } => delete(&mut client, json, &name).await,
        TopicCommand::Alter {
            name,
            configs,
            delete_configs,
        } => alter(&mut client, json, &name, &configs, &delete_configs).await,
    }
}

pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn uuid_json(id: Uuid) -> Value {
    if id.is_nil() {
        Value::Null
    } else {
        Value::String(id.to_string())
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

async fn create(
    client: &mut Client,
    json: bool,
    name: &str,
    partitions: Option<i32>,
    configs: &[(String, String)],
) -> Result<()> {
    let version = client.version::<CreateTopicsRequest>(2, i16::MAX)?;
    // -1 (the broker's default) is understood from v4.
    let (num_partitions, replication_factor) = if version >= 4 {
        (partitions.unwrap_or(-1), -1)
    } else {
        (partitions.unwrap_or(1), 1)
    };
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(TIMEOUT_MS)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(num_partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            )]);
    let response = client.call_at(&request, version).await?;
    let result = response
        .topics
        .iter()
        .find(|t| t.name.as_str() == name)
        .ok_or_else(|| CliError::Failed(format!("the broker did not answer for topic {name}")))?;
    CliError::check(result.error_code, result.error_message.as_deref(), || {
        format!("cannot create topic {name}")
    })?;
    let partitions = if version >= 5 {
        result.num_partitions
    } else {
        num_partitions
    };
    let replication = if version >= 5 {
        result.replication_factor
    } else {
        replication_factor
    };
    if json {
        let mut config = BTreeMap::new();
        for c in result.configs.iter().flatten() {
            if c.config_source == SOURCE_DYNAMIC_TOPIC {
                config.insert(c.name.to_string(), json!(c.value.as_deref()));
            }
        }
        if result.configs.is_none() {
            for (k, v) in configs {
                config.insert(k.clone(), json!(v));
            }
        }
        print_json(&json!({
            "name": name,
            "topic_id": uuid_json(result.topic_id),
            "partitions": partitions,
            "replication_factor": replication,
            "configs": config,
        }));
    } else {
        println!(
            "Created topic {name} with {}.",
            plural(partitions.into(), "partition", "partitions")
        );
    }
    Ok(())
}

async fn metadata(
    client: &mut Client,
    topics: Option<&[&str]>,
) -> Result<Vec<MetadataResponseTopic>> {
    let version = client.version::<MetadataRequest>(1, i16::MAX)?;
    let mut request = MetadataRequest::default().with_topics(topics.map(|names| {
        names
            .iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
            .collect()
    }));
    if version >= 4 {
        request = request.with_allow_auto_topic_creation(false);
    }
    Ok(client.call_at(&request, version).await?.topics)
}

async fn list(client: &mut Client, json: bool, include_internal: bool) -> Result<()> {
    let mut topics: Vec<(String, Uuid, usize, bool)> = metadata(client, None)
        .await?
        .into_iter()
        .filter(|t| t.error_code == 0 && (include_internal || !t.is_internal))
        .filter_map(|t| {
            let name = t.name?.to_string();
            Some((name, t.topic_id, t.partitions.len(), t.is_internal))
        })
        .collect();
    topics.sort();
    if json {
        let items: Vec<Value> = topics
            .iter()
            .map(|(name, id, partitions, internal)| {
                json!({
                    "name": name,
                    "topic_id": uuid_json(*id),
                    "partitions": partitions,
                    "internal": internal,
                })
            })
            .collect();
        print_json(&Value::Array(items));
    } else {
        let mut table = Table::new(&["TOPIC", "PARTITIONS"]);
        for (name, _, partitions, _) in &topics {
            table.row(vec![name.clone(), partitions.to_string()]);
        }
        print!("{}", table.render());
    }
    Ok(())
}

/// The offsets at `timestamp` (EARLIEST or LATEST) of the given partitions: an offset or a
/// Kafka error code per partition.
pub(crate) async fn list_offsets(
    client: &mut Client,
    partitions: &BTreeMap<String, Vec<i32>>,
    timestamp: i64,
) -> Result<BTreeMap<(String, i32), std::result::Result<i64, i16>>> {
    let mut out = BTreeMap::new();
    if partitions.values().all(Vec::is_empty) {
        return Ok(out);
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            partitions
                .iter()
                .filter(|(_, ps)| !ps.is_empty())
                .map(|(topic, ps)| {
                    ListOffsetsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(
                            ps.iter()
                                .map(|&p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let version = client.version::<ListOffsetsRequest>(1, i16::MAX)?;
    let request = if version >= 10 {
        request.with_timeout_ms(TIMEOUT_MS)
    } else {
        request
    };
    let response = client.call_at(&request, version).await?;
    for t in response.topics {
        for p in t.partitions {
            let value = if p.error_code == 0 {
                Ok(p.offset)
            } else {
                Err(p.error_code)
            };
            out.insert((t.name.to_string(), p.partition_index), value);
        }
    }
    Ok(out)
}

/// Per partition: local start, local bytes, remote start, remote end, remote segments,
/// remote bytes (from the HTTP storage view).
type StorageRow = [String; 6];

/// The storage view of `name` from the HTTP admin API, by partition.
fn storage_rows(http: &str, name: &str) -> Result<(BTreeMap<i32, StorageRow>, Value)> {
    let url = format!("http://{http}/v1/topics/{name}/storage");
    let (status, body) = super::http_get_json(&url)?;
    if status != 200 {
        return Err(CliError::Failed(format!(
            "{url}: {}",
            body.get("error").and_then(Value::as_str).unwrap_or("error")
        )));
    }
    let field = |p: &Value, k: &str| match p.get(k) {
        Some(Value::Null) | None => "-".to_string(),
        Some(v) => v.to_string(),
    };
    let rows = body
        .get("partitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let index = p.get("partition")?.as_i64()? as i32;
            Some((
                index,
                [
                    field(p, "local_start_offset"),
                    field(p, "local_bytes"),
                    field(p, "remote_start_offset"),
                    field(p, "remote_end_offset"),
                    field(p, "remote_segments"),
                    field(p, "remote_bytes"),
                ],
            ))
        })
        .collect();
    Ok((rows, body))
}

async fn describe(client: &mut Client, json: bool, name: &str, http: &str) -> Result<()> {
    let topics = metadata(client, Some(&[name])).await?;
    let topic = topics
        .into_iter()
        .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some(name))
        .ok_or_else(|| CliError::Failed(format!("the broker did not describe topic {name}")))?;
    CliError::check(topic.error_code, None, || {
        format!("cannot describe topic {name}")
    })?;

    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(str_bytes(name))
            .with_configuration_keys(None)]);
    let response = client.call(&request).await?;
    let result = response
        .results
        .into_iter()
        .find(|r| r.resource_name.as_str() == name)
        .ok_or_else(|| {
            CliError::Failed(format!("the broker did not describe the configs of {name}"))
        })?;
    CliError::check(result.error_code, result.error_message.as_deref(), || {
        format!("cannot describe the configs of topic {name}")
    })?;
    let configs: BTreeMap<String, Option<String>> = result
        .configs
        .into_iter()
        .filter(|c| c.config_source == SOURCE_DYNAMIC_TOPIC)
        .map(|c| {
            let value = if c.is_sensitive {
                None
            } else {
                c.value.map(|v| v.to_string())
            };
            (c.name.to_string(), value)
        })
        .collect();

    let mut partitions = topic.partitions;
    partitions.sort_by_key(|p| p.partition_index);
    let wanted = BTreeMap::from([(
        name.to_string(),
        partitions.iter().map(|p| p.partition_index).collect(),
    )]);
    let earliest = list_offsets(client, &wanted, EARLIEST).await?;
    let latest = list_offsets(client, &wanted, LATEST).await?;
    let offset = |map: &BTreeMap<(String, i32), std::result::Result<i64, i16>>, p: i32| match map
        .get(&(name.to_string(), p))
    {
        Some(Ok(o)) => Ok(*o),
        Some(Err(code)) => Err(CliError::Kafka {
            context: format!("cannot list the offsets of {name}-{p}"),
            code: *code,
            message: None,
        }),
        None => Err(CliError::Failed(format!(
            "the broker did not list the offsets of {name}-{p}"
        ))),
    };
    let mut rows = Vec::new();
    for p in &partitions {
        rows.push((
            p.partition_index,
            p.leader_id.0,
            offset(&earliest, p.partition_index)?,
            offset(&latest, p.partition_index)?,
        ));
    }

    // Where the data lives needs the HTTP API; without it the rest is still worth printing.
    let storage = match storage_rows(http, name) {
        Ok(found) => Some(found),
        Err(e) => {
            eprintln!("warning: no storage details: {e}");
            None
        }
    };
    if json {
        let by_partition = |p: i32| {
            storage.as_ref().and_then(|(_, body)| {
                body.get("partitions")?
                    .as_array()?
                    .iter()
                    .find(|v| v.get("partition").and_then(Value::as_i64) == Some(i64::from(p)))
                    .cloned()
            })
        };
        let parts: Vec<Value> = rows
            .iter()
            .map(|(p, leader, start, end)| {
                json!({
                    "partition": p,
                    "leader": leader,
                    "log_start_offset": start,
                    "log_end_offset": end,
                    "storage": by_partition(*p),
                })
            })
            .collect();
        print_json(&json!({
            "name": name,
            "topic_id": uuid_json(topic.topic_id),
            "internal": topic.is_internal,
            "partitions": parts,
            "configs": configs,
        }));
    } else {
        println!("Topic: {name}");
        if !topic.topic_id.is_nil() {
            println!("Topic ID: {}", topic.topic_id);
        }
        println!("Partitions: {}", rows.len());
        if configs.is_empty() {
            println!("Configs: (none)");
        } else {
            let list: Vec<String> = configs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(sensitive)")))
                .collect();
            println!("Configs: {}", list.join(", "));
        }
        println!();
        let mut headings = vec!["PARTITION", "LEADER", "LOG START OFFSET", "LOG END OFFSET"];
        if storage.is_some() {
            headings.extend([
                "LOCAL START OFFSET",
                "LOCAL BYTES",
                "REMOTE START OFFSET",
                "REMOTE END OFFSET",
                "REMOTE SEGMENTS",
                "REMOTE BYTES",
            ]);
        }
        let mut table = Table::new(&headings);
        for (p, leader, start, end) in &rows {
            let mut row = vec![
                p.to_string(),
                leader.to_string(),
                start.to_string(),
                end.to_string(),
            ];
            if let Some((by_partition, _)) = &storage {
                match by_partition.get(p) {
                    Some(cells) => row.extend(cells.iter().cloned()),
                    None => row.extend(std::iter::repeat_n("-".to_string(), 6)),
                }
            }
            table.row(row);
        }
        print!("{}", table.render());
    }
    Ok(())
}

async fn delete(client: &mut Client, json: bool, name: &str) -> Result<()> {
    let version = client.version::<DeleteTopicsRequest>(1, i16::MAX)?;
    let mut request = DeleteTopicsRequest::default().with_timeout_ms(TIMEOUT_MS);
    if version >= 6 {
        request = request.with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name(name)))
        ]);
    } else {
        request = request.with_topic_names(vec![topic_name(name)]);
    }
    let response = client.call_at(&request, version).await?;
    let result = response
        .responses
        .iter()
        .find(|r| r.name.as_ref().map(|n| n.as_str()) == Some(name))
        .or_else(|| response.responses.first())
        .ok_or_else(|| CliError::Failed(format!("the broker did not answer for topic {name}")))?;
    CliError::check(result.error_code, result.error_message.as_deref(), || {
        format!("cannot delete topic {name}")
    })?;
    if json {
        print_json(&json!({ "name": name, "topic_id": uuid_json(result.topic_id) }));
    } else {
        println!("Deleted topic {name}.");
    }
    Ok(())
}

async fn alter(
    client: &mut Client,
    json: bool,
    name: &str,
    set: &[(String, String)],
    remove: &[String],
) -> Result<()> {
    let mut configs: Vec<AlterableConfig> = set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(str_bytes(k))
                .with_config_operation(OP_SET)
                .with_value(Some(str_bytes(v)))
        })
        .collect();
    configs.extend(remove.iter().map(|k| {
        AlterableConfig::default()
            .with_name(str_bytes(k))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    }));
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(str_bytes(name))
            .with_configs(configs),
    ]);
    let response = client.call(&request).await?;
    let result = response
        .responses
        .iter()
        .find(|r| r.resource_name.as_str() == name)
        .or_else(|| response.responses.first())
        .ok_or_else(|| CliError::Failed(format!("the broker did not answer for topic {name}")))?;
    CliError::check(result.error_code, result.error_message.as_deref(), || {
        format!("cannot alter topic {name}")
    })?;
    if json {
        let set: BTreeMap<&str, &str> = set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        print_json(&json!({ "name": name, "set": set, "deleted": remove }));
    } else {
        let mut parts = Vec::new();
        if !set.is_empty() {
            let list: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("set {}", list.join(", ")));
        }
        if !remove.is_empty() {
            parts.push(format!("deleted {}", remove.join(", ")));
        }
        println!("Altered topic {name}: {}.", parts.join("; "));
    }
    Ok(())
}
