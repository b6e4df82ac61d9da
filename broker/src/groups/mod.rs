//! The classic group coordinator: every group lives on this node.
//!
//! [`GroupCoordinator`] owns the groups ([`group::Group`], one state machine each), their
//! committed offsets, and their durable record ([`store`]). Handlers call it with decoded
//! requests; answers that wait for other members come back through oneshot channels. A timer
//! task ([`run_timers`]) expires sessions and rebalance deadlines.

pub mod group;
pub mod store;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

use group::{Group, GroupState, JoinOutcome, JoinRequest, SyncOutcome, SyncRequest};
use store::{GroupStore, StoreRecord, StoredOffset};

/// Timing limits, from the broker configuration.
#[derive(Debug, Clone)]
pub struct GroupLimits {
    /// group.min.session.timeout.ms
    pub min_session_timeout_ms: i32,
    /// group.max.session.timeout.ms
    pub max_session_timeout_ms: i32,
    /// offsets.retention.minutes
    pub offsets_retention_ms: i64,
}

/// A member as DescribeGroups reports it.
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups reports it.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub generation: i32,
    pub members: Vec<MemberDescription>,
}

/// All groups of this broker.
pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Group>>,
    store: GroupStore,
    limits: GroupLimits,
}

impl GroupCoordinator {
    /// Loads persisted groups and offsets.
    pub fn open(meta_dir: &Path, limits: GroupLimits) -> anyhow::Result<GroupCoordinator> {
        let (store, snapshot) = GroupStore::open(meta_dir)?;
        let now_ms = crate::handlers::now_ms();
        let mut groups = HashMap::new();
        let mut offsets = snapshot.offsets;
        for (id, stored) in snapshot.groups {
            let o = offsets.remove(&id).unwrap_or_default();
            groups.insert(id.clone(), Group::restore(&id, stored, o, now_ms));
        }
        for (id, o) in offsets {
            let mut g = Group::new(&id, now_ms);
            g.offsets = o;
            groups.insert(id, g);
        }
        if !groups.is_empty() {
            tracing::info!(groups = groups.len(), "loaded consumer groups");
        }
        Ok(GroupCoordinator {
            groups: Mutex::new(groups),
            store,
            limits,
        })
    }

    fn persist_if_dirty(&self, group: &mut Group) {
        if group.dirty && matches!(group.state, GroupState::Stable | GroupState::Empty) {
            group.dirty = false;
            self.store.append(vec![StoreRecord::Group {
                group: group.id.clone(),
                value: group.to_stored(),
            }]);
        }
    }

