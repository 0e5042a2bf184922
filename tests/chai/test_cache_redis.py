"""The Redis store against a real redis-server: a fleet of worker processes, faults, restarts, tenants.

Every test here talks to a real ``redis-server`` started by the fixture on a free localhost port.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai.cache.redis_store import key_prefix, tenant_acl_rules
from tests.redis_server import RedisServer, require_redis_server

REPO = Path(__file__).resolve().parents[2]
SHAPE = (1, 4, 3, 6, 7)


@pytest.fixture
def server():
    require_redis_server()
    with RedisServer(persist=True) as srv:
        yield srv


def lats(seed, shape=SHAPE):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) + 0.1 for _ in range(3)]


def make(url, budget=200_000, **kw):
    kw.setdefault("redis_options", {"socket_timeout": 1.0, "max_backoff_s": 0.2})
    return LatentCache(budget, url, extractor=BuiltinExtractor(), embedder=HashingEmbedder(64), **kw)


def consistency(client, ns="default", budget=None):
    """Server-side invariants of a namespace: sizes sum to the byte count, every entry is whole."""
    p = key_prefix(ns)
    ids = {m.decode() for m in client.zrange(p + "lru", 0, -1)}
    sizes = {k.decode(): int(v) for k, v in client.hgetall(p + "size").items()}
    used = int(client.get(p + "bytes") or 0)
    problems = []
    if set(sizes) != ids:
        problems.append(f"lru {len(ids)} ids vs size {len(sizes)} ids")
    if sum(sizes.values()) != used:
        problems.append(f"bytes {used} != sum of sizes {sum(sizes.values())}")
    if budget is not None and used > budget:
        problems.append(f"bytes {used} > budget {budget}")
    for kind in ("e", "h"):
        stored = {k.decode()[len(p) + 2:] for k in client.scan_iter(match=f"chai:{{{ns}}}:{kind}:*")}
        if stored != ids:
            problems.append(f"{kind}: keys {len(stored)} vs {len(ids)} entries (partial entry visible)")
    assert not problems, problems


# -- fleet ---------------------------------------------------------------------------------------------------------
_WORKER = textwrap.dedent(
    """
    import json, sys, time, torch
    from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
    url, wid, budget, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    subjects = ["tiger", "zebra", "camel", "otter", "horse", "falcon", "lighthouse", "teapot", "robot", "dragon",
                "castle", "bicycle", "violin", "glacier", "octopus", "cactus"]
    c = LatentCache(budget, url, extractor=BuiltinExtractor(), embedder=HashingEmbedder(64),
                    redis_options={"socket_timeout": 1.0, "max_backoff_s": 0.2})
    shape = (1, 4, 3, 6, 7)
    log = open(out, "a", buffering=1)
    log.write(json.dumps({"ready": wid}) + "\\n")
    for i in range(n):
        prompt = f"a {subjects[(i * 5 + wid * 3) % len(subjects)]} near a thing{wid}x{i}"
        res = c.lookup(prompt, shape=shape)
        if res.match is not None:
            log.write(json.dumps({"hit": res.match.entry_id, "w": wid, "t": time.time()}) + "\\n")
            time.sleep(0.02)
            continue
        g = torch.Generator().manual_seed(wid * 1000 + i)
        eid = c.insert(prompt, [torch.randn(shape, generator=g) for _ in range(3)], lookup=res)
        if eid is not None:
            log.write(json.dumps({"ack": eid, "w": wid, "t": time.time()}) + "\\n")
        time.sleep(0.02)
    st = c.stats()
    log.write(json.dumps({"done": wid, "errors": st["store_errors"], "unavail": st["unavailable_lookups"]
                          + st["unavailable_inserts"], "resyncs": st["store"]["resyncs"]}) + "\\n")
    """
)


def test_fleet_of_four_workers_shares_one_budget_through_kill_and_restart(server, tmp_path):
    budget = 120_000
    client = server.client()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    logs = [tmp_path / f"w{i}.jsonl" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, server.url, str(i), str(budget), "250", str(logs[i])],
                              env=env) for i in range(4)]
    over, stop = [], threading.Event()

    def monitor():  # the byte budget is never exceeded, at any moment, by the fleet as a whole
        mc = server.client(socket_timeout=0.5)
        while not stop.is_set():
            try:
                used = int(mc.get(key_prefix("default") + "bytes") or 0)
                if used > budget:
                    over.append(used)
            except Exception:
                pass  # the server is being restarted
            time.sleep(0.002)

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(lg.exists() and "ack" in lg.read_text() for lg in logs):
            time.sleep(0.05)
        procs[3].send_signal(signal.SIGKILL)  # one worker dies mid-run, likely inside an insert
        procs[3].wait()
        time.sleep(0.2)
        server.restart()  # killed without a graceful save; comes back from its append-only file
        restarted_at = time.time()
        for p in procs[:3]:
            assert p.wait(timeout=240) == 0
    finally:
        stop.set()
        mon.join()
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert not over, f"budget exceeded: {max(over)} > {budget}"
    consistency(client, budget=budget)
    events = [json.loads(line) for lg in logs for line in lg.read_text().splitlines()]
    acked = {e["ack"]: e["w"] for e in events if "ack" in e}
    hits = [e for e in events if "hit" in e]
    assert len(acked) >= 12 and len(hits) >= 100  # 16 subjects: the fleet misses each about once, then hits
    assert any(acked.get(h["hit"]) not in (None, h["w"]) for h in hits), "no worker hit another worker's entry"
    done = [e for e in events if "done" in e]
    assert sorted(d["done"] for d in done) == [0, 1, 2]  # the killed worker never finished
    for w in range(3):  # every survivor kept serving after the restart
        assert any(e.get("w") == w and e.get("t", 0) > restarted_at for e in events)
    # no acknowledged entry disappeared except by eviction (every eviction is in the change log)
    log_ids = {}
    for _, f in client.xrange(key_prefix("default") + "log"):
        log_ids.setdefault(f[b"op"].decode(), set()).add(f[b"id"].decode())
    present = {m.decode() for m in client.zrange(key_prefix("default") + "lru", 0, -1)}
    lost = [e for e in acked if e not in present and e not in log_ids.get("del", set())]
    assert not lost, f"{len(lost)} acknowledged entries vanished without an eviction"
    # a fresh worker builds its mirror from the server and serves hits
    with make(server.url, budget=budget) as c:
        assert len(c.matcher) == len(present) > 0
        c.check_consistency()


# -- faults --------------------------------------------------------------------------------------------------------
def test_unreachable_at_start_then_recovers(server, caplog):
    url = server.url
    server.stop()
    with caplog.at_level(logging.WARNING, logger="chai.cache"):
        c = make(url)
        for i in range(5):
            res = c.lookup("a tiger in a cave", shape=SHAPE)
            assert res.match is None and res.reason == "store_unavailable"
            assert c.insert("a tiger in a cave", lats(i), lookup=res) is None  # skipped, never raised
        st = c.stats()
        assert st["unavailable_lookups"] == 5 and st["unavailable_inserts"] == 5 and st["store_errors"] >= 1
        assert st["entries"] is None
        assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1  # logged once
    server.start()
    time.sleep(0.3)  # past the (test-sized) backoff
    eid = c.insert("a tiger in a cave", lats(9))
    assert eid is not None and c.lookup("a tiger", shape=SHAPE).match.entry_id == eid
    for _ in range(3):
        c.lookup("a tiger", shape=SHAPE)
    st = c.stats()["store"]
    assert st["reconnects"] == 1 and st["resyncs"] == 1  # one snapshot after the outage, not one per call
    c.close()


def test_outage_mid_run_then_resync_after_empty_restart(server):
    a, b = make(server.url), make(server.url)
    e1 = a.insert("a tiger", lats(1))
    assert b.lookup("a tiger", shape=SHAPE).match.entry_id == e1
    server.restart(wipe=True)  # comes back empty
    assert b.lookup("a tiger", shape=SHAPE).match is None  # resynchronised: the mirror no longer serves e1
    e2 = a.insert("a zebra", lats(2))
    assert b.lookup("a zebra", shape=SHAPE).match.entry_id == e2
    server.stop()
    assert a.lookup("a zebra", shape=SHAPE).reason == "store_unavailable"
    assert a.insert("a camel", lats(3)) is None
    server.start()
    time.sleep(0.3)
    assert a.lookup("a zebra", shape=SHAPE).match.entry_id == e2
    for c in (a, b):
        c.check_consistency()
        c.close()


def test_restart_from_persistence_keeps_entries(server):
    a = make(server.url)
    ids = [a.insert(f"a {w}", lats(i)) for i, w in enumerate(["tiger", "zebra", "camel"])]
    server.restart()  # SIGKILL; the append-only file (fsync always) brings every entry back
    assert a.lookup("a camel", shape=SHAPE).match.entry_id == ids[2]
    assert sorted(a.entry_ids()) == sorted(ids)
    consistency(server.client())
    a.close()


def test_hit_on_an_entry_redis_no_longer_has_heals_the_mirror(server):
    a, b = make(server.url), make(server.url)
    eid = a.insert("a tiger", lats(1))
    assert b.lookup("a tiger", shape=SHAPE).match.entry_id == eid
    # delete behind everyone's back (no change event): b's mirror still holds the entry
    client = server.client()
    client.delete(key_prefix("default") + f"e:{eid}")
    res = b.lookup("a tiger", shape=SHAPE)
    assert res.match is None and eid not in b.matcher and b.stats()["healed"] == 1
    a.close()
    b.close()


def test_sigkill_mid_insert_leaves_nothing_partial(server, tmp_path):
    child = textwrap.dedent(
        """
        import sys, torch
        from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
        c = LatentCache(1 << 40, sys.argv[1], extractor=BuiltinExtractor(), embedder=HashingEmbedder(64),
                        quant_dtype=torch.float32)
        print("ready", flush=True)
        i = 0
        while True:
            x = [torch.randn(1, 4, 16, 64, 64) for _ in range(3)]
            print(c.insert(f"a tiger number {i} and a lamp", x), flush=True)
            i += 1
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    completed = []
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", child, server.url], stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout.readline().strip() == "ready"
            for _ in range(2):
                completed.append(proc.stdout.readline().strip())
            time.sleep(0.013 * (round_ + 1))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        completed.extend(line.strip() for line in proc.stdout if line.strip())
        consistency(server.client())
    with make(server.url, budget=1 << 40, quant_dtype=torch.float32) as c:
        assert set(completed) <= set(c.entry_ids())
        assert c.lookup("a tiger number 0 and a lamp", shape=(1, 4, 16, 64, 64)).match is not None
        c.check_consistency()


