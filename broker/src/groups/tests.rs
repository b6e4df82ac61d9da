//! Unit tests of the group state machine, driven directly (no network, no store).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::group::{Group, GroupState, JoinOutcome, JoinRequest, SyncOutcome, SyncRequest};

fn join_request(member_id: &str, instance: Option<&str>, session_ms: u64) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        instance_id: instance.map(str::to_string),
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout: Duration::from_millis(session_ms),
        rebalance_timeout: Duration::from_millis(60_000),
        protocol_type: "consumer".to_string(),
        protocols: vec![
            ("range".to_string(), Bytes::from_static(b"r")),
            ("roundrobin".to_string(), Bytes::from_static(b"rr")),
        ],
        require_known_member_id: false,
    }
}

fn sync_request(member_id: &str, generation: i32, assignments: Vec<(&str, &str)>) -> SyncRequest {
    SyncRequest {
        member_id: member_id.to_string(),
        instance_id: None,
        generation,
        protocol_type: None,
        protocol: None,
        assignments: assignments
            .into_iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

fn now<T: std::fmt::Debug>(mut rx: oneshot::Receiver<T>) -> T {
    rx.try_recv().expect("answer must be immediate")
}

fn pending<T>(rx: &mut oneshot::Receiver<T>) -> bool {
    matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty))
}

/// One member joined and synced: returns its id.
fn stable_single(group: &mut Group, session_ms: u64) -> String {
    let joined: JoinOutcome = now(group.join(join_request("", None, session_ms)));
    assert_eq!(joined.error, None);
    let id = joined.member_id.clone();
    let synced: SyncOutcome =
        now(group.sync(sync_request(&id, joined.generation, vec![(&id, "a0")])));
    assert_eq!(synced.assignment, Bytes::from("a0"));
    id
}

#[test]
fn member_id_required_then_join_and_sync() {
    let mut group = Group::new("g", 0);
    let mut req = join_request("", None, 10_000);
    req.require_known_member_id = true;
    let first = now(group.join(req));
    assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
    assert!(first.member_id.starts_with("client-"));
    let mut req = join_request(&first.member_id, None, 10_000);
    req.require_known_member_id = true;
    let joined = now(group.join(req));
    assert_eq!(joined.error, None);
    assert_eq!(
        (joined.generation, joined.leader.as_str()),
        (1, first.member_id.as_str())
    );
    assert_eq!(joined.protocol.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1, "the leader gets the member list");
    assert_eq!(group.state, GroupState::CompletingRebalance);
    let synced = now(group.sync(sync_request(
        &first.member_id,
        1,
        vec![(&first.member_id, "x")],
    )));
    assert_eq!((synced.error, synced.assignment), (None, Bytes::from("x")));
    assert_eq!(group.state, GroupState::Stable);
}

#[test]
fn a_new_member_rebalances_and_followers_wait_for_the_leader() {
    let mut group = Group::new("g", 0);
    let a = stable_single(&mut group, 10_000);
    let mut b_join = group.join(join_request("", None, 10_000));
    assert!(pending(&mut b_join), "B waits until A rejoins");
    assert_eq!(
        group.heartbeat(&a, None, 1),
        Err(ResponseError::RebalanceInProgress)
    );
    let a_join = now(group.join(join_request(&a, None, 10_000)));
    let b = b_join
        .try_recv()
        .expect("B answered once everyone rejoined");
    assert_eq!((a_join.generation, b.generation), (2, 2));
    assert_eq!(a_join.leader, a, "the leader stays");
    assert_eq!((a_join.members.len(), b.members.len()), (2, 0));
    let mut b_sync = group.sync(sync_request(&b.member_id, 2, vec![]));
    assert!(
        pending(&mut b_sync),
        "a follower waits for the leader's assignment"
    );
    let a_sync = now(group.sync(sync_request(&a, 2, vec![(&a, "pa"), (&b.member_id, "pb")])));
    assert_eq!(a_sync.assignment, Bytes::from("pa"));
    assert_eq!(b_sync.try_recv().unwrap().assignment, Bytes::from("pb"));
    assert_eq!(group.heartbeat(&b.member_id, None, 2), Ok(()));
    assert_eq!(
        group.heartbeat(&b.member_id, None, 1),
        Err(ResponseError::IllegalGeneration)
    );
}

#[test]
fn an_expired_session_removes_the_member_and_rebalances() {
    let mut group = Group::new("g", 0);
    let a = stable_single(&mut group, 1_000);
    let mut b_join = group.join(join_request("", None, 100_000));
    // A never rejoins nor heartbeats: past its session timeout it is dropped and the join
    // completes with B alone.
    let expired = group.tick(Instant::now() + Duration::from_millis(1_500));
    assert_eq!(expired, vec![a.clone()]);
    let b = b_join.try_recv().expect("join completes without A");
    assert_eq!((b.generation, b.leader.clone()), (2, b.member_id.clone()));
    assert_eq!(group.members.len(), 1);
    assert_eq!(
        group.heartbeat(&a, None, 2),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn errors_for_unknown_members_and_protocol_mismatch() {
    let mut group = Group::new("g", 0);
    let a = stable_single(&mut group, 10_000);
    assert_eq!(
        now(group.join(join_request("nobody", None, 10_000))).error,
        Some(ResponseError::UnknownMemberId)
    );
    let mut other = join_request("", None, 10_000);
    other.protocol_type = "connect".to_string();
    assert_eq!(
        now(group.join(other)).error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let mut no_common = join_request("", None, 10_000);
    no_common.protocols = vec![("sticky".to_string(), Bytes::new())];
    assert_eq!(
        now(group.join(no_common)).error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    assert_eq!(
        now(group.sync(sync_request(&a, 7, vec![]))).error,
        Some(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        group.leave("nobody", None),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn leaving_last_member_empties_the_group_and_allows_simple_commits() {
    let mut group = Group::new("g", 0);
    let a = stable_single(&mut group, 10_000);
    assert_eq!(
        group.check_commit("", None, -1),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(group.check_commit(&a, None, 1), Ok(()));
    assert_eq!(group.leave(&a, None), Ok(()));
    assert_eq!(group.state, GroupState::Empty);
    assert_eq!(group.generation, 2);
    assert_eq!(group.check_commit("", None, -1), Ok(()));
}

#[test]
fn static_member_rejoin_keeps_generation_and_fences_old_id() {
    let mut group = Group::new("g", 0);
    let joined = now(group.join(join_request("", Some("inst-1"), 10_000)));
    let old = joined.member_id.clone();
    now(group.sync(sync_request(&old, 1, vec![(&old, "assigned")])));
    let rejoined = now(group.join(join_request("", Some("inst-1"), 10_000)));
    assert_eq!(rejoined.error, None);
    assert_ne!(rejoined.member_id, old);
    assert_eq!(rejoined.generation, 1, "no rebalance");
    assert_eq!(
        rejoined.leader, old,
        "the old leader id keeps the member from reassigning"
    );
    assert!(rejoined.skip_assignment);
    let synced = now(group.sync(sync_request(&rejoined.member_id, 1, vec![])));
    assert_eq!(synced.assignment, Bytes::from("assigned"));
    assert_eq!(
        group.heartbeat(&old, Some("inst-1"), 1),
        Err(ResponseError::FencedInstanceId)
    );
}
