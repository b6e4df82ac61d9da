//! The topic registry: which topics exist, their ids, configs and partition logs.
//!
//! Reads (every produce and fetch) go through an [`ArcSwap`] snapshot and take no lock;
//! changes (create, delete, add partitions, alter configs) are serialised by one mutex, write
//! the topic's definition ([`definitions`]: `<data-dir>/meta/topics/<name>.json` and a copy,
//! atomically), then publish a new snapshot. Partition `p` of topic `t` lives in `<data-dir>/topics/t-p/`. Changes do
//! disk work (directories, fsyncs, RocksDB): handlers call them on the blocking pool. They
//! are bounded by the partition limits ([`limits`]).

mod definitions;
mod limits;
mod partition;
mod trash;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use kafka_protocol::error::ResponseError;
use metrics::Counter;
use uuid::Uuid;
use weir_storage::PartitionLog;
use weir_tiering::{PartitionId, TieredPartition, Tiering};

use definitions::{Definitions, TopicRecord};
pub use limits::{check_request_partitions, logs_per_partition};
pub use partition::Partition;

use crate::config::BrokerConfig;
use crate::errors::{ApiError, ApiResult};
use crate::tables::TablePartition;
use crate::topic_config;

/// Per-topic metric handles, created once so the produce and fetch paths never allocate labels.
pub struct TopicMetrics {
    pub bytes_in: Counter,
    pub records_in: Counter,
    pub bytes_out: Counter,
}

impl TopicMetrics {
    fn new(topic: &str) -> TopicMetrics {
        let label = [("topic", topic.to_string())];
        TopicMetrics {
            bytes_in: metrics::counter!("weir_bytes_in_total", &label),
            records_in: metrics::counter!("weir_records_in_total", &label),
            bytes_out: metrics::counter!("weir_bytes_out_total", &label),
        }
    }
}

/// A topic: name, id, explicit config overrides and partitions.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    configs: ArcSwap<BTreeMap<String, String>>,
    partitions: ArcSwap<Vec<Arc<Partition>>>,
    pub metrics: TopicMetrics,
    /// For the read-only `T.changelog` view of table topic `T`: `T`.
    pub changelog_of: Option<String>,
}

/// The suffix naming a table topic's changelog.
pub const CHANGELOG_SUFFIX: &str = ".changelog";

impl Topic {
    /// The explicitly set configs (name -> value).
    pub fn configs(&self) -> Arc<BTreeMap<String, String>> {
        self.configs.load_full()
    }

    /// All partitions, by index.
    pub fn partitions(&self) -> Arc<Vec<Arc<Partition>>> {
        self.partitions.load_full()
    }

    /// One partition, if it exists.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.load().get(i).cloned())
    }
}

