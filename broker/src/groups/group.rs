//! One classic consumer group: members, generations and Kafka's rebalance protocol
//! (Empty -> PreparingRebalance -> CompletingRebalance -> Stable), plus its committed offsets.
//!
//! Everything here is synchronous and runs under the coordinator's lock; answers that must
//! wait for other members (JoinGroup until everyone has rejoined, SyncGroup until the leader
//! has sent the assignment) are delivered through oneshot channels.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::store::{StoredGroup, StoredMember, StoredOffset};

/// Kafka's group states, named as DescribeGroups and ListGroups report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name clients see.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup request receives.
#[derive(Debug, Clone)]
pub struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// (member id, instance id, metadata): only for the leader.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// A static leader rejoining a stable group must not compute a new assignment (JoinGroup
    /// v9 `skip_assignment`).
    pub skip_assignment: bool,
}

impl JoinOutcome {
    /// An error answer carrying `member_id`.
    pub fn error(error: ResponseError, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// What a SyncGroup request receives.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    fn error(error: ResponseError) -> SyncOutcome {
        SyncOutcome {
            error: Some(error),
            protocol_type: None,
            protocol: None,
            assignment: Bytes::new(),
        }
    }
}

/// A member of the group.
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: Instant,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    /// The metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// A JoinGroup request, decoded.
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ requires a member id (KIP-394).
    pub require_known_member_id: bool,
}

/// A SyncGroup request, decoded.
pub struct SyncRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    /// (member id, assignment): only the leader sends them.
    pub assignments: Vec<(String, Bytes)>,
}

/// A classic group.
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with when they lapse.
    pending: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    pub offsets: HashMap<(String, i32), StoredOffset>,
    /// When the group last became empty (ms since epoch), for offset retention.
    pub empty_since_ms: i64,
    /// Set when the group's metadata changed and should be persisted.
    pub dirty: bool,
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

