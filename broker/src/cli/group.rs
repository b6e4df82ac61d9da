//! `weir group list|describe`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use clap::{Args, Subcommand};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, DescribeGroupsRequest, GroupId, ListGroupsRequest,
    OffsetFetchRequest,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use serde_json::{json, Value};

use super::client::Client;
use super::output::{opt, print_json, Table};
use super::topic::{list_offsets, LATEST};
use super::{CliError, ConnectArgs, Result};

/// Inspect consumer groups on a running broker.
#[derive(Args, Debug)]
pub struct GroupArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List groups with their state and protocol type (ListGroups).
    List,
    /// Show a group's members and assignments, and per partition its committed offset, log end
    /// offset and lag.
    Describe {
        /// The group id.
        group: String,
    },
}

/// Runs a `weir group` subcommand.
pub async fn run(args: GroupArgs) -> Result<()> {
    let mut client = Client::connect(&args.connect).await?;
    let json = args.connect.json;
    match args.command {
        GroupCommand::List => list(&mut client, json).await,
        GroupCommand::Describe { group } => describe(&mut client, json, &group).await,
    }
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

async fn list(client: &mut Client, json: bool) -> Result<()> {
    let version = client.version::<ListGroupsRequest>(0, i16::MAX)?;
    let response = client
        .call_at(&ListGroupsRequest::default(), version)
        .await?;
    CliError::check(response.error_code, None, || {
        "cannot list groups".to_string()
    })?;
    let mut groups: Vec<(String, Option<String>, String)> = response
        .groups
        .into_iter()
        .map(|g| {
            // The state is reported from v4.
            let state = (version >= 4).then(|| g.group_state.to_string());
            (g.group_id.to_string(), state, g.protocol_type.to_string())
        })
        .collect();
    groups.sort();
    if json {
        let items: Vec<Value> = groups
            .iter()
            .map(|(id, state, protocol_type)| {
                json!({ "group_id": id, "state": state, "protocol_type": protocol_type })
            })
            .collect();
        print_json(&Value::Array(items));
    } else {
        let mut table = Table::new(&["GROUP", "STATE", "PROTOCOL TYPE"]);
        for (id, state, protocol_type) in &groups {
            table.row(vec![
                id.clone(),
                state.as_deref().map_or_else(|| "-".to_string(), dash),
                dash(protocol_type),
            ]);
        }
        print!("{}", table.render());
    }
    Ok(())
}

/// A member's assignment decoded as the consumer protocol's, topic -> partitions.
enum Assignment {
    Partitions(BTreeMap<String, Vec<i32>>),
    /// Bytes that are not a consumer-protocol assignment.
    Opaque(usize),
}

/// Decodes `ConsumerProtocolAssignment` bytes; the version is the leading i16 (versions newer
/// than the crate knows are read as its newest, as they only add trailing fields).
fn decode_assignment(bytes: &Bytes) -> Assignment {
    if bytes.is_empty() {
        return Assignment::Partitions(BTreeMap::new());
    }
    if bytes.len() < 2 {
        return Assignment::Opaque(bytes.len());
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version < 0 {
        return Assignment::Opaque(bytes.len());
    }
    let mut body = bytes.slice(2..);
    match ConsumerProtocolAssignment::decode(&mut body, version.min(3)) {
        Ok(a) => {
            let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for tp in a.assigned_partitions {
                out.entry(tp.topic.to_string())
                    .or_default()
                    .extend(tp.partitions);
            }
            for ps in out.values_mut() {
                ps.sort_unstable();
                ps.dedup();
            }
            Assignment::Partitions(out)
        }
        Err(_) => Assignment::Opaque(bytes.len()),
    }
}

struct Member {
    member_id: String,
    instance_id: Option<String>,
    client_id: String,
    host: String,
    assignment: Assignment,
}

/// Committed offsets of a group: (topic, partition) -> (offset, metadata).
async fn committed_offsets(
    client: &mut Client,
    group: &str,
) -> Result<BTreeMap<(String, i32), (i64, Option<String>)>> {
    // v2+: a null topic list means every topic with a commit. v10 names topics by id, which
    // this client does not resolve, so stop at v9.
    let version = client.version::<OffsetFetchRequest>(2, 9)?;
    let group_id = GroupId(StrBytes::from_string(group.to_string()));
    let request = if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(group_id)
            .with_topics(None)])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(group_id)
            .with_topics(None)
    };
    let response = client.call_at(&request, version).await?;
    let context = || format!("cannot fetch the committed offsets of group {group}");
    let mut out = BTreeMap::new();
    let mut add =
        |topic: String, partition: i32, offset: i64, metadata: Option<StrBytes>, error: i16| {
            // Per-partition errors and "no commit" (-1) leave the partition out.
            if error == 0 && offset >= 0 {
                out.insert(
                    (topic, partition),
                    (offset, metadata.map(|m| m.to_string())),
                );
            }
        };
    if version >= 8 {
        let g = response
            .groups
            .into_iter()
            .find(|g| g.group_id.as_str() == group)
            .ok_or_else(|| {
                CliError::Failed(format!("the broker did not answer OffsetFetch for {group}"))
            })?;
        CliError::check(g.error_code, None, context)?;
        for t in g.topics {
            for p in t.partitions {
                add(
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.metadata,
                    p.error_code,
                );
            }
        }
    } else {
        CliError::check(response.error_code, None, context)?;
        for t in response.topics {
            for p in t.partitions {
                add(
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.metadata,
                    p.error_code,
                );
            }
        }
    }
    Ok(out)
}

