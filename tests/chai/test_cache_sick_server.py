"""A sick or hostile Redis: busy, out of memory, evicting keys itself, slow to answer, planted values, tenants.

Every test talks to a real ``redis-server`` (tests/redis_server.py) configured into the fault it is about: a long
Lua script past ``busy-reply-threshold`` (BUSY), ``maxmemory`` with ``noeviction`` (OOM) or ``allkeys-lru`` (the
server evicting keys itself), ACL users for tenants, and a TCP proxy that holds back the server's replies (an
insert that times out after the server stored it). The promise under test: a sick server means misses and
skipped inserts, counted and logged once, never an exception out of ``lookup``, ``insert`` or ``stats``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import torch

from chai.cache import LatentCache
from chai.cache.redis_store import key_prefix, tenant_acl_rules
from tests.chai.test_cache_redis import consistency, lats, make
from tests.redis_server import RedisServer, require_redis_server

SHAPE = (1, 4, 3, 6, 7)
BIG = (1, 4, 8, 32, 32)  # float32: about 390 KB an entry
SUBJECTS = ["tiger", "zebra", "camel", "otter", "horse", "falcon", "lighthouse", "teapot", "robot", "dragon",
            "castle", "bicycle", "violin", "glacier", "octopus", "cactus", "walrus", "kettle", "anchor", "tulip",
            "beetle", "canoe", "lantern", "giraffe", "pelican", "trumpet", "volcano", "penguin", "compass", "tractor"]


@pytest.fixture
def server():
    require_redis_server()
    with RedisServer() as srv:
        yield srv


def logged(caplog, needle: str) -> int:
    return sum(needle in r.getMessage() for r in caplog.records if r.name == "chai.cache")


# -- item: server error replies are misses and skipped inserts ----------------------------------------------------
_BUSY_LUA = """
local start = tonumber(redis.call('TIME')[1])
while tonumber(redis.call('TIME')[1]) - start < 30 do end
return 1
"""


def test_busy_server_gives_misses_and_skipped_inserts_logged_once(caplog):
    require_redis_server()
    with RedisServer(extra=("--busy-reply-threshold", "100")) as srv:
        c = make(srv.url)
        eid = c.insert("a tiger in a cave", lats(1))
        errors = []

        def block():  # another client's long script: after 100 ms every other client gets BUSY
            try:
                srv.client(socket_timeout=60).eval(_BUSY_LUA, 0)
            except Exception as exc:  # killed by SCRIPT KILL below
                errors.append(exc)

        blocker = threading.Thread(target=block, daemon=True)
        blocker.start()
        probe = srv.client(socket_timeout=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                probe.ping()
            except Exception as exc:
                if "BUSY" in str(exc):
                    break
            time.sleep(0.02)
        else:
            pytest.fail("the server never became BUSY")
        try:
            with caplog.at_level(logging.WARNING, logger="chai.cache"):
                for i in range(3):
                    res = c.lookup("a tiger", shape=SHAPE)
                    assert res.match is None and res.reason == "store_unavailable"
                    assert c.insert("a zebra on a hill", lats(i + 2)) is None
                st = c.stats()  # never raises either
        finally:
            probe.script_kill()
            blocker.join(30)
        assert st["unavailable_lookups"] == 3 and st["unavailable_inserts"] == 3 and st["entries"] is None
        assert st["store"]["server_error_kinds"]["BUSY"] >= 6 and st["store_server_errors"] >= 6
        assert logged(caplog, "BUSY") == 1  # logged once, counted every time
        assert c.lookup("a tiger", shape=SHAPE).match.entry_id == eid  # the server is back: served again
        c.check_consistency()
        c.close()


def test_out_of_memory_server_keeps_serving_hits_and_skips_inserts(caplog):
    require_redis_server()
    with RedisServer(extra=("--maxmemory", "4mb", "--maxmemory-policy", "noeviction")) as srv:
        c = make(srv.url, budget=1 << 30, quant_dtype=torch.float32)
        stored = {}
        with caplog.at_level(logging.WARNING, logger="chai.cache"):
            for i, subject in enumerate(SUBJECTS):
                eid = c.insert(f"a {subject}", lats(i, BIG))  # never raises, OOM or not
                if eid is None:
                    break
                stored[subject] = eid
            assert eid is None and len(stored) >= 2, "the server never ran out of memory"
            for i in range(5):  # more inserts are skipped; every stored entry is still served
                assert c.insert(f"a {SUBJECTS[-1 - i]} near a lake", lats(100 + i, BIG)) is None
            for subject, eid in stored.items():
                assert c.lookup(f"a {subject}", shape=BIG).match.entry_id == eid
            st = c.stats()
        assert st["unavailable_inserts"] == 6 and st["hits"] == len(stored) and st["entries"] == len(stored)
        assert st["store"]["server_error_kinds"]["OOM"] >= 6
        assert logged(caplog, "OOM") == 1
        consistency(srv.client())  # nothing half-written, no half eviction
        c.check_consistency()
        c.close()


def test_namespace_recreated_with_another_budget_gives_misses_not_errors(server, caplog):
    a = make(server.url, budget=100_000)
    a.insert("a tiger", lats(1))
    LatentCache.clear_location(server.url, "default")
    b = make(server.url, budget=200_000)  # recreates the namespace with another budget
    eb = b.insert("a zebra", lats(2))
    with caplog.at_level(logging.WARNING, logger="chai.cache"):
        for i in range(3):
            res = a.lookup("a zebra", shape=SHAPE)
            assert res.match is None and res.reason == "store_unavailable"
            assert a.insert("a camel", lats(3 + i)) is None  # nor written under the wrong budget
        st = a.stats()
    assert st["unavailable_lookups"] == 3 and st["unavailable_inserts"] == 3
    assert st["store"]["server_error_kinds"]["CONFIG"] >= 6
    assert logged(caplog, "budget_bytes") == 1
    assert b.lookup("a zebra", shape=SHAPE).match.entry_id == eb and b.entry_ids() == [eb]
    consistency(server.client(), budget=200_000)
    a.close()
    b.close()


def test_namespace_cleared_and_recreated_alike_goes_on(server):
    a = make(server.url)
    a.insert("a tiger", lats(1))
    LatentCache.clear_location(server.url, "default")
    eid = a.insert("a zebra", lats(2))  # the same settings: the insert recreates the namespace and is stored
    assert eid is not None and a.entry_ids() == [eid] and a.lookup("a zebra", shape=SHAPE).match.entry_id == eid
    a.check_consistency()
    a.close()


# -- item: head values are size-checked on the server -----------------------------------------------------------
def test_oversized_head_is_refused_on_the_server_before_it_is_sent(server, caplog):
    admin = server.client()
    with make(server.url) as c:
        victim, keep = c.insert("a tiger", lats(1)), c.insert("a zebra", lats(2))
    admin.set(key_prefix("default") + f"h:{victim}", b"x" * (8 << 20))  # 8 MB under a head key
    before = admin.info("stats")["total_net_output_bytes"]
    with caplog.at_level(logging.WARNING, logger="chai.cache"):
        c = make(server.url)  # builds its index from the heads
    sent = admin.info("stats")["total_net_output_bytes"] - before
    assert sent < 1 << 20, f"the server sent {sent} bytes"
    assert logged(caplog, "over the") == 1
    assert c.entry_ids() == [keep] and c.lookup("a tiger", shape=SHAPE).match is None
    # the same for a worker that follows the change log: a head planted after another worker's insert
    other = make(server.url)
    eid = other.insert("a camel", lats(3))
    admin.set(key_prefix("default") + f"h:{eid}", b"y" * (8 << 20))
    before = admin.info("stats")["total_net_output_bytes"]
    assert c.lookup("a camel", shape=SHAPE).match is None
    assert admin.info("stats")["total_net_output_bytes"] - before < 1 << 20
    consistency(admin)
    c.close()
    other.close()


# -- item: an insert that timed out after the server stored it is unknown, then settled ---------------------------
class ReplyHoldingProxy:
    """A TCP proxy in front of a real server; ``hold_replies`` drops what the server answers, ``hold_requests``
    drops what clients send (the request never arrives)."""

    def __init__(self, port: int):
        self.upstream = port
        self.hold_replies, self.hold_requests = threading.Event(), threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, upstream, self.hold_requests), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.hold_replies), daemon=True).start()

    @staticmethod
    def _pump(src, dst, hold):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not hold.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self._closing = True
        self.listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.mark.parametrize("lost", ["reply", "request"])
def test_insert_without_an_answer_is_unknown_until_the_next_sync_settles_it(server, lost):
    with ReplyHoldingProxy(server.port) as proxy:
        c = make(f"redis://127.0.0.1:{proxy.port}/0", redis_options={"socket_timeout": 0.5, "max_backoff_s": 0.2})
        c.remove(c.insert("a zebra", lats(0)))  # the server knows the insert script now (no NOSCRIPT round trip)
        (proxy.hold_replies if lost == "reply" else proxy.hold_requests).set()
        assert c.insert("a tiger in a cave", lats(1)) is None
        proxy.hold_replies.clear()
        proxy.hold_requests.clear()
        st = c.stats()
        assert (st["unknown_inserts"], st["unavailable_inserts"], st["inserts"]) == (1, 0, 1)
        stored = server.client().zcard(key_prefix("default") + "lru")
        assert stored == (1 if lost == "reply" else 0)
        time.sleep(0.3)  # past the backoff: the next call reaches the server and resynchronises
        m = c.lookup("a tiger", shape=SHAPE).match
        st = c.stats()
        if lost == "reply":  # the server stored it: it is served, and now counted as an insert
            assert m is not None and (st["unknown_inserts"], st["unavailable_inserts"], st["inserts"]) == (0, 0, 2)
        else:
            assert m is None and (st["unknown_inserts"], st["unavailable_inserts"], st["inserts"]) == (0, 1, 1)
        c.check_consistency()
        c.close()


# -- item: a server that evicts keys itself ----------------------------------------------------------------------
def test_server_evicting_keys_itself_is_warned_about_and_a_sync_repairs_the_namespace(caplog):
    require_redis_server()
    with RedisServer(extra=("--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru")) as srv:
        admin = srv.client()
        with caplog.at_level(logging.WARNING, logger="chai.cache"):
            c = make(srv.url, budget=1 << 30, quant_dtype=torch.float32)
        assert logged(caplog, "maxmemory-policy allkeys-lru") == 1
        assert c.stats()["store"]["maxmemory_policy"] == "allkeys-lru"
        for i, subject in enumerate(SUBJECTS):
            c.insert(f"a {subject}", lats(i, BIG))  # Redis evicts records, heads, counters as it sees fit
        # after the worker's last sync the server makes room once more, as it would for another client's write,
        # until its evictions have broken the namespace (the precondition of this test)
        broken = None
        for _ in range(20):
            admin.config_set("maxmemory", admin.info("memory")["used_memory"] - 500_000)
            admin.ping()  # evictions run before a command
            try:
                consistency(admin)
            except AssertionError as exc:
                broken = exc
                break
        admin.config_set("maxmemory", 0)  # no more evictions: what is left is the drift they made
        assert broken is not None, "the server's evictions never broke the namespace"
        with caplog.at_level(logging.WARNING, logger="chai.cache"):
            c2 = make(srv.url, budget=1 << 30, quant_dtype=torch.float32)  # a sync (snapshot) repairs it
        consistency(admin)  # byte count = sum of sizes, every listed entry whole, no orphaned record or head
        assert c2.stats()["store"]["repaired"] >= 1 and logged(caplog, "reclaimed") >= 1
        c2.check_consistency()
        for subject in SUBJECTS:  # whatever survived is served whole
            m = c2.lookup(f"a {subject}", shape=BIG).match
            assert m is None or len(m.latents) == 3
        c.close()
        c2.close()


def test_policy_is_checked_by_the_first_resync_when_the_server_was_down_at_open(caplog):
    require_redis_server()
    with RedisServer(extra=("--maxmemory-policy", "allkeys-lru")) as srv:
        srv.stop()
        with caplog.at_level(logging.WARNING, logger="chai.cache"):
            c = make(srv.url)
            srv.start()
            time.sleep(0.3)  # past the backoff
            assert c.lookup("a tiger", shape=SHAPE).reason == "no_match"
        assert logged(caplog, "maxmemory-policy allkeys-lru") == 1
        c.close()


def test_noeviction_server_gives_no_policy_warning(server, caplog):
    with caplog.at_level(logging.WARNING, logger="chai.cache"):
        c = make(server.url)
    assert c.stats()["store"]["maxmemory_policy"] == "noeviction" and logged(caplog, "maxmemory-policy") == 0
    c.close()


# -- item: tenants see only their own namespace -----------------------------------------------------------------
def _tenants(server):
    admin = server.client()
    for ns, pw in (("tenant-a", "pa"), ("tenant-b", "pb")):
        admin.execute_command("ACL", "SETUSER", f"user-{ns}", "on", f">{pw}", *tenant_acl_rules(ns))
    return server.url_for("user-tenant-a", "pa"), server.url_for("user-tenant-b", "pb")


def test_a_tenant_cannot_list_other_tenants_keys_or_namespaces(server):
    import redis

    url_a, url_b = _tenants(server)
    with make(url_a, namespace="tenant-a") as a, make(url_b, namespace="tenant-b") as b:
        a.insert("a tiger", lats(1))
        eb = b.insert("a secret zebra", lats(2))
    raw = redis.Redis.from_url(url_a)
    with pytest.raises(redis.exceptions.NoPermissionError):
        list(raw.scan_iter(match="*"))  # SCAN would list every tenant's key names and entry ids
    with pytest.raises(PermissionError, match="(?s)may not list.*HINT"):
        LatentCache.list_namespaces(url_a)
    assert LatentCache.list_namespaces(server.url) == ["tenant-a", "tenant-b"]  # an operator user sees all
    # a tenant's own namespace: stats and clear need no listing
    assert LatentCache.open_stats(url_a, "tenant-a")["entries"] == 1
    with pytest.raises(PermissionError, match="HINT"):
        LatentCache.open_stats(url_a, "tenant-b")
    assert LatentCache.clear_location(url_a, "tenant-a") == 1
    admin = server.client()
    assert not list(admin.scan_iter(match="chai:{tenant-a}:*"))  # every key of it went, without SCAN
    assert admin.get(key_prefix("tenant-b") + f"e:{eb}") is not None  # the other tenant is untouched