def test_corrupted_value_is_detected_and_dropped(server):
    with make(server.url) as c:
        eid = c.insert("a tiger", lats(1))
        client = server.client()
        key = key_prefix("default") + f"e:{eid}"
        buf = bytearray(client.get(key))
        buf[len(buf) // 2] ^= 0x10
        client.set(key, bytes(buf))
        with pytest.warns(RuntimeWarning, match="CRC32"):
            assert c.lookup("a tiger", shape=SHAPE).match is None
        assert eid not in c.entry_ids()
        consistency(client)


def test_oversized_value_is_refused_before_it_is_sent(server):
    with make(server.url, budget=100_000) as c:
        eid = c.insert("a tiger", lats(1))
        client = server.client()
        client.set(key_prefix("default") + f"e:{eid}", b"x" * 200_000)  # larger than the whole budget
        with pytest.warns(RuntimeWarning, match="exceed"):
            assert c.lookup("a tiger", shape=SHAPE).match is None
        assert eid not in c.entry_ids()


def test_unix_socket_location(server):
    with make(server.unix_url) as c:
        eid = c.insert("a tiger", lats(1))
        assert c.lookup("a tiger", shape=SHAPE).match.entry_id == eid
        assert c.stats()["backend"] == "redis"


def test_one_namespace_one_cluster_hash_slot(server):
    from redis.crc import key_slot

    with make(server.url, namespace="tenant-a") as c:
        c.insert("a tiger", lats(1))
        c.lookup("a tiger", shape=SHAPE)
    keys = list(server.client().scan_iter(match="chai:*"))
    assert len(keys) >= 8 and all(k.startswith(b"chai:{tenant-a}:") for k in keys)
    assert len({key_slot(k) for k in keys}) == 1


def test_budget_must_agree_across_workers(server):
    with make(server.url, budget=100_000), pytest.raises(ValueError, match="(?s)budget_bytes.*HINT"):
        make(server.url, budget=200_000)


# -- tenants -------------------------------------------------------------------------------------------------------
def test_acl_users_are_confined_to_their_namespace(server):
    import redis

    admin = server.client()
    for ns, pw in (("tenant-a", "pa"), ("tenant-b", "pb")):
        admin.execute_command("ACL", "SETUSER", f"user-{ns}", "on", f">{pw}", *tenant_acl_rules(ns))
    a = make(server.url_for("user-tenant-a", "pa"), namespace="tenant-a")
    b = make(server.url_for("user-tenant-b", "pb"), namespace="tenant-b")
    ea = a.insert("a tiger", lats(1))
    eb = b.insert("a tiger", lats(2))
    assert a.lookup("a tiger", shape=SHAPE).match.entry_id == ea
    assert b.lookup("a tiger", shape=SHAPE).match.entry_id == eb
    # A's credentials cannot open B's namespace ...
    with pytest.raises(PermissionError, match="HINT"):
        make(server.url_for("user-tenant-a", "pa"), namespace="tenant-b")
    # ... nor read B's entry with a raw client and a crafted key, even knowing its id
    raw = redis.Redis.from_url(server.url_for("user-tenant-a", "pa"))
    with pytest.raises(redis.exceptions.NoPermissionError):
        raw.get(key_prefix("tenant-b") + f"e:{eb}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        raw.keys("*")
    assert raw.get(key_prefix("tenant-a") + f"e:{ea}") is not None
    # a crafted entry id can never address another prefix: ids are validated before any key is built
    with pytest.raises(ValueError, match="32 lowercase hex"):
        a.store.get("x}:e:" + eb)
    a.close()
    b.close()


def test_rediss_tls_location(tmp_path):
    require_redis_server()
    import shutil

    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is needed to make the TLS test's certificate")
        pytest.skip("openssl is not installed")
    with RedisServer(tls=True) as srv:
        assert srv.url.startswith("rediss://")
        with make(srv.url) as c:
            eid = c.insert("a tiger", lats(1))
            assert c.lookup("a tiger", shape=SHAPE).match.entry_id == eid
            assert c.stats()["backend"] == "redis" and c.stats()["store_errors"] == 0
        # a plain-text client cannot talk to the TLS port: the cache degrades, it does not fail
        with make(srv.url.replace("rediss://", "redis://").split("?")[0]) as plain:
            assert plain.lookup("a tiger", shape=SHAPE).reason == "store_unavailable"


def test_lookup_extracts_and_embeds_once_and_insert_reuses_it(server):
    class Counting:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0
            self.name = inner.name
            self.dim = getattr(inner, "dim", None)

        def extract(self, prompt):
            self.calls += 1
            return self.inner.extract(prompt)

        def embed(self, texts):
            self.calls += 1
            return self.inner.embed(texts)

    ex, emb = Counting(BuiltinExtractor()), Counting(HashingEmbedder(64))
    with LatentCache(200_000, server.url, extractor=ex, embedder=emb) as c:
        res = c.lookup("a tiger in a cave", shape=SHAPE)
        c.insert("a tiger in a cave", lats(1), lookup=res)
        assert (ex.calls, emb.calls) == (1, 1)  # a miss: one extraction, one embedding
        c.insert("a zebra", lats(2))  # without a Lookup, insert computes them itself
        assert (ex.calls, emb.calls) == (2, 2)