async fn describe(client: &mut Client, json: bool, group: &str) -> Result<()> {
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    let response = client.call(&request).await?;
    let described = response
        .groups
        .into_iter()
        .find(|g| g.group_id.as_str() == group)
        .ok_or_else(|| CliError::Failed(format!("the broker did not describe group {group}")))?;
    CliError::check(
        described.error_code,
        described.error_message.as_deref(),
        || format!("cannot describe group {group}"),
    )?;
    if described.group_state.as_str() == "Dead" {
        return Err(CliError::Failed(format!("group {group} does not exist")));
    }
    let consumer = described.protocol_type.as_str() == "consumer";
    let mut members: Vec<Member> = described
        .members
        .iter()
        .map(|m| Member {
            member_id: m.member_id.to_string(),
            instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
            assignment: if consumer || m.member_assignment.is_empty() {
                decode_assignment(&m.member_assignment)
            } else {
                Assignment::Opaque(m.member_assignment.len())
            },
        })
        .collect();
    members.sort_by(|a, b| a.member_id.cmp(&b.member_id));

    let committed = committed_offsets(client, group).await?;
    // Partitions to report: those with a commit and those assigned to a member.
    let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
    for m in &members {
        if let Assignment::Partitions(a) = &m.assignment {
            for (topic, ps) in a {
                for &p in ps {
                    owner.insert((topic.clone(), p), m.member_id.clone());
                }
            }
        }
    }
    let keys: BTreeSet<(String, i32)> = committed.keys().chain(owner.keys()).cloned().collect();
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in &keys {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let ends = list_offsets(client, &by_topic, LATEST).await?;
    struct Row {
        topic: String,
        partition: i32,
        committed: Option<i64>,
        metadata: Option<String>,
        end: Option<i64>,
        lag: Option<i64>,
        member: Option<String>,
    }
    let rows: Vec<Row> = keys
        .iter()
        .map(|key| {
            let c = committed.get(key);
            let end = ends.get(key).and_then(|r| r.ok());
            let offset = c.map(|(o, _)| *o);
            Row {
                topic: key.0.clone(),
                partition: key.1,
                committed: offset,
                metadata: c.and_then(|(_, m)| m.clone()),
                end,
                lag: match (offset, end) {
                    (Some(o), Some(e)) => Some((e - o).max(0)),
                    _ => None,
                },
                member: owner.get(key).cloned(),
            }
        })
        .collect();

    if json {
        let members_json: Vec<Value> = members
            .iter()
            .map(|m| {
                let assignment = match &m.assignment {
                    Assignment::Partitions(a) => json!(a
                        .iter()
                        .map(|(t, ps)| json!({ "topic": t, "partitions": ps }))
                        .collect::<Vec<_>>()),
                    Assignment::Opaque(_) => Value::Null,
                };
                json!({
                    "member_id": m.member_id,
                    "group_instance_id": m.instance_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "assignment": assignment,
                })
            })
            .collect();
        let offsets_json: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "topic": r.topic,
                    "partition": r.partition,
                    "committed_offset": r.committed,
                    "metadata": r.metadata,
                    "log_end_offset": r.end,
                    "lag": r.lag,
                    "member_id": r.member,
                })
            })
            .collect();
        print_json(&json!({
            "group_id": group,
            "state": described.group_state.as_str(),
            "protocol_type": described.protocol_type.as_str(),
            "protocol": described.protocol_data.as_str(),
            "members": members_json,
            "offsets": offsets_json,
        }));
        return Ok(());
    }

    println!("Group: {group}");
    println!("State: {}", described.group_state.as_str());
    println!("Protocol type: {}", dash(described.protocol_type.as_str()));
    println!("Protocol: {}", dash(described.protocol_data.as_str()));
    println!("Members: {}", members.len());
    if !members.is_empty() {
        println!();
        let static_members = members.iter().any(|m| m.instance_id.is_some());
        let mut headers = vec!["MEMBER ID"];
        if static_members {
            headers.push("INSTANCE ID");
        }
        headers.extend(["CLIENT ID", "HOST", "ASSIGNMENT"]);
        let mut table = Table::new(&headers);
        for m in &members {
            let assignment = match &m.assignment {
                Assignment::Partitions(a) if a.is_empty() => "-".to_string(),
                Assignment::Partitions(a) => a
                    .iter()
                    .map(|(t, ps)| {
                        let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
                        format!("{t}:{}", ps.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Assignment::Opaque(n) => format!("({n} bytes)"),
            };
            let mut row = vec![m.member_id.clone()];
            if static_members {
                row.push(m.instance_id.clone().unwrap_or_else(|| "-".to_string()));
            }
            row.extend([dash(&m.client_id), dash(&m.host), assignment]);
            table.row(row);
        }
        print!("{}", table.render());
    }
    println!();
    if rows.is_empty() {
        println!("No committed offsets.");
    } else {
        let mut table = Table::new(&[
            "TOPIC",
            "PARTITION",
            "COMMITTED OFFSET",
            "LOG END OFFSET",
            "LAG",
        ]);
        for r in &rows {
            table.row(vec![
                r.topic.clone(),
                r.partition.to_string(),
                opt(r.committed),
                opt(r.end),
                opt(r.lag),
            ]);
        }
        print!("{}", table.render());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::Encodable;

    fn encoded(version: i16) -> Bytes {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![2, 0]),
        ]);
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        a.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_assignments_of_each_version() {
        for v in 0..=3 {
            match decode_assignment(&encoded(v)) {
                Assignment::Partitions(a) => {
                    assert_eq!(a, BTreeMap::from([("t".to_string(), vec![0, 2])]))
                }
                Assignment::Opaque(_) => panic!("v{v} not decoded"),
            }
        }
        assert!(matches!(
            decode_assignment(&Bytes::from_static(b"\x00\x00\xff")),
            Assignment::Opaque(3)
        ));
        assert!(matches!(
            decode_assignment(&Bytes::new()),
            Assignment::Partitions(a) if a.is_empty()
        ));
    }
}