impl Group {
    /// A new, empty group.
    pub fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            offsets: HashMap::new(),
            empty_since_ms: now_ms,
            dirty: false,
        }
    }

    /// Rebuilds a group from its stored form; stored members get a fresh session.
    pub fn restore(
        id: &str,
        stored: StoredGroup,
        offsets: HashMap<(String, i32), StoredOffset>,
        now_ms: i64,
    ) -> Group {
        let mut group = Group::new(id, now_ms);
        group.generation = stored.generation;
        group.protocol_type = stored.protocol_type;
        group.protocol = stored.protocol;
        group.leader = stored.leader;
        group.offsets = offsets;
        let now = Instant::now();
        for m in stored.members {
            group.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id,
                    instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    protocols: m
                        .protocols
                        .into_iter()
                        .map(|(n, b)| (n, Bytes::from(b)))
                        .collect(),
                    assignment: Bytes::from(m.assignment),
                    last_heartbeat: now,
                    join_waiter: None,
                    sync_waiter: None,
                },
            );
        }
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group
    }

    /// The stored form of the group's metadata.
    pub fn to_stored(&self) -> StoredGroup {
        StoredGroup {
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    protocols: m
                        .protocols
                        .iter()
                        .map(|(n, b)| (n.clone(), b.to_vec()))
                        .collect(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    fn member_by_instance(&self, instance_id: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.as_str())
    }

    /// Kafka's check for static members: a known instance id must come with its member id.
    fn check_static(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = instance_id {
            if let Some(owner) = self.member_by_instance(instance) {
                if owner != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
            }
        }
        Ok(())
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        // Some protocol must be supported by every current member and the newcomer.
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn current_outcome(&self, member_id: &str) -> JoinOutcome {
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if is_leader {
                self.member_list()
            } else {
                Vec::new()
            },
            skip_assignment: false,
        }
    }

    fn member_list(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(protocol)))
            .collect()
    }

    /// Handles a JoinGroup; the answer arrives on the returned channel.
    pub fn join(&mut self, req: JoinRequest) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        if self.state == GroupState::Dead {
            let _ = tx.send(JoinOutcome::error(
                ResponseError::CoordinatorNotAvailable,
                &req.member_id,
            ));
            return rx;
        }
        if req.protocol_type.is_empty()
            || req.protocols.is_empty()
            || !self.supports(&req.protocol_type, &req.protocols)
        {
            let _ = tx.send(JoinOutcome::error(
                ResponseError::InconsistentGroupProtocol,
                &req.member_id,
            ));
            return rx;
        }
        if req.member_id.is_empty() {
            if let Some(instance) = req.instance_id.clone() {
                if let Some(old_id) = self.member_by_instance(&instance).map(str::to_string) {
                    return self.static_rejoin(old_id, req, tx, rx);
                }
                let id = new_member_id(&req.client_id);
                self.add_member(id, req, tx);
                return rx;
            }
            let id = new_member_id(&req.client_id);
            if req.require_known_member_id {
                self.pending.insert(id.clone(), now + req.session_timeout);
                let _ = tx.send(JoinOutcome::error(ResponseError::MemberIdRequired, &id));
                return rx;
            }
            self.add_member(id, req, tx);
            return rx;
        }
        if let Err(e) = self.check_static(&req.member_id, req.instance_id.as_deref()) {
            let _ = tx.send(JoinOutcome::error(e, &req.member_id));
            return rx;
        }
        if self.pending.remove(&req.member_id).is_some() {
            let id = req.member_id.clone();
            self.add_member(id, req, tx);
            return rx;
        }
        let Some(member) = self.members.get_mut(&req.member_id) else {
            let _ = tx.send(JoinOutcome::error(
                ResponseError::UnknownMemberId,
                &req.member_id,
            ));
            return rx;
        };
        member.last_heartbeat = now;
        let unchanged = member.protocols == req.protocols;
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        match self.state {
            GroupState::CompletingRebalance if unchanged => {
                let _ = tx.send(self.current_outcome(&req.member_id));
            }
            GroupState::Stable if unchanged && !is_leader => {
                let _ = tx.send(self.current_outcome(&req.member_id));
            }
            _ => {
                member.protocols = req.protocols;
                member.session_timeout = req.session_timeout;
                member.rebalance_timeout = req.rebalance_timeout;
                if let Some(old) = member.join_waiter.replace(tx) {
                    let _ = old.send(JoinOutcome::error(
                        ResponseError::UnknownMemberId,
                        &req.member_id,
                    ));
                }
                self.prepare_rebalance();
                self.maybe_complete_join();
            }
        }
        rx
    }

    /// A static member (known instance id) rejoining with no member id: it takes over the
    /// old member's place under a new member id. In a stable group with unchanged protocols
    /// there is no rebalance: as in Kafka, the answer keeps the generation and names the *old*
    /// leader id, so a rejoining leader does not recompute the assignment, and the member's
    /// SyncGroup returns its previous assignment. The old member id is fenced from then on.
    fn static_rejoin(
        &mut self,
        old_id: String,
        req: JoinRequest,
        tx: oneshot::Sender<JoinOutcome>,
        rx: oneshot::Receiver<JoinOutcome>,
    ) -> oneshot::Receiver<JoinOutcome> {
        let new_id = new_member_id(&req.client_id);
        let Some(mut member) = self.members.shift_remove(&old_id) else {
            self.add_member(new_id, req, tx);
            return rx;
        };
        if let Some(old) = member.join_waiter.take() {
            let _ = old.send(JoinOutcome::error(ResponseError::FencedInstanceId, &old_id));
        }
        if let Some(old) = member.sync_waiter.take() {
            let _ = old.send(SyncOutcome::error(ResponseError::FencedInstanceId));
        }
        let unchanged = member.protocols == req.protocols;
        let previous_leader = self.leader.clone();
        let was_leader = previous_leader.as_deref() == Some(old_id.as_str());
        member.id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout = req.session_timeout;
        member.rebalance_timeout = req.rebalance_timeout;
        member.last_heartbeat = Instant::now();
        self.members.insert(new_id.clone(), member);
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        self.dirty = true;
        if self.state == GroupState::Stable && unchanged {
            let outcome = JoinOutcome {
                error: None,
                generation: self.generation,
                protocol_type: self.protocol_type.clone(),
                protocol: self.protocol.clone(),
                leader: previous_leader.unwrap_or_default(),
                member_id: new_id,
                members: if was_leader {
                    self.member_list()
                } else {
                    Vec::new()
                },
                skip_assignment: was_leader,
            };
            let _ = tx.send(outcome);
            return rx;
        }
        if let Some(member) = self.members.get_mut(&new_id) {
            member.protocols = req.protocols;
            member.join_waiter = Some(tx);
        }
        self.prepare_rebalance();
        self.maybe_complete_join();
        rx
    }

    fn add_member(&mut self, id: String, req: JoinRequest, tx: oneshot::Sender<JoinOutcome>) {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        self.members.insert(
            id.clone(),
            Member {
                id,
                instance_id: req.instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout: req.session_timeout,
                rebalance_timeout: req.rebalance_timeout,
                protocols: req.protocols,
                assignment: Bytes::new(),
                last_heartbeat: Instant::now(),
                join_waiter: Some(tx),
                sync_waiter: None,
            },
        );
        self.prepare_rebalance();
        self.maybe_complete_join();
    }

    fn prepare_rebalance(&mut self) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncOutcome::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        if self.state != GroupState::PreparingRebalance {
            let timeout = self
                .members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or_default();
            self.rebalance_deadline = Some(Instant::now() + timeout);
            self.state = GroupState::PreparingRebalance;
        }
    }

    fn maybe_complete_join(&mut self) {
        if self.state == GroupState::PreparingRebalance
            && self.members.values().all(|m| m.join_waiter.is_some())
        {
            self.complete_join();
        }
    }

    fn select_protocol(&self) -> Option<String> {
        let candidates: Vec<&str> = self
            .members
            .values()
            .next()?
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect();
        // Each member votes for its most preferred candidate; most votes wins, ties go to
        // the first candidate in the first member's order.
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
            {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let best = candidates
            .iter()
            .map(|c| votes.get(c).copied().unwrap_or(0))
            .max()?;
        candidates
            .into_iter()
            .find(|c| votes.get(c).copied().unwrap_or(0) == best)
            .map(str::to_string)
    }

    /// Ends the join phase: members that did not rejoin are dropped, a new generation starts
    /// and every waiting member is answered (the leader with the member list).
    fn complete_join(&mut self) {
        self.members.retain(|_, m| m.join_waiter.is_some());
        self.rebalance_deadline = None;
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            self.empty_since_ms = crate::handlers::now_ms();
            return;
        }
        self.protocol = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let now = Instant::now();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let outcome = self.current_outcome(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.assignment = Bytes::new();
                m.last_heartbeat = now;
                if let Some(w) = m.join_waiter.take() {
                    let _ = w.send(outcome);
                }
            }
        }
    }

    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        self.check_static(member_id, instance_id)?;
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    /// Handles a SyncGroup; the leader's request carries everyone's assignment.
    pub fn sync(&mut self, req: SyncRequest) -> oneshot::Receiver<SyncOutcome> {
        let SyncRequest {
            member_id,
            instance_id,
            generation,
            protocol_type,
            protocol,
            assignments,
        } = req;
        let (member_id, instance_id) = (member_id.as_str(), instance_id.as_deref());
        let (protocol_type, protocol) = (protocol_type.as_deref(), protocol.as_deref());
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.check_member(member_id, instance_id, generation) {
            let _ = tx.send(SyncOutcome::error(e));
            return rx;
        }
        if protocol_type.is_some_and(|p| Some(p) != self.protocol_type.as_deref())
            || protocol.is_some_and(|p| Some(p) != self.protocol.as_deref())
        {
            let _ = tx.send(SyncOutcome::error(ResponseError::InconsistentGroupProtocol));
            return rx;
        }
        let outcome = |g: &Group, a: Bytes| SyncOutcome {
            error: None,
            protocol_type: g.protocol_type.clone(),
            protocol: g.protocol.clone(),
            assignment: a,
        };
        match self.state {
            GroupState::PreparingRebalance => {
                let _ = tx.send(SyncOutcome::error(ResponseError::RebalanceInProgress));
            }
            GroupState::Stable => {
                let a = self
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                let _ = tx.send(outcome(self, a));
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.last_heartbeat = Instant::now();
                    m.sync_waiter = Some(tx);
                }
                if self.leader.as_deref() == Some(member_id) {
                    let mut by_member: HashMap<String, Bytes> = assignments.into_iter().collect();
                    self.state = GroupState::Stable;
                    self.dirty = true;
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for id in ids {
                        let a = by_member.remove(&id).unwrap_or_default();
                        let o = outcome(self, a.clone());
                        if let Some(m) = self.members.get_mut(&id) {
                            m.assignment = a;
                            if let Some(w) = m.sync_waiter.take() {
                                let _ = w.send(o);
                            }
                        }
                    }
                }
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(SyncOutcome::error(ResponseError::UnknownMemberId));
            }
        }
        rx
    }

    /// Handles a Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        self.check_static(member_id, instance_id)?;
        let Some(member) = self.members.get_mut(member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        member.last_heartbeat = Instant::now();
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes one member (LeaveGroup), identified by member id or, for static members, by
    /// instance id.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        let id = match (member_id.is_empty(), instance_id) {
            (true, Some(instance)) => self
                .member_by_instance(instance)
                .map(str::to_string)
                .ok_or(ResponseError::UnknownMemberId)?,
            _ => {
                self.check_static(member_id, instance_id)?;
                member_id.to_string()
            }
        };
        if self.pending.remove(&id).is_some() {
            return Ok(());
        }
        if !self.members.contains_key(&id) {
            return Err(ResponseError::UnknownMemberId);
        }
        self.remove_member(&id);
        Ok(())
    }

    fn remove_member(&mut self, id: &str) {
        if let Some(mut m) = self.members.shift_remove(id) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome::error(ResponseError::UnknownMemberId, id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncOutcome::error(ResponseError::UnknownMemberId));
            }
        }
        self.dirty = true;
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance();
                self.maybe_complete_join();
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Expires sessions, pending member ids and rebalance deadlines. Returns the ids of
    /// members removed for a lapsed session.
    pub fn tick(&mut self, now: Instant) -> Vec<String> {
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && now > m.last_heartbeat + m.session_timeout)
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            self.remove_member(id);
        }
        if self.state == GroupState::PreparingRebalance
            && self.rebalance_deadline.is_some_and(|d| now >= d)
        {
            self.complete_join();
        }
        expired
    }

    /// Whether a commit with this member id and generation is allowed (Kafka's rules; a
    /// generation below 0 with no member is a "simple" commit, allowed on an empty group).
    pub fn check_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        self.check_member(member_id, instance_id, generation)
    }
}