/// An immutable view of all topics, indexed by name and by id; replaced on every change.
/// `base` holds the real topics; `by_name` adds the `T.changelog` view of each table topic.
#[derive(Default, Clone)]
struct Snapshot {
    base: HashMap<String, Arc<Topic>>,
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

/// The id of the changelog view of the table topic with id `source`: derived, so it is stable.
fn changelog_topic_id(source: Uuid) -> Uuid {
    Uuid::from_u128(source.as_u128() ^ 0x6368_616e_6765_6c6f_6700_0000_0000_0001)
}

/// The read-only changelog view of a table topic (None for a log topic).
fn changelog_view(topic: &Topic) -> Option<Topic> {
    let partitions = topic.partitions();
    if partitions.iter().all(|p| p.table.is_none()) {
        return None;
    }
    let name = format!("{}{CHANGELOG_SUFFIX}", topic.name);
    let views = partitions
        .iter()
        .filter_map(|p| {
            let table = p.table.as_ref()?;
            let tiered = p.changelog_tiered.clone()?;
            let labels = [("topic", name.clone()), ("partition", p.index.to_string())];
            Some(Arc::new(Partition {
                index: p.index,
                log: table.changelog.clone(),
                end_offset_gauge: metrics::gauge!("weir_log_end_offset", &labels),
                size_gauge: metrics::gauge!("weir_log_size_bytes", &labels),
                table: None,
                tiered,
                changelog_tiered: None,
            }))
        })
        .collect();
    Some(Topic {
        id: changelog_topic_id(topic.id),
        metrics: TopicMetrics::new(&name),
        name,
        configs: ArcSwap::from_pointee(BTreeMap::new()),
        partitions: ArcSwap::from_pointee(views),
        changelog_of: Some(topic.name.clone()),
    })
}

impl Snapshot {
    fn from_names(base: HashMap<String, Arc<Topic>>) -> Snapshot {
        let mut by_name = base.clone();
        for t in base.values() {
            if let Some(view) = changelog_view(t) {
                by_name.insert(view.name.clone(), Arc::new(view));
            }
        }
        let by_id = by_name.values().map(|t| (t.id, t.clone())).collect();
        Snapshot {
            base,
            by_name,
            by_id,
        }
    }
}

/// All topics of this broker.
pub struct TopicRegistry {
    broker: Arc<BrokerConfig>,
    tiering: Arc<Tiering>,
    topics: ArcSwap<Snapshot>,
    changes: parking_lot::Mutex<()>,
    /// The value typing of each table topic, shared by its partitions.
    typings: parking_lot::Mutex<HashMap<String, Arc<crate::tables::ValueTyping>>>,
}

/// Makes the tiered files of a table topic's partition carry its typed values (when
/// `value.format=json`), with the table's schema at the time each file is written.
fn type_tiered_files(tiered: &weir_tiering::TieredPartition, table: &Arc<TablePartition>) {
    let table = Arc::downgrade(table);
    tiered.set_value_schema_source(Arc::new(move || {
        table.upgrade().and_then(|t| t.value_schema())
    }));
}

/// Kafka's rules for topic names.
pub fn validate_topic_name(name: &str) -> ApiResult<()> {
    let invalid = |why: String| Err(ApiError::new(ResponseError::InvalidTopicException, why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid(format!("Topic name cannot be \"{name}\""));
    }
    if name.len() > 249 {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {}",
            name.escape_debug()
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return invalid(format!(
            "Topic name \"{}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'",
            name.escape_debug()
        ));
    }
    Ok(())
}

impl TopicRegistry {
    fn definitions(&self) -> Definitions {
        Definitions::new(&self.broker.data_dir.join("meta"))
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.broker
            .data_dir
            .join("topics")
            .join(format!("{topic}-{index}"))
    }

    /// Loads every persisted topic and recovers its partitions.
    pub fn open(broker: Arc<BrokerConfig>, tiering: Arc<Tiering>) -> anyhow::Result<TopicRegistry> {
        let registry = TopicRegistry {
            broker,
            tiering,
            topics: ArcSwap::from_pointee(Snapshot::default()),
            changes: parking_lot::Mutex::new(()),
            typings: parking_lot::Mutex::new(HashMap::new()),
        };
        trash::purge(&registry.broker.data_dir)?;
        let definitions = registry.definitions();
        let records = definitions.load_all()?;
        definitions.backfill(&records)?;
        let mut topics = HashMap::new();
        for record in records {
            let topic = registry.build_topic(&record)?;
            tracing::info!(topic = %record.name, partitions = record.partitions, "loaded topic");
            topics.insert(record.name.clone(), Arc::new(topic));
        }
        registry
            .topics
            .store(Arc::new(Snapshot::from_names(topics)));
        Ok(registry)
    }

    fn open_partition(
        &self,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<Partition, ApiError> {
        let dir = self.partition_dir(topic, index);
        let log = PartitionLog::open(&dir, topic_config::log_config(configs, &self.broker))?;
        let labels = [
            ("topic", topic.to_string()),
            ("partition", index.to_string()),
        ];
        let log = Arc::new(log);
        let table = match topic_config::table_settings(configs, &self.broker) {
            Some(settings) => Some(Arc::new(
                self.open_table(topic, index, &log, configs, settings)?,
            )),
            None => None,
        };
        let changelog_tiered = table
            .as_ref()
            .map(|t| self.tier_changelog(topic, topic_id, index, t));
        let tiered = self.tiering.partition(
            PartitionId {
                topic: topic.to_string(),
                topic_id: topic_id.to_string(),
                partition: index,
                changelog: false,
            },
            log.clone(),
        );
        if let Some(t) = &table {
            type_tiered_files(&tiered, t);
        }
        let partition = Partition {
            index,
            table,
            tiered,
            changelog_tiered,
            log,
            end_offset_gauge: metrics::gauge!("weir_log_end_offset", &labels),
            size_gauge: metrics::gauge!("weir_log_size_bytes", &labels),
        };
        partition
            .end_offset_gauge
            .set(partition.log.log_end_offset() as f64);
        partition.size_gauge.set(partition.log.size_bytes() as f64);
        Ok(partition)
    }

    fn changelog_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.broker
            .data_dir
            .join("topics")
            .join(format!("{topic}{CHANGELOG_SUFFIX}-{index}"))
    }

    /// The tiering state of a table partition's changelog log.
    fn tier_changelog(
        &self,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        table: &TablePartition,
    ) -> Arc<TieredPartition> {
        self.tiering.partition(
            PartitionId {
                topic: format!("{topic}{CHANGELOG_SUFFIX}"),
                topic_id: changelog_topic_id(topic_id).to_string(),
                partition: index,
                changelog: true,
            },
            table.changelog.clone(),
        )
    }

    /// The log configuration of a table topic's changelog: the broker's defaults plus the
    /// tiering settings of the table topic.
    fn changelog_config(&self, configs: &BTreeMap<String, String>) -> weir_storage::LogConfig {
        let inherited = configs
            .iter()
            .filter(|(k, _)| topic_config::CHANGELOG_INHERITED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut config = topic_config::log_config(&inherited, &self.broker);
        // The changelog is fsynced only after its source (produce, table maintenance), never
        // on a schedule of its own: it must never be durable past source records that are not.
        config.write_caching = false;
        config
    }

    fn open_table(
        &self,
        topic: &str,
        index: i32,
        log: &PartitionLog,
        configs: &BTreeMap<String, String>,
        settings: topic_config::TableSettings,
    ) -> ApiResult<TablePartition> {
        let changelog_config = self.changelog_config(configs);
        let typing = self
            .typings
            .lock()
            .entry(topic.to_string())
            .or_default()
            .clone();
        TablePartition::open(
            topic,
            index,
            &self.partition_dir(topic, index).join("table"),
            (&self.changelog_dir(topic, index), changelog_config),
            log,
            settings,
            typing,
        )
    }

    fn build_topic(&self, record: &TopicRecord) -> Result<Topic, ApiError> {
        let partitions = (0..record.partitions)
            .map(|i| {
                self.open_partition(&record.name, record.id, i, &record.configs)
                    .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Topic {
            name: record.name.clone(),
            id: record.id,
            configs: ArcSwap::from_pointee(record.configs.clone()),
            partitions: ArcSwap::from_pointee(partitions),
            metrics: TopicMetrics::new(&record.name),
            changelog_of: None,
        })
    }

    fn persist(&self, topic: &Topic) -> ApiResult<()> {
        let record = TopicRecord {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.load().len() as i32,
            configs: (*topic.configs()).clone(),
        };
        self.definitions()
            .save(&record)
            .map_err(|e| ApiError::new(ResponseError::KafkaStorageError, e.to_string()))
    }

    /// Partitions the broker holds, changelog partitions of table topics included.
    pub fn partitions_held(&self) -> usize {
        self.topics
            .load()
            .base
            .values()
            .map(|t| limits::held_by(t))
            .sum()
    }

    /// A topic by name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.load().by_name.get(name).cloned()
    }

    /// One partition of a topic, or UNKNOWN_TOPIC_OR_PARTITION.
    pub fn partition(&self, topic: &str, index: i32) -> ApiResult<Arc<Partition>> {
        self.get(topic)
            .and_then(|t| t.partition(index))
            .ok_or_else(|| unknown_topic(topic))
    }

    /// A topic by id.
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.load().by_id.get(&id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.topics.load().by_name.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The broker configuration topics take their defaults from.
    pub fn broker(&self) -> &BrokerConfig {
        &self.broker
    }

    /// Validates a set of topic configs: each value, then how they combine with each other
    /// and the broker's defaults.
    pub fn validate_configs(&self, configs: &BTreeMap<String, String>) -> ApiResult<()> {
        let invalid = |m| ApiError::new(ResponseError::InvalidConfig, m);
        for (name, value) in configs {
            topic_config::validate(name, Some(value)).map_err(invalid)?;
        }
        topic_config::validate_combination(configs, &self.broker).map_err(invalid)
    }

    /// Creates a topic (or only checks that it could be created).
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> ApiResult<Arc<Topic>> {
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("Number of partitions must be larger than 0, got {partitions}"),
            ));
        }
        if name.ends_with(CHANGELOG_SUFFIX) {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                format!("Topic names ending in {CHANGELOG_SUFFIX} are reserved for the changelogs of table topics: {name}"),
            ));
        }
        self.validate_configs(&configs)?;
        let _guard = self.changes.lock();
        if self.get(name).is_some() {
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let adding = partitions as usize * logs_per_partition(&configs, &self.broker);
        limits::check_total(&self.broker, self.partitions_held(), adding)?;
        let record = TopicRecord {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(Arc::new(Topic {
                name: record.name,
                id: record.id,
                configs: ArcSwap::from_pointee(record.configs),
                partitions: ArcSwap::from_pointee(Vec::new()),
                metrics: TopicMetrics::new(name),
                changelog_of: None,
            }));
        }
        // Leftovers of an earlier topic of the same name must not leak into the new one.
        for i in 0..partitions {
            trash::discard(&self.broker.data_dir, &self.partition_dir(name, i))?;
        }
        let topic = Arc::new(self.build_topic(&record)?);
        self.persist(&topic)?;
        self.publish(|map| {
            map.insert(name.to_string(), topic.clone());
        });
        tracing::info!(topic = name, partitions, id = %topic.id, "created topic");
        Ok(topic)
    }

