//! `weir acl add|list|remove`: the ACLs of a data directory (`meta/acls.json`), edited in
//! place — to grant the first rights before the first start, or while the broker is stopped.
//! A running broker keeps its own copy: change its ACLs over the Kafka protocol instead
//! (CreateAcls / DeleteAcls, as Java's AdminClient, `kafka-acls` and confluent-kafka do).

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use weir_auth::{
    AclBinding, AclFilter, AclStore, Operation, PatternType, Permission, ResourceType, CLUSTER_NAME,
};

/// `weir acl …`.
#[derive(Args, Debug)]
pub struct AclArgs {
    /// The broker's data directory.
    #[arg(
        long,
        env = "WEIR_DATA_DIR",
        default_value = "weir-data",
        global = true
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: AclCommand,
}

/// The resource an ACL names.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("resource").args(["topic", "group", "cluster", "transactional_id"])))]
pub struct ResourceArgs {
    /// A topic (or topic prefix, with --prefixed; `*` for all topics).
    #[arg(long)]
    pub topic: Option<String>,
    /// A consumer group (or prefix; `*` for all).
    #[arg(long)]
    pub group: Option<String>,
    /// The cluster.
    #[arg(long)]
    pub cluster: bool,
    /// A transactional id (or prefix; `*` for all).
    #[arg(long)]
    pub transactional_id: Option<String>,
    /// The name is a prefix (PREFIXED pattern) instead of a literal name.
    #[arg(long)]
    pub prefixed: bool,
}

impl ResourceArgs {
    fn resource(&self) -> Option<(ResourceType, String)> {
        if self.cluster {
            return Some((ResourceType::Cluster, CLUSTER_NAME.to_string()));
        }
        [
            (ResourceType::Topic, &self.topic),
            (ResourceType::Group, &self.group),
            (ResourceType::TransactionalId, &self.transactional_id),
        ]
        .into_iter()
        .find_map(|(kind, name)| name.clone().map(|n| (kind, n)))
    }

    fn pattern(&self) -> PatternType {
        if self.prefixed {
            PatternType::Prefixed
        } else {
            PatternType::Literal
        }
    }
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum AclCommand {
    /// Allow (or with --deny, deny) a principal operations on a resource.
    Add {
        /// The principal, `User:name` (`User:*` for everyone).
        #[arg(long)]
        principal: String,
        /// Operations (Read, Write, Create, Delete, Alter, Describe, ClusterAction,
        /// DescribeConfigs, AlterConfigs, IdempotentWrite, All); repeat or comma-separate.
        #[arg(long, required = true, value_delimiter = ',')]
        operation: Vec<String>,
        #[command(flatten)]
        resource: ResourceArgs,
        /// The client host (IP address) the ACL applies to.
        #[arg(long, default_value = "*")]
        host: String,
        /// A Deny ACL (beats every Allow).
        #[arg(long)]
        deny: bool,
    },
    /// List the ACLs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove every ACL matching the given selectors (all given must match).
    Remove {
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
        /// Only these operations.
        #[arg(long, value_delimiter = ',')]
        operation: Vec<String>,
        #[command(flatten)]
        resource: ResourceArgs,
        /// Only for this host.
        #[arg(long)]
        host: Option<String>,
        /// Only Deny ACLs.
        #[arg(long)]
        deny: bool,
    },
}

fn operations(names: &[String]) -> anyhow::Result<Vec<Operation>> {
    names
        .iter()
        .map(|n| {
            Operation::parse(n)
                .filter(|o| *o != Operation::Any)
                .ok_or_else(|| anyhow::anyhow!("unknown operation {n}"))
        })
        .collect()
}

fn permission(deny: bool) -> Permission {
    if deny {
        Permission::Deny
    } else {
        Permission::Allow
    }
}

/// Runs the command; prints what it did.
pub fn run(args: AclArgs) -> anyhow::Result<()> {
    let store = AclStore::open(&args.data_dir.join("meta"))?;
    match args.command {
        AclCommand::Add {
            principal,
            operation,
            resource,
            host,
            deny,
        } => {
            let (kind, name) = resource.resource().ok_or_else(|| {
                anyhow::anyhow!(
                    "name a resource: --topic, --group, --cluster or --transactional-id"
                )
            })?;
            let bindings = operations(&operation)?
                .into_iter()
                .map(|op| {
                    let b = AclBinding {
                        resource_type: kind,
                        resource_name: name.clone(),
                        pattern_type: resource.pattern(),
                        principal: principal.clone(),
                        host: host.clone(),
                        operation: op,
                        permission: permission(deny),
                    };
                    b.validate()?;
                    Ok(b)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            store.add(&bindings)?;
            for b in &bindings {
                println!("added: {b}");
            }
        }
        AclCommand::List { json } => {
            let all = store.list(&AclFilter::any());
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for b in all {
                    println!("{b}");
                }
            }
        }
        AclCommand::Remove {
            principal,
            operation,
            resource,
            host,
            deny,
        } => {
            let target = resource.resource();
            let base = AclFilter {
                resource_type: target.as_ref().map_or(ResourceType::Any, |(k, _)| *k),
                resource_name: target.map(|(_, n)| n),
                pattern_type: if resource.prefixed {
                    PatternType::Prefixed
                } else {
                    PatternType::Any
                },
                principal,
                host,
                operation: Operation::Any,
                permission: if deny {
                    Permission::Deny
                } else {
                    Permission::Any
                },
            };
            let filters: Vec<AclFilter> = if operation.is_empty() {
                vec![base]
            } else {
                operations(&operation)?
                    .into_iter()
                    .map(|op| AclFilter {
                        operation: op,
                        ..base.clone()
                    })
                    .collect()
            };
            let removed: Vec<AclBinding> = store.remove(&filters)?.into_iter().flatten().collect();
            anyhow::ensure!(!removed.is_empty(), "no ACL matches");
            for b in removed {
                println!("removed: {b}");
            }
        }
    }
    Ok(())
}
