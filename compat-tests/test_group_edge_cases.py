"""Classic group coordinator edge cases, driven with raw Kafka frames.

Each request is encoded by hand (non-flexible versions, request header v1, response header
v0) so that the exact error codes Kafka documents are visible:

  JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3, OffsetCommit v7, OffsetFetch v5,
  DescribeGroups v4, FindCoordinator v2 (and the batched, flexible v4).

Expected behaviour is Apache Kafka's (GroupCoordinator / GroupMetadataManager for classic
groups). Fast session expiry uses WEIR_GROUP_MIN_SESSION_TIMEOUT_MS=1000.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid

import pytest

import rawkafka
from conftest import unique_topic
from weirtest import create_topic

# API keys
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS = 11, 12, 13, 14, 15
API_VERSIONS = 18

# The versions this file encodes (all non-flexible except FindCoordinator v4).
VERSIONS = {JOIN_GROUP: 5, SYNC_GROUP: 3, HEARTBEAT: 3, LEAVE_GROUP: 3, OFFSET_COMMIT: 7,
            OFFSET_FETCH: 5, DESCRIBE_GROUPS: 4, FIND_COORDINATOR: 2}

# Kafka error codes
NONE = 0
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82

FAST_GROUPS = {"WEIR_GROUP_MIN_SESSION_TIMEOUT_MS": "1000"}


# ------------------------------------------------------------------------------ encoding
def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def bytes_(b: bytes | None) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items, enc) -> bytes:
    if items is None:
        return i32(-1)
    items = list(items)
    return i32(len(items)) + b"".join(enc(x) for x in items)


class Reader:
    def __init__(self, buf: bytes, pos: int = 0):
        self.buf, self.pos = buf, pos

    def _un(self, fmt, n):
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def i8(self): return self._un(">b", 1)
    def i16(self): return self._un(">h", 2)
    def i32(self): return self._un(">i", 4)
    def i64(self): return self._un(">q", 8)

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self):
        n = self.i32()
        if n < 0:
            return None
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def array(self, dec):
        n = self.i32()
        if n < 0:
            return None
        return [dec(self) for _ in range(n)]

    # flexible (compact) forms, for FindCoordinator v4
    def uvarint(self):
        v, self.pos = rawkafka.read_uvarint(self.buf, self.pos)
        return v

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def subscription(topics: list[str]) -> bytes:
    """ConsumerProtocolSubscription v0."""
    return i16(0) + array(topics, string) + bytes_(None)


def assignment(parts: dict[str, list[int]]) -> bytes:
    """ConsumerProtocolAssignment v0."""
    return i16(0) + array(sorted(parts.items()),
                          lambda tp: string(tp[0]) + array(tp[1], i32)) + bytes_(None)


def parse_assignment(b: bytes) -> dict[str, list[int]]:
    if not b:
        return {}
    r = Reader(b)
    r.i16()
    out = r.array(lambda r: (r.string(), r.array(lambda r: r.i32())))
    return {t: sorted(ps) for t, ps in out}


class Conn:
    """One TCP connection speaking raw requests."""

    def __init__(self, bootstrap: str, timeout: float = 30.0):
        self.sock = rawkafka.connect(bootstrap, timeout=timeout)
        self.corr = 0
        self.lock = threading.Lock()

    def call(self, api: int, version: int, body: bytes, flexible: bool = False,
             timeout: float | None = None) -> Reader:
        with self.lock:
            self.corr += 1
            corr = self.corr
            hdr = (rawkafka.header_v2 if flexible else rawkafka.header_v1)(api, version, corr, "weir-edge")
            if timeout is not None:
                self.sock.settimeout(timeout)
            self.sock.sendall(rawkafka.frame(hdr + body))
            resp = rawkafka.recv_frame(self.sock)
        r = Reader(resp)
        got = r.i32()
        assert got == corr, f"correlation id {got} != {corr}"
        if flexible:
            r.skip_tags()
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---------------------------------------------------------------- group APIs
    def api_versions(self) -> dict:
        self.corr += 1
        self.sock.sendall(rawkafka.api_versions_request(3, self.corr))
        return rawkafka.parse_api_versions(rawkafka.recv_frame(self.sock), 3)["apis"]

    def find_coordinator(self, key: str, key_type: int = 0) -> dict:
        r = self.call(FIND_COORDINATOR, 2, string(key) + i8(key_type))
        return {"throttle": r.i32(), "error": r.i16(), "message": r.string(),
                "node_id": r.i32(), "host": r.string(), "port": r.i32()}

    def find_coordinators_v4(self, keys: list[str], key_type: int = 0) -> list[dict]:
        body = i8(key_type) + rawkafka.uvarint(len(keys) + 1) + b"".join(
            rawkafka.compact_str(k) for k in keys) + b"\x00"
        r = self.call(FIND_COORDINATOR, 4, body, flexible=True)
        r.i32()  # throttle

        def coord(r):
            d = {"key": r.compact_string(), "node_id": r.i32(), "host": r.compact_string(),
                 "port": r.i32(), "error": r.i16(), "message": r.compact_string()}
            r.skip_tags()
            return d

        n = r.uvarint() - 1
        return [coord(r) for _ in range(n)]

    def join(self, group: str, member_id: str = "", protocols=None, protocol_type: str = "consumer",
             session_ms: int = 10000, rebalance_ms: int = 10000, instance_id: str | None = None,
             timeout: float = 60.0) -> dict:
        protocols = protocols if protocols is not None else [("range", subscription(["t"]))]
        body = (string(group) + i32(session_ms) + i32(rebalance_ms) + string(member_id)
                + string(instance_id) + string(protocol_type)
                + array(protocols, lambda p: string(p[0]) + bytes_(p[1])))
        r = self.call(JOIN_GROUP, 5, body, timeout=timeout)
        d = {"throttle": r.i32(), "error": r.i16(), "generation": r.i32(),
             "protocol": r.string(), "leader": r.string(), "member_id": r.string()}
        d["members"] = r.array(lambda r: (r.string(), r.string(), r.bytes_()))
        return d

    def sync(self, group: str, generation: int, member_id: str, assignments=None,
             instance_id: str | None = None, timeout: float = 60.0) -> dict:
        body = (string(group) + i32(generation) + string(member_id) + string(instance_id)
                + array(assignments or [], lambda a: string(a[0]) + bytes_(a[1])))
        r = self.call(SYNC_GROUP, 3, body, timeout=timeout)
        return {"throttle": r.i32(), "error": r.i16(), "assignment": r.bytes_()}

    def heartbeat(self, group: str, generation: int, member_id: str,
                  instance_id: str | None = None) -> int:
        r = self.call(HEARTBEAT, 3, string(group) + i32(generation) + string(member_id)
                      + string(instance_id), timeout=30.0)
        r.i32()
        return r.i16()

    def leave(self, group: str, members: list[tuple[str, str | None]]) -> dict:
        r = self.call(LEAVE_GROUP, 3, string(group)
                      + array(members, lambda m: string(m[0]) + string(m[1])), timeout=30.0)
        return {"throttle": r.i32(), "error": r.i16(),
                "members": r.array(lambda r: (r.string(), r.string(), r.i16()))}

    def offset_commit(self, group: str, offsets: dict[tuple[str, int], tuple[int, str | None]],
                      generation: int = -1, member_id: str = "",
                      instance_id: str | None = None) -> dict:
        by_topic: dict[str, list] = {}
        for (t, p), (o, meta) in sorted(offsets.items()):
            by_topic.setdefault(t, []).append((p, o, meta))
        body = (string(group) + i32(generation) + string(member_id) + string(instance_id)
                + array(sorted(by_topic.items()), lambda tp: string(tp[0]) + array(
                    tp[1], lambda x: i32(x[0]) + i64(x[1]) + i32(-1) + string(x[2]))))
        r = self.call(OFFSET_COMMIT, 7, body, timeout=30.0)
        r.i32()
        out = {}
        for t, parts in r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16())))):
            for p, e in parts:
                out[(t, p)] = e
        return out

    def offset_fetch(self, group: str, topics: dict[str, list[int]] | None) -> dict:
        body = string(group) + array(None if topics is None else sorted(topics.items()),
                                     lambda tp: string(tp[0]) + array(tp[1], i32))
        r = self.call(OFFSET_FETCH, 5, body, timeout=30.0)
        r.i32()
        out = {}
        for t, parts in r.array(lambda r: (r.string(), r.array(
                lambda r: (r.i32(), r.i64(), r.i32(), r.string(), r.i16())))):
            for p, o, _epoch, meta, e in parts:
                out[(t, p)] = (o, meta, e)
        return {"partitions": out, "error": r.i16()}

    def describe(self, group: str) -> dict:
        r = self.call(DESCRIBE_GROUPS, 4, array([group], string) + i8(0), timeout=30.0)
        r.i32()

        def member(r):
            return {"member_id": r.string(), "instance_id": r.string(), "client_id": r.string(),
                    "client_host": r.string(), "metadata": r.bytes_(), "assignment": r.bytes_()}

        def grp(r):
            d = {"error": r.i16(), "group_id": r.string(), "state": r.string(),
                 "protocol_type": r.string(), "protocol": r.string(), "members": r.array(member)}
            d["authorized_operations"] = r.i32()
            return d

        return r.array(grp)[0]


def check_versions(bootstrap: str) -> None:
    c = Conn(bootstrap)
    try:
        apis = c.api_versions()
    finally:
        c.close()
    missing = {k: v for k, v in VERSIONS.items()
               if k not in apis or not apis[k][0] <= v <= apis[k][1]}
    assert not missing, f"broker does not advertise (api_key: version) {missing}; advertised {apis}"


def new_group() -> str:
    return f"g-{uuid.uuid4().hex[:12]}"


def join_single(c: Conn, group: str, **kw) -> dict:
    """KIP-394 two-step join of a lone member, then SyncGroup as leader. Returns the state."""
    first = c.join(group, **kw)
    assert first["error"] == MEMBER_ID_REQUIRED, first
    mid = first["member_id"]
    j = c.join(group, member_id=mid, **kw)
    assert j["error"] == NONE, j
    assert j["member_id"] == mid and j["leader"] == mid, j
    s = c.sync(group, j["generation"], mid, [(mid, assignment({"t": [0]}))])
    assert s["error"] == NONE, s
    return {"member_id": mid, "generation": j["generation"], "join": j}


class Member(threading.Thread):
    """A minimal consumer-protocol member: join (KIP-394), sync (the leader assigns
    partitions round-robin), heartbeat every `hb_s`; rejoin on REBALANCE_IN_PROGRESS.
    `freeze()` stops all traffic (a hung process) while keeping the socket open."""

    def __init__(self, bootstrap, group, topic, partitions, session_ms, hb_s=0.2, name="m"):
        super().__init__(daemon=True, name=name)
        self.conn = Conn(bootstrap)
        self.group, self.topic, self.partitions = group, topic, partitions
        self.session_ms, self.hb_s = session_ms, hb_s
        self.member_id = ""
        self.generation = -1
        self.assigned: list[int] = []
        self.members_seen: list[str] = []
        self.history: list[tuple[int, tuple]] = []  # (generation, assigned)
        self.errors: list = []
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.cv = threading.Condition()
        self.last_hb_ok = 0.0

    def _join_sync(self):
        protos = [("range", subscription([self.topic]))]
        while True:
            j = self.conn.join(self.group, member_id=self.member_id, protocols=protos,
                               session_ms=self.session_ms, rebalance_ms=self.session_ms)
            if j["error"] == MEMBER_ID_REQUIRED:
                self.member_id = j["member_id"]
                continue
            if j["error"] != NONE:
                raise AssertionError(f"{self.name}: JoinGroup error {j}")
            break
        self.member_id = j["member_id"]
        gen = j["generation"]
        assigns = []
        if j["leader"] == self.member_id:
            ids = sorted(m[0] for m in j["members"])
            per = {m: [] for m in ids}
            for p in range(self.partitions):
                per[ids[p % len(ids)]].append(p)
            assigns = [(m, assignment({self.topic: ps})) for m, ps in per.items()]
        s = self.conn.sync(self.group, gen, self.member_id, assigns)
        if s["error"] == REBALANCE_IN_PROGRESS:
            return False
        if s["error"] != NONE:
            raise AssertionError(f"{self.name}: SyncGroup error {s}")
        with self.cv:
            self.generation = gen
            self.assigned = parse_assignment(s["assignment"]).get(self.topic, [])
            self.members_seen = [m[0] for m in j["members"]]
            self.history.append((gen, tuple(self.assigned)))
            self.last_hb_ok = time.monotonic()
            self.cv.notify_all()
        return True

    def run(self):
        try:
            while not self.stopped.is_set():
                if not self._join_sync():
                    continue
                while not self.stopped.is_set():
                    if self.frozen.is_set():
                        time.sleep(0.05)
                        continue
                    e = self.conn.heartbeat(self.group, self.generation, self.member_id)
                    if e == NONE:
                        self.last_hb_ok = time.monotonic()
                    elif e == REBALANCE_IN_PROGRESS:
                        break
                    else:
                        raise AssertionError(f"{self.name}: Heartbeat error {e} "
                                             f"(gen {self.generation}, member {self.member_id})")
                    time.sleep(self.hb_s)
        except Exception as e:  # surfaced by the test through .errors
            if not self.stopped.is_set():
                self.errors.append(e)
        finally:
            with self.cv:
                self.cv.notify_all()

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred(self):
                assert not self.errors, f"{self.name} failed: {self.errors[0]!r}"
                left = deadline - time.monotonic()
                assert left > 0, (f"{self.name}: timed out after {timeout}s waiting for {what}; "
                                  f"gen={self.generation} assigned={self.assigned} "
                                  f"history={self.history}")
                self.cv.wait(min(left, 0.2))

    def stop(self):
        self.stopped.set()
        self.conn.close()


# ------------------------------------------------------------------------------ tests
def test_group_apis_advertised(broker):
    check_versions(broker.bootstrap)


def test_find_coordinator_v2_and_batched_v4(broker):
    c = Conn(broker.bootstrap)
    try:
        host, port = broker.bootstrap.split(":")
        r = c.find_coordinator("some-group")
        assert (r["error"], r["node_id"], r["host"], r["port"]) == (NONE, 1, host, int(port)), r
        apis = c.api_versions()
        if apis.get(FIND_COORDINATOR, (0, 0))[1] >= 4:
            got = c.find_coordinators_v4(["ga", "gb"])
            assert [(x["key"], x["error"], x["node_id"], x["host"], x["port"]) for x in got] == [
                ("ga", NONE, 1, host, int(port)), ("gb", NONE, 1, host, int(port))], got
    finally:
        c.close()


def test_join_v4plus_empty_member_id_gets_member_id_required(broker):
    check_versions(broker.bootstrap)
    g = new_group()
    c = Conn(broker.bootstrap)
    try:
        first = c.join(g)
        assert first["error"] == MEMBER_ID_REQUIRED, first
        assert first["member_id"], f"MEMBER_ID_REQUIRED must carry the member id: {first}"
        assert first["generation"] == -1, first
        j = c.join(g, member_id=first["member_id"])
        assert j["error"] == NONE, j
        assert j["member_id"] == first["member_id"] == j["leader"], j
        assert j["protocol"] == "range" and j["generation"] >= 1, j
        assert [m[0] for m in j["members"]] == [first["member_id"]], j
        s = c.sync(g, j["generation"], j["member_id"],
                   [(j["member_id"], assignment({"t": [0, 1]}))])
        assert s["error"] == NONE and parse_assignment(s["assignment"]) == {"t": [0, 1]}, s
        assert c.heartbeat(g, j["generation"], j["member_id"]) == NONE
        d = c.describe(g)
        assert (d["error"], d["state"], d["protocol_type"], d["protocol"]) == (
            NONE, "Stable", "consumer", "range"), d
        assert [m["member_id"] for m in d["members"]] == [j["member_id"]], d
        assert parse_assignment(d["members"][0]["assignment"]) == {"t": [0, 1]}, d
        lv = c.leave(g, [(j["member_id"], None)])
        assert lv["error"] == NONE and lv["members"] == [(j["member_id"], None, NONE)], lv
        d = c.describe(g)
        assert (d["state"], d["members"]) == ("Empty", []), d
    finally:
        c.close()


def test_join_unknown_member_id(broker):
    check_versions(broker.bootstrap)
    c = Conn(broker.bootstrap)
    try:
        # A group that does not exist yet.
        j = c.join(new_group(), member_id="no-such-member")
        assert j["error"] == UNKNOWN_MEMBER_ID, j
        # A stable group with one member.
        g = new_group()
        join_single(c, g)
        c2 = Conn(broker.bootstrap)
        try:
            j = c2.join(g, member_id="no-such-member-" + uuid.uuid4().hex)
            assert j["error"] == UNKNOWN_MEMBER_ID, j
            st = c.describe(g)
            assert st["state"] == "Stable", st
        finally:
            c2.close()
    finally:
        c.close()


def test_stale_generation_is_illegal_generation(broker):
    check_versions(broker.bootstrap)
    topic = unique_topic("stale")
    create_topic(broker.bootstrap, topic)
    g = new_group()
    c = Conn(broker.bootstrap)
    try:
        st = join_single(c, g)
        mid, gen = st["member_id"], st["generation"]
        assert c.heartbeat(g, gen, mid) == NONE
        # The leader rejoins: Kafka rebalances and bumps the generation.
        j = c.join(g, member_id=mid)
        assert j["error"] == NONE and j["member_id"] == mid, j
        assert j["generation"] == gen + 1, f"rejoin of the leader must bump the generation: {j}"
        assert c.heartbeat(g, gen, mid) == ILLEGAL_GENERATION  # stale generation
        s = c.sync(g, gen, mid, [(mid, assignment({"t": [0]}))])
        assert s["error"] == ILLEGAL_GENERATION, s
        s = c.sync(g, gen + 1, mid, [(mid, assignment({"t": [0]}))])
        assert s["error"] == NONE, s
        assert c.heartbeat(g, gen + 1, mid) == NONE
        assert c.heartbeat(g, gen + 7, mid) == ILLEGAL_GENERATION  # future generation
        assert c.heartbeat(g, gen + 1, "unknown-" + mid) == UNKNOWN_MEMBER_ID
        # OffsetCommit from a member with a stale generation
        res = c.offset_commit(g, {(topic, 0): (5, None)}, generation=gen, member_id=mid)
        assert res == {(topic, 0): ILLEGAL_GENERATION}, res
        res = c.offset_commit(g, {(topic, 0): (5, None)}, generation=gen + 1, member_id=mid)
        assert res == {(topic, 0): NONE}, res
    finally:
        c.close()


def test_inconsistent_group_protocol(broker):
    check_versions(broker.bootstrap)
    g = new_group()
    c, c2 = Conn(broker.bootstrap), Conn(broker.bootstrap)
    try:
        join_single(c, g)  # protocol type "consumer", protocol "range"
        # Different protocol type: refused before a member id is handed out.
        j = c2.join(g, protocol_type="connect", protocols=[("default", b"\x00")])
        assert j["error"] == INCONSISTENT_GROUP_PROTOCOL, j
        # Same type, but no protocol in common with the existing member.
        j = c2.join(g, protocols=[("roundrobin", subscription(["t"]))])
        assert j["error"] == INCONSISTENT_GROUP_PROTOCOL, j
        # Empty protocol list.
        j = c2.join(g, protocols=[])
        assert j["error"] == INCONSISTENT_GROUP_PROTOCOL, j
        d = c.describe(g)
        assert d["state"] == "Stable" and len(d["members"]) == 1, d
    finally:
        c.close()
        c2.close()


def test_invalid_session_timeout(broker_factory):
    b = broker_factory(env={"WEIR_GROUP_MIN_SESSION_TIMEOUT_MS": "6000"})
    check_versions(b.bootstrap)
    c = Conn(b.bootstrap)
    try:
        j = c.join(new_group(), session_ms=1000)
        assert j["error"] == INVALID_SESSION_TIMEOUT, j
    finally:
        c.close()


def test_member_without_heartbeats_is_evicted(broker_factory):
    b = broker_factory(env=FAST_GROUPS)
    check_versions(b.bootstrap)
    topic, g, session_ms = "evict-topic", new_group(), 1500
    a = Member(b.bootstrap, g, topic, 4, session_ms, name="A")
    z = Member(b.bootstrap, g, topic, 4, session_ms, name="Z")
    try:
        a.start()
        a.wait_for(lambda m: m.generation > 0, 30, "A's first generation")
        z.start()
        both = lambda m: len(m.members_seen) == 2 and m.generation >= 1  # noqa: E731
        a.wait_for(both, 30, "a generation with both members (A)")
        z.wait_for(lambda m: m.generation == a.generation, 30, "Z in A's generation")
        assert sorted(a.assigned + z.assigned) == [0, 1, 2, 3], (a.history, z.history)
        assert len(a.assigned) == 2 and len(z.assigned) == 2
        d = Conn(b.bootstrap)
        try:
            desc = d.describe(g)
            assert desc["state"] == "Stable", desc
            assert sorted(m["member_id"] for m in desc["members"]) == sorted(
                [a.member_id, z.member_id]), desc
            # Z hangs: no more heartbeats.
            gen_before = a.generation
            z.frozen.set()
            z_last = z.last_hb_ok
            a.wait_for(lambda m: m.generation > gen_before and m.members_seen == [m.member_id],
                       session_ms / 1000 * 4 + 20, "Z's eviction and a generation with A alone")
            evicted_after = time.monotonic() - z_last
            assert a.assigned == [0, 1, 2, 3], a.history
            assert evicted_after >= session_ms / 1000 * 0.9, (
                f"Z was evicted {evicted_after:.2f}s after its last heartbeat, before its "
                f"{session_ms} ms session timeout")
            desc = d.describe(g)
            assert [m["member_id"] for m in desc["members"]] == [a.member_id], desc
            assert desc["state"] in ("Stable", "CompletingRebalance"), desc
            # The evicted member learns it is gone.
            e = z.conn.heartbeat(g, z.generation, z.member_id)
            assert e == UNKNOWN_MEMBER_ID, e
        finally:
            d.close()
        assert not a.errors, a.errors
    finally:
        a.stop()
        z.stop()


def test_rebalance_waits_for_existing_member_then_both_assigned(broker_factory):
    """A second member joining a Stable group: the first learns of the rebalance by
    heartbeat (REBALANCE_IN_PROGRESS), rejoins, and both get the new generation."""
    b = broker_factory(env=FAST_GROUPS)
    check_versions(b.bootstrap)
    g, topic = new_group(), "rb-topic"
    a = Member(b.bootstrap, g, topic, 6, 6000, name="A")
    z = Member(b.bootstrap, g, topic, 6, 6000, name="Z")
    try:
        a.start()
        a.wait_for(lambda m: m.generation > 0, 30, "A's first generation")
        g1 = a.generation
        z.start()
        a.wait_for(lambda m: m.generation > g1 and len(m.members_seen) == 2, 30, "A rejoined")
        z.wait_for(lambda m: m.generation == a.generation, 30, "Z in A's generation")
        assert sorted(a.assigned + z.assigned) == list(range(6))
        # Z leaves: A gets everything in the next generation.
        g2 = a.generation
        z.stopped.set()
        c = Conn(b.bootstrap)
        try:
            lv = c.leave(g, [(z.member_id, None)])
            assert lv["error"] == NONE and lv["members"] == [(z.member_id, None, NONE)], lv
        finally:
            c.close()
        a.wait_for(lambda m: m.generation > g2 and m.assigned == list(range(6)), 30,
                   "A alone after Z left")
    finally:
        a.stop()
        z.stop()


def test_static_member_restart_no_rebalance(broker_factory):
    b = broker_factory(env=FAST_GROUPS)
    check_versions(b.bootstrap)
    g = new_group()
    c = Conn(b.bootstrap)
    try:
        # Static members skip MEMBER_ID_REQUIRED (KIP-345/KIP-394).
        j = c.join(g, instance_id="inst-1", session_ms=10000)
        assert j["error"] == NONE and j["member_id"], j
        mid, gen = j["member_id"], j["generation"]
        s = c.sync(g, gen, mid, [(mid, assignment({"t": [0]}))], instance_id="inst-1")
        assert s["error"] == NONE, s
        assert c.heartbeat(g, gen, mid, instance_id="inst-1") == NONE
        # "Restart": the same instance joins with no member id while the group is Stable.
        c2 = Conn(b.bootstrap)
        try:
            j2 = c2.join(g, instance_id="inst-1", session_ms=10000)
            assert j2["error"] == NONE, j2
            assert j2["member_id"] and j2["member_id"] != mid, j2
            assert j2["generation"] == gen, f"a static rejoin must not rebalance: {j2} (was {gen})"
            # Kafka answers with the OLD leader id and no members, so the rejoined member
            # does not compute a new assignment for a Stable group.
            assert j2["leader"] == mid and j2["members"] == [], j2
            s2 = c2.sync(g, gen, j2["member_id"], [], instance_id="inst-1")
            assert s2["error"] == NONE and parse_assignment(s2["assignment"]) == {"t": [0]}, s2
            # The old member id is fenced.
            assert c.heartbeat(g, gen, mid, instance_id="inst-1") == FENCED_INSTANCE_ID
            d = c2.describe(g)
            assert d["state"] == "Stable", d
            assert [(m["member_id"], m["instance_id"]) for m in d["members"]] == [
                (j2["member_id"], "inst-1")], d
        finally:
            c2.close()
    finally:
        c.close()


def test_offset_commit_without_members_and_fetch_metadata(broker):
    check_versions(broker.bootstrap)
    topic = unique_topic("oc")
    create_topic(broker.bootstrap, topic, partitions=3)
    g = new_group()
    c = Conn(broker.bootstrap)
    try:
        res = c.offset_commit(g, {(topic, 0): (42, "flink-meta-0"), (topic, 2): (7, ""),
                                  (topic, 1): (0, None)})
        assert res == {(topic, 0): NONE, (topic, 1): NONE, (topic, 2): NONE}, res
        f = c.offset_fetch(g, {topic: [0, 1, 2]})
        assert f["error"] == NONE, f
        assert f["partitions"] == {(topic, 0): (42, "flink-meta-0", NONE),
                                   # Kafka stores a null metadata as "" (NO_METADATA)
                                   (topic, 1): (0, "", NONE),
                                   (topic, 2): (7, "", NONE)}, f
        # all partitions (topics = null) returns every committed partition
        f = c.offset_fetch(g, None)
        assert f["error"] == NONE and set(f["partitions"]) == {(topic, 0), (topic, 1), (topic, 2)}, f
        # unknown partition -> offset -1, no error
        f = c.offset_fetch(g, {topic: [5]})
        assert f["partitions"][(topic, 5)][0] == -1, f
        # an unknown group -> offset -1 everywhere, no error
        f = c.offset_fetch(new_group(), {topic: [0]})
        assert f["error"] == NONE and f["partitions"][(topic, 0)][0] == -1, f
        # The group exists now, Empty, with protocol type ""
        d = c.describe(g)
        assert d["error"] == NONE and d["state"] == "Empty" and d["members"] == [], d
        # A commit with generation -1 to a group that HAS members is refused.
        g2 = new_group()
        join_single(c, g2)
        res = c.offset_commit(g2, {(topic, 0): (1, None)})
        assert res == {(topic, 0): UNKNOWN_MEMBER_ID}, res
    finally:
        c.close()


@pytest.mark.parametrize("crash", [True, False], ids=["sigkill", "sigterm"])
def test_committed_offsets_survive_restart(broker, crash):
    check_versions(broker.bootstrap)
    topic = unique_topic("ocr")
    create_topic(broker.bootstrap, topic, partitions=2)
    g = new_group()
    c = Conn(broker.bootstrap)
    try:
        assert c.offset_commit(g, {(topic, 0): (11, "m0"), (topic, 1): (22, None)}) == {
            (topic, 0): NONE, (topic, 1): NONE}
        # overwrite: last commit wins
        assert c.offset_commit(g, {(topic, 0): (13, "m0b")}) == {(topic, 0): NONE}
        # A second group committed by a real member (generation >= 1).
        g2 = new_group()
        st = join_single(c, g2)
        res = c.offset_commit(g2, {(topic, 1): (5, "mm")}, generation=st["generation"],
                              member_id=st["member_id"])
        assert res == {(topic, 1): NONE}, res
    finally:
        c.close()
    broker.restart(crash=crash)
    c = Conn(broker.bootstrap)
    try:
        f = c.offset_fetch(g, {topic: [0, 1]})
        got = {k: (o, e) for k, (o, _m, e) in f["partitions"].items()}
        assert got == {(topic, 0): (13, NONE), (topic, 1): (22, NONE)}, f
        assert f["partitions"][(topic, 0)][1] == "m0b", f
        f = c.offset_fetch(g2, {topic: [1]})
        assert f["partitions"][(topic, 1)] == (5, "mm", NONE), f
    finally:
        c.close()