    fn publish(&self, change: impl FnOnce(&mut HashMap<String, Arc<Topic>>)) {
        let mut map = self.topics.load().base.clone();
        change(&mut map);
        self.topics.store(Arc::new(Snapshot::from_names(map)));
    }

    /// Deletes a topic and all its data.
    pub fn delete(&self, name: &str) -> ApiResult<Arc<Topic>> {
        let _guard = self.changes.lock();
        let topic = self.get(name).ok_or_else(|| unknown_topic(name))?;
        if let Some(source) = &topic.changelog_of {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                format!("{name} is the changelog of table topic {source}; delete {source} instead"),
            ));
        }
        self.definitions()
            .remove(name)
            .map_err(|e| ApiError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        self.publish(|map| {
            map.remove(name);
        });
        self.typings.lock().remove(name);
        for p in topic.partitions().iter() {
            trash::discard(&self.broker.data_dir, &self.partition_dir(name, p.index))?;
            trash::discard(&self.broker.data_dir, &self.changelog_dir(name, p.index))?;
            for tiered in std::iter::once(&p.tiered).chain(&p.changelog_tiered) {
                self.tiering.delete_partition(tiered);
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Raises the partition count of a topic to `count`.
    pub fn add_partitions(&self, name: &str, count: i32, validate_only: bool) -> ApiResult<()> {
        let _guard = self.changes.lock();
        let topic = self.get(name).ok_or_else(|| unknown_topic(name))?;
        let current = topic.partitions.load().len() as i32;
        if count < current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("Topic currently has {current} partitions, which is higher than the requested {count}."),
            ));
        }
        if count == current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("Topic already has {current} partitions."),
            ));
        }
        let configs = topic.configs();
        let adding = (count - current) as usize * logs_per_partition(&configs, &self.broker);
        limits::check_total(&self.broker, self.partitions_held(), adding)?;
        if validate_only {
            return Ok(());
        }
        let mut partitions = (*topic.partitions()).clone();
        for i in current..count {
            trash::discard(&self.broker.data_dir, &self.partition_dir(name, i))?;
            partitions.push(Arc::new(self.open_partition(name, topic.id, i, &configs)?));
        }
        topic.partitions.store(Arc::new(partitions));
        self.persist(&topic)?;
        self.publish(|_| {});
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Replaces a topic's explicit configs (already validated by the caller).
    pub fn set_configs(&self, name: &str, configs: BTreeMap<String, String>) -> ApiResult<()> {
        let _guard = self.changes.lock();
        let topic = self.get(name).ok_or_else(|| unknown_topic(name))?;
        if topic.changelog_of.is_some() {
            return Err(ApiError::new(
                ResponseError::InvalidConfig,
                format!("{name} is a changelog; alter the configs of its table topic instead"),
            ));
        }
        let log_config = topic_config::log_config(&configs, &self.broker);
        let changelog_config = self.changelog_config(&configs);
        let table = topic_config::table_settings(&configs, &self.broker);
        if table.is_some() {
            // Becoming a table adds a changelog partition to every partition without one.
            let partitions = topic.partitions();
            let adding = partitions.iter().filter(|p| p.table.is_none()).count();
            if adding > 0 {
                limits::check_total(&self.broker, self.partitions_held(), adding)?;
            }
        }
        let mut rebuilt = Vec::new();
        for p in topic.partitions().iter() {
            p.log.set_config(log_config.clone());
            let table_now = match (&p.table, table.clone()) {
                (Some(t), Some(settings)) => {
                    t.set_settings(settings);
                    t.changelog.set_config(changelog_config.clone());
                    continue;
                }
                (None, None) => continue,
                // Becoming a table: build the state from the retained log.
                (None, Some(settings)) => {
                    let t = Arc::new(self.open_table(name, p.index, &p.log, &configs, settings)?);
                    type_tiered_files(&p.tiered, &t);
                    let tiered = self.tier_changelog(name, topic.id, p.index, &t);
                    Some((t, tiered))
                }
                // No longer a table: drop the state and the changelog.
                (Some(_), None) => {
                    trash::discard(
                        &self.broker.data_dir,
                        &self.partition_dir(name, p.index).join("table"),
                    )?;
                    trash::discard(&self.broker.data_dir, &self.changelog_dir(name, p.index))?;
                    if let Some(tiered) = &p.changelog_tiered {
                        self.tiering.delete_partition(tiered);
                    }
                    None
                }
            };
            rebuilt.push((p.index, table_now));
        }
        topic.configs.store(Arc::new(configs));
        self.persist(&topic)?;
        if !rebuilt.is_empty() {
            let mut partitions = (*topic.partitions()).clone();
            for (index, table) in rebuilt {
                if let Some(slot) = partitions.get_mut(index as usize) {
                    let old = slot.clone();
                    let (table, changelog_tiered) = table.unzip();
                    *slot = Arc::new(Partition {
                        index,
                        log: old.log.clone(),
                        end_offset_gauge: old.end_offset_gauge.clone(),
                        size_gauge: old.size_gauge.clone(),
                        tiered: old.tiered.clone(),
                        table,
                        changelog_tiered,
                    });
                }
            }
            topic.partitions.store(Arc::new(partitions));
            self.publish(|_| {});
        }
        Ok(())
    }

    /// Flushes and closes every partition (clean shutdown).
    pub fn close_all(&self) {
        for topic in self.list() {
            for p in topic.partitions().iter() {
                if let Err(e) = p.log.close() {
                    tracing::error!(topic = %topic.name, partition = p.index, error = %e, "close failed");
                }
                if let Some(Err(e)) = p.table.as_ref().map(|t| t.close()) {
                    tracing::error!(topic = %topic.name, partition = p.index, error = %e, "table flush failed");
                }
            }
        }
    }
}

/// The error for a topic name that does not exist.
pub fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(
        ResponseError::UnknownTopicOrPartition,
        format!("This server does not host this topic: {name}"),
    )
}