    /// Handles JoinGroup.
    pub fn join(&self, group_id: &str, req: JoinRequest) -> oneshot::Receiver<JoinOutcome> {
        let fail = |e: ResponseError, member: &str| {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(JoinOutcome::error(e, member));
            rx
        };
        if group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId, &req.member_id);
        }
        let timeout = req.session_timeout.as_millis() as i64;
        if timeout < i64::from(self.limits.min_session_timeout_ms)
            || timeout > i64::from(self.limits.max_session_timeout_ms)
        {
            return fail(ResponseError::InvalidSessionTimeout, &req.member_id);
        }
        let mut groups = self.groups.lock();
        if !groups.contains_key(group_id) {
            if !req.member_id.is_empty() {
                return fail(ResponseError::UnknownMemberId, &req.member_id);
            }
            groups.insert(
                group_id.to_string(),
                Group::new(group_id, crate::handlers::now_ms()),
            );
        }
        let Some(group) = groups.get_mut(group_id) else {
            return fail(ResponseError::CoordinatorNotAvailable, &req.member_id);
        };
        let rx = group.join(req);
        self.persist_if_dirty(group);
        rx
    }

    /// Handles SyncGroup.
    pub fn sync(&self, group_id: &str, req: SyncRequest) -> oneshot::Receiver<SyncOutcome> {
        let mut groups = self.groups.lock();
        match groups.get_mut(group_id) {
            Some(group) => {
                let rx = group.sync(req);
                self.persist_if_dirty(group);
                rx
            }
            None => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(SyncOutcome {
                    error: Some(ResponseError::UnknownMemberId),
                    protocol_type: None,
                    protocol: None,
                    assignment: Bytes::new(),
                });
                rx
            }
        }
    }

    /// Handles Heartbeat.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        let mut groups = self.groups.lock();
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        group.heartbeat(member_id, instance_id, generation)
    }

    /// Handles LeaveGroup for each (member id, instance id); the outer error is for the group.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        let mut groups = self.groups.lock();
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        let results = members
            .iter()
            .map(|(m, i)| group.leave(m, i.as_deref()))
            .collect();
        self.persist_if_dirty(group);
        Ok(results)
    }

    /// Handles OffsetCommit for already-validated partitions; answers once they are durable.
    pub async fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: Vec<(String, i32, StoredOffset)>,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        // What the commit replaces, put back if it cannot be made durable: a commit that was
        // not stored must not be what OffsetFetch answers.
        let mut replaced = Vec::new();
        let records = {
            let mut groups = self.groups.lock();
            if !groups.contains_key(group_id) {
                if generation >= 0 {
                    return Err(ResponseError::IllegalGeneration);
                }
                groups.insert(
                    group_id.to_string(),
                    Group::new(group_id, crate::handlers::now_ms()),
                );
            }
            let group = groups
                .get_mut(group_id)
                .ok_or(ResponseError::CoordinatorNotAvailable)?;
            group.check_commit(member_id, instance_id, generation)?;
            let records: Vec<StoreRecord> = offsets
                .into_iter()
                .map(|(topic, partition, value)| {
                    let key = (topic.clone(), partition);
                    let before = group.offsets.insert(key.clone(), value.clone());
                    replaced.push((key, before, value.clone()));
                    StoreRecord::Offset {
                        group: group_id.to_string(),
                        topic,
                        partition,
                        value,
                    }
                })
                .collect();
            records
        };
        self.store.append_durable(records).await.map_err(|e| {
            tracing::error!(error = %e, group = group_id, "offset commit not persisted");
            let mut groups = self.groups.lock();
            if let Some(group) = groups.get_mut(group_id) {
                for (key, before, ours) in replaced {
                    // Only where no later commit has replaced ours meanwhile.
                    if group.offsets.get(&key) == Some(&ours) {
                        match before {
                            Some(b) => group.offsets.insert(key, b),
                            None => group.offsets.remove(&key),
                        };
                    }
                }
            }
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// Committed offsets of a group: all of them, or those of the given partitions.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, i32, Option<StoredOffset>)> {
        let groups = self.groups.lock();
        let offsets = groups.get(group_id).map(|g| &g.offsets);
        match wanted {
            Some(list) => list
                .into_iter()
                .flat_map(|(topic, partitions)| {
                    partitions.into_iter().map(move |p| (topic.clone(), p))
                })
                .map(|(topic, p)| {
                    let o = offsets.and_then(|o| o.get(&(topic.clone(), p))).cloned();
                    (topic, p, o)
                })
                .collect(),
            None => {
                let mut all: Vec<_> = offsets
                    .map(|o| {
                        o.iter()
                            .map(|((t, p), v)| (t.clone(), *p, Some(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
                all
            }
        }
    }

    /// The topics the group's current members are subscribed to (consumer protocol only).
    fn subscribed_topics(group: &Group) -> Vec<String> {
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::Decodable;
        let protocol = group.protocol.clone().unwrap_or_default();
        let mut topics = Vec::new();
        if group.protocol_type.as_deref() != Some("consumer") {
            return topics;
        }
        for m in group.members.values() {
            let mut metadata = m.metadata(&protocol);
            if metadata.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([metadata[0], metadata[1]]);
            let _ = bytes::Buf::get_i16(&mut metadata);
            if let Ok(sub) =
                ConsumerProtocolSubscription::decode(&mut metadata, version.clamp(0, 3))
            {
                topics.extend(sub.topics.iter().map(|t| t.as_str().to_string()));
            }
        }
        topics
    }

    /// Handles OffsetDelete: per partition, an error if the group still consumes the topic.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let (results, records) = {
            let mut groups = self.groups.lock();
            let group = groups
                .get_mut(group_id)
                .ok_or(ResponseError::GroupIdNotFound)?;
            if group.state != GroupState::Empty
                && group.protocol_type.as_deref() != Some("consumer")
            {
                return Err(ResponseError::NonEmptyGroup);
            }
            let subscribed = Self::subscribed_topics(group);
            let mut records = Vec::new();
            let results = partitions
                .into_iter()
                .map(|(topic, p)| {
                    if subscribed.contains(&topic) {
                        return Some(ResponseError::GroupSubscribedToTopic);
                    }
                    if group.offsets.remove(&(topic.clone(), p)).is_some() {
                        records.push(StoreRecord::OffsetDeleted {
                            group: group_id.to_string(),
                            topic,
                            partition: p,
                        });
                    }
                    None
                })
                .collect();
            (results, records)
        };
        if !records.is_empty() {
            self.store
                .append_durable(records)
                .await
                .map_err(|_| ResponseError::CoordinatorNotAvailable)?;
        }
        Ok(results)
    }

    /// Every group: (id, protocol type, state).
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let groups = self.groups.lock();
        let mut all: Vec<_> = groups
            .values()
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// DescribeGroups data for one group, if it exists.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.groups.lock();
        let g = groups.get(group_id)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        let stable = g.state == GroupState::Stable;
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            generation: g.generation,
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata(&protocol),
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// Handles DeleteGroups for one group.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), ResponseError> {
        {
            let mut groups = self.groups.lock();
            let group = groups.get(group_id).ok_or(ResponseError::GroupIdNotFound)?;
            if group.state != GroupState::Empty {
                return Err(ResponseError::NonEmptyGroup);
            }
            groups.remove(group_id);
        }
        self.store
            .append_durable(vec![StoreRecord::GroupDeleted {
                group: group_id.to_string(),
            }])
            .await
            .map_err(|_| ResponseError::CoordinatorNotAvailable)
    }

    /// Expires member sessions and rebalance deadlines.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut groups = self.groups.lock();
        for group in groups.values_mut() {
            for member in group.tick(now) {
                tracing::info!(group = %group.id, %member, "member session expired");
            }
            self.persist_if_dirty(group);
        }
    }

    /// Drops committed offsets of empty groups older than `offsets.retention.minutes`, and
    /// groups left with nothing. Returns (group, topic, partition, offset) of the live commits
    /// for lag metrics.
    pub fn expire_offsets(&self, now_ms: i64) -> Vec<(String, String, i32, i64)> {
        let retention = self.limits.offsets_retention_ms;
        let mut records = Vec::new();
        let mut live = Vec::new();
        let mut groups = self.groups.lock();
        groups.retain(|id, g| {
            if g.state == GroupState::Empty {
                let horizon = now_ms - retention;
                let empty_since = g.empty_since_ms;
                g.offsets.retain(|(topic, partition), o| {
                    let keep = o.commit_ms.max(empty_since) > horizon;
                    if !keep {
                        records.push(StoreRecord::OffsetDeleted {
                            group: id.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                        });
                    }
                    keep
                });
                if g.offsets.is_empty() && g.generation == 0 {
                    return false;
                }
            }
            live.extend(
                g.offsets
                    .iter()
                    .map(|((t, p), o)| (id.clone(), t.clone(), *p, o.offset)),
            );
            true
        });
        drop(groups);
        if !records.is_empty() {
            tracing::info!(expired = records.len(), "expired committed offsets");
            self.store.append(records);
        }
        live
    }

    /// (group, members, generation) for metrics.
    pub fn gauges(&self) -> Vec<(String, usize, i32)> {
        self.groups
            .lock()
            .values()
            .map(|g| (g.id.clone(), g.members.len(), g.generation))
            .collect()
    }
}

/// Ticks the coordinator's timers every 100 ms until shutdown.
pub async fn run_timers(coordinator: Arc<GroupCoordinator>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => coordinator.tick(),
            _ = shutdown.changed() => return,
        }
    }
}
