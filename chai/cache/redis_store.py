"""The shared store: one namespace of the latent cache in a Redis server, used by a fleet of workers.

Keys of namespace ``ns`` (all share the hash tag ``{ns}``, so a Redis Cluster keeps a namespace in one
hash slot and its scripts stay single-slot):

=====================  ========  =================================================================
key                    type      holds
=====================  ========  =================================================================
``chai:{ns}:conf``     hash      embedder, dim, matching, budget_bytes, epoch (random, per creation)
``chai:{ns}:e:<id>``   string    the entry's record (``chai.cache.record``: CRC-checked binary)
``chai:{ns}:h:<id>``   string    the entry's head record (keys, vectors, shape, model; no latents)
``chai:{ns}:lru``      zset      entry id -> recency (a namespace clock, larger = more recent)
``chai:{ns}:size``     hash      entry id -> bytes charged against the budget
``chai:{ns}:bytes``    string    sum of ``size``: the namespace's bytes used
``chai:{ns}:clock``    string    the recency clock (INCR)
``chai:{ns}:seq``      string    number of change events written so far
``chai:{ns}:log``      stream    change events {op: add|del|reset, id, seq}, capped (MAXLEN ~)
=====================  ========  =================================================================

Every mutation is one Lua script, so it is atomic for the whole fleet: an insert checks the budget,
evicts least-recently-used entries, writes the record and head, updates LRU, sizes and byte count and
logs the events in one server-side step. Concurrent inserts from many processes can therefore never take
the namespace over budget, and a worker killed mid-insert (SIGKILL) either sent the whole script or
nothing: no half-written entry is ever visible. A hit refreshes the entry's recency for everyone.

Each worker keeps a local vector index mirror (built by the cache from :meth:`RedisStore.snapshot`) and
brings it up to date before every lookup from the change log (:meth:`RedisStore.changes`: one round
trip). A gap in the log (trimmed, Redis restarted or flushed, namespace cleared: the ``epoch`` or the
event sequence tells) makes the cache re-snapshot.

Values are decoded only by our own format (no pickle); a record's length is checked on the server before
it is sent. Faults: a connection error marks the store unavailable (logged once, counted in ``stats()``);
calls then fail fast with :class:`~chai.cache.store.StoreUnavailable` until the retry time, which backs
off exponentially up to ``max_backoff_s``; the first call that succeeds after an outage forces a resync.
Tenants: per-namespace ACL users (:func:`tenant_acl_rules`) restrict a worker to its own prefix on the
server, so even a crafted entry id cannot reach another tenant's keys.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import closing
from urllib.parse import urlsplit, urlunsplit

from chai.cache.contract import Change, EntryHead, EntryStore, StoreUnavailable, check_namespace
from chai.cache.record import MAX_RECORD_BYTES, decode_record, valid_entry_id

__all__ = ["RedisStore", "key_prefix", "redact_url", "tenant_acl_rules"]

log = logging.getLogger("chai.cache")

_LOG_MAXLEN = 100_000
_CHUNK = 256

# KEYS: bytes, clock, lru, size, log, seq, e:<id>, h:<id>     ARGV: id, nbytes, budget, record, head, prefix, maxlen
_PUT = """
local nbytes = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
if nbytes > budget then return redis.error_reply('CHAI_TOO_BIG') end
if redis.call('EXISTS', KEYS[7]) == 1 then return redis.error_reply('CHAI_EXISTS') end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local evicted = {}
while used + nbytes > budget do
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0)
  if #oldest == 0 then
    used = 0
    break
  end
  local id = oldest[1]
  used = used - tonumber(redis.call('HGET', KEYS[4], id) or '0')
  redis.call('DEL', ARGV[6] .. 'e:' .. id, ARGV[6] .. 'h:' .. id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'op', 'del', 'id', id, 'seq', redis.call('INCR', KEYS[6]))
  evicted[#evicted + 1] = id
end
redis.call('SET', KEYS[7], ARGV[4])
redis.call('SET', KEYS[8], ARGV[5])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[2]), ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('SET', KEYS[1], used + nbytes)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'op', 'add', 'id', ARGV[1], 'seq', redis.call('INCR', KEYS[6]))
return evicted
"""

# KEYS: bytes, lru, size, log, seq, e:<id>, h:<id>     ARGV: id, maxlen
_REMOVE = """
local sz = redis.call('HGET', KEYS[3], ARGV[1])
if not sz then return 0 end
redis.call('DEL', KEYS[6], KEYS[7])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DECRBY', KEYS[1], sz)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'op', 'del', 'id', ARGV[1], 'seq', redis.call('INCR', KEYS[5]))
return 1
"""

# KEYS: clock, lru     ARGV: id
_TOUCH = """
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[1]), ARGV[1])
  return 1
end
return 0
"""

# KEYS: e:<id>     ARGV: max bytes. The size is checked on the server, before the value is sent.
_GET = """
local n = redis.call('STRLEN', KEYS[1])
if n == 0 then return false end
if n > tonumber(ARGV[1]) then return redis.error_reply('CHAI_OVERSIZE ' .. n) end
return redis.call('GET', KEYS[1])
"""

# KEYS: bytes, lru, size, log, seq     ARGV: prefix, maxlen
_CLEAR = """
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. 'e:' .. id, ARGV[1] .. 'h:' .. id)
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], 0)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'op', 'reset', 'id', '', 'seq', redis.call('INCR', KEYS[5]))
return #ids
"""


def key_prefix(namespace: str) -> str:
    """Key prefix of a namespace: ``chai:{<namespace>}:`` (the braces are a Redis Cluster hash tag)."""
    return f"chai:{{{check_namespace(namespace)}}}:"


def tenant_acl_rules(namespace: str) -> list[str]:
    """ACL rules for a Redis user that may use namespace ``namespace`` and nothing else.

    Use as ``ACL SETUSER <user> on ><password> <rules...>``: the user can reach only keys under
    :func:`key_prefix` (scripts included: Redis checks every key a script touches against the caller's
    ACL) and only the commands the store sends. Example in docs/fleet.md.
    """
    cmds = ["get", "set", "mget", "del", "exists", "strlen", "incr", "decrby", "zadd", "zrange", "zrem",
            "zscore", "zcard", "hget", "hset", "hsetnx", "hdel", "hmget", "hgetall", "xadd", "xrange",
            "xrevrange", "evalsha", "eval", "script|load", "script|exists", "ping", "hello", "auth",
            "scan", "type", "multi", "exec", "discard", "zmscore"]
    return ["resetkeys", f"~{key_prefix(namespace)}*", "resetchannels", "-@all", *[f"+{c}" for c in cmds]]


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs, stats and reports)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _import_redis():
    try:
        import redis
    except ImportError:
        raise ImportError(
            "LatentCache: a redis:// location needs the redis-py client, which is not installed.\n"
            "HINT: pip install 'chai-video[redis]' (or pip install redis), and run a redis-server."
        ) from None
    return redis


class RedisStore(EntryStore):
    """One namespace of the cache in Redis (see the module docstring). Thread-safe for the cache's use."""

    backend = "redis"

    def __init__(self, url: str, *, namespace: str, budget_bytes: int, check_head, vector_nbytes: int = 0,
                 config: dict | None = None, config_keys: tuple[str, ...] = (), socket_timeout: float = 2.0,
                 max_backoff_s: float = 30.0, log_maxlen: int = _LOG_MAXLEN, client=None):
        redis = _import_redis()
        self._errors_mod = redis.exceptions
        self.namespace = check_namespace(namespace)
        self.budget_bytes = int(budget_bytes)
        self.vector_nbytes = int(vector_nbytes)
        self._check_head = check_head
        self._url = url
        self._prefix = key_prefix(namespace)
        self._maxlen = int(log_maxlen)
        self._max_backoff = float(max_backoff_s)
        self._config, self._config_keys = dict(config or {}), tuple(config_keys)
        if client is None:
            try:
                client = redis.Redis.from_url(url, socket_timeout=socket_timeout,
                                              socket_connect_timeout=socket_timeout, retry_on_timeout=False)
            except ValueError as exc:
                raise ValueError(f"LatentCache: cannot parse the Redis location {redact_url(url)!r}: {exc}.\n"
                                 "HINT: e.g. redis://localhost:6379/0, rediss://host:6380/0 or "
                                 "unix:///run/redis/redis.sock?db=0.") from None
        self._r = client
        self._scripts = {name: self._r.register_script(src) for name, src in
                         (("put", _PUT), ("remove", _REMOVE), ("touch", _TOUCH), ("get", _GET), ("clear", _CLEAR))}
        # Fault state and counters.
        self._down = False
        self._retry_at = 0.0
        self._backoff = 0.25
        self._need_resync = True
        self.errors = 0  # connection errors seen
        self.unavailable = 0  # calls refused while the server was unreachable
        self.reconnects = 0
        self.resyncs = 0
        self.dropped = 0
        self._epoch: str | None = None
        self._seq = 0
        self._cursor = "0-0"
        try:
            self._call(self._ensure_config)
        except StoreUnavailable:
            pass  # start degraded: lookups miss, inserts are skipped, retried with backoff

    # -- keys and fault handling ---------------------------------------------------------------------------------
    def _k(self, name: str) -> str:
        return self._prefix + name

    def _ek(self, entry_id: str) -> str:
        return self._prefix + "e:" + entry_id

    def _hk(self, entry_id: str) -> str:
        return self._prefix + "h:" + entry_id

    @property
    def location(self) -> str:
        return redact_url(self._url)

    def _call(self, fn, *args):
        """Run ``fn`` against the server, turning connection trouble into StoreUnavailable (logged once)."""
        now = time.monotonic()
        if self._down and now < self._retry_at:
            self.unavailable += 1
            raise StoreUnavailable(f"Redis at {self.location} is unreachable; next retry in {self._retry_at - now:.1f} s")
        exc_mod = self._errors_mod
        recovering = self._down
        if recovering:
            self._need_resync = True  # whatever happened meanwhile, the mirror resyncs (a snapshot clears this)
        try:
            out = fn(*args)
        except exc_mod.NoPermissionError as exc:
            raise PermissionError(
                f"LatentCache: the Redis user may not use namespace {self.namespace!r} ({exc}).\n"
                "HINT: connect as the tenant's own user (see chai.cache.redis_store.tenant_acl_rules), or ask the "
                "operator to grant its key prefix."
            ) from None
        except (exc_mod.ConnectionError, exc_mod.TimeoutError, OSError) as exc:
            self.errors += 1
            if not self._down:
                log.warning("chai cache: Redis at %s is unreachable (%s); lookups are misses and inserts are skipped "
                            "until it is back (retrying with backoff).", self.location, exc)
            self._down = True
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self._max_backoff)
            self.unavailable += 1
            raise StoreUnavailable(f"Redis at {self.location} is unreachable: {exc}") from None
        if recovering:
            self._down = False
            self._backoff = 0.25
            self.reconnects += 1
            log.warning("chai cache: Redis at %s is reachable again; resynchronising.", self.location)
        return out

    def _ensure_config(self) -> None:
        want = {k: str(v) for k, v in self._config.items()}
        want["budget_bytes"] = str(self.budget_bytes)
        conf = self._k("conf")
        created = self._r.hsetnx(conf, "epoch", uuid.uuid4().hex)
        if created:
            self._r.hset(conf, mapping=want)
        have = {k.decode(): v.decode() for k, v in self._r.hgetall(conf).items()}
        missing = [k for k in want if k not in have]
        if missing:  # a half-written conf (creator killed between the two writes): complete it
            self._r.hset(conf, mapping={k: want[k] for k in missing})
            have.update({k: want[k] for k in missing})
        diff = [k for k in (*self._config_keys, "budget_bytes") if have.get(k) != want.get(k)]
        if diff:
            raise ValueError(
                f"LatentCache: Redis namespace {self.namespace!r} at {self.location} was created with "
                + ", ".join(f"{k}={have.get(k)!r}" for k in diff)
                + " but this cache uses " + ", ".join(f"{k}={want.get(k)!r}" for k in diff)
                + "; every worker of a namespace must share one embedder, matching mode and byte budget.\n"
                "HINT: open it with the same settings, use another namespace, or clear it with "
                "`chai cache clear <location> --namespace NS`."
            )
        self._epoch = have["epoch"]

    def check_config(self, want: dict, compare: tuple[str, ...]) -> None:
        self._config, self._config_keys = dict(want), tuple(compare)
        self._call(self._ensure_config)

    # -- the contract --------------------------------------------------------------------------------------------
    def snapshot(self) -> list[EntryHead]:
        return self._call(self._snapshot)

    def _snapshot(self) -> list[EntryHead]:
        self._ensure_config()
        pipe = self._r.pipeline(transaction=True)
        pipe.get(self._k("seq"))
        pipe.xrevrange(self._k("log"), count=1)
        pipe.zrange(self._k("lru"), 0, -1, withscores=True)
        seq, last, ranked = pipe.execute()
        self._seq = int(seq or 0)
        self._cursor = last[0][0].decode() if last else "0-0"
        ids = [m.decode() for m, _ in ranked]
        scores = {m.decode(): int(s) for m, s in ranked}
        heads, bad = [], []
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i: i + _CHUNK]
            pipe = self._r.pipeline(transaction=False)
            pipe.mget([self._hk(x) for x in chunk])
            pipe.hmget(self._k("size"), chunk)
            blobs, sizes = pipe.execute()
            for entry_id, blob, size in zip(chunk, blobs, sizes):
                head = self._decode_head(entry_id, blob, size, scores[entry_id])
                if head is None:
                    if blob is not None:
                        bad.append(entry_id)
                    continue
                heads.append(head)
        for entry_id in bad:
            self._remove(entry_id)
        self._need_resync = False
        self.resyncs += 1
        return heads

    def _decode_head(self, entry_id: str, blob, size, last_used: int) -> EntryHead | None:
        if blob is None or size is None:
            return None  # removed between the two reads: its "del" event follows
        try:
            if not valid_entry_id(entry_id):
                raise ValueError(f"entry id {entry_id!r:.80} is not 32 hex digits")
            rec = decode_record(blob, with_payload=False)
            problem = None if rec.entry_id == entry_id else f"head of {rec.entry_id!r} stored under {entry_id!r}"
            problem = problem or self._check_head(rec)
            nbytes = int(size)
            if problem:
                raise ValueError(problem)
        except ValueError as exc:
            self.dropped += 1
            log.warning("chai cache: dropping damaged Redis entry %s: %s", entry_id, str(exc).splitlines()[0])
            return None
        return EntryHead.of(rec, nbytes, last_used)

    def changes(self) -> list[Change] | None:
        return self._call(self._changes)

    def _changes(self) -> list[Change] | None:
        if self._need_resync:
            self._r.ping()  # a real round trip: success must mean the server answers
            return None
        pipe = self._r.pipeline(transaction=True)
        pipe.hget(self._k("conf"), "epoch")
        pipe.get(self._k("seq"))
        pipe.xrange(self._k("log"), min=f"({self._cursor}", max="+")
        epoch, seq, events = pipe.execute()
        if epoch is None or epoch.decode() != self._epoch or int(seq or 0) < self._seq:
            return None  # restarted, flushed or cleared behind our back
        out, adds = [], []
        expect = self._seq + 1
        for ev_id, fields in events:
            f = {k.decode(): v.decode() for k, v in fields.items()}
            if int(f.get("seq", -1)) != expect:
                return None  # a gap: the log was trimmed past our cursor
            expect += 1
            self._cursor = ev_id.decode()
            if f["op"] == "reset":
                return None
            out.append(Change(f["op"], f["id"]))
            if f["op"] == "add":
                adds.append(f["id"])
        if expect - 1 < int(seq or 0):
            return None  # events exist that the log no longer holds
        self._seq = expect - 1
        if adds:
            pipe = self._r.pipeline(transaction=False)
            pipe.mget([self._hk(x) for x in adds])
            pipe.hmget(self._k("size"), adds)
            pipe.zmscore(self._k("lru"), adds)
            blobs, sizes, scores = pipe.execute()
            got = {}
            for entry_id, blob, size, score in zip(adds, blobs, sizes, scores):
                got[entry_id] = self._decode_head(entry_id, blob, size, int(score or 0))
            out = [c if c.op != "add" else Change("add", c.entry_id, got.get(c.entry_id)) for c in out]
            out = [c for c in out if c.op != "add" or c.head is not None]  # evicted since: its "del" follows
        return out

    def put(self, entry_id: str, record: bytes, head: bytes, nbytes: int) -> list[str]:
        if not valid_entry_id(entry_id):
            raise ValueError(f"cache store: entry id {entry_id!r:.80} is not 32 lowercase hex digits.")
        nbytes = int(nbytes)
        if nbytes > self.budget_bytes:
            raise ValueError(
                f"LatentCache: the entry needs {nbytes} bytes but the whole budget is {self.budget_bytes} bytes.\n"
                "HINT: raise budget_bytes, or store fewer / smaller latents (quant_dtype=torch.int8)."
            )
        keys = [self._k(n) for n in ("bytes", "clock", "lru", "size", "log", "seq")] + [self._ek(entry_id),
                                                                                       self._hk(entry_id)]
        args = [entry_id, nbytes, self.budget_bytes, record, head, self._prefix, self._maxlen]
        try:
            evicted = self._call(self._scripts["put"], keys, args)
        except self._errors_mod.ResponseError as exc:
            raise ValueError(f"LatentCache: Redis refused the insert of {entry_id}: {exc}") from None
        return [e.decode() for e in evicted]

    def get(self, entry_id: str) -> bytes | None:
        if not valid_entry_id(entry_id):
            raise ValueError(f"cache store: entry id {entry_id!r:.80} is not 32 lowercase hex digits.")
        limit = min(self.budget_bytes, MAX_RECORD_BYTES)
        try:
            return self._call(self._scripts["get"], [self._ek(entry_id)], [limit])
        except self._errors_mod.ResponseError as exc:
            raise ValueError(f"cache entry record: {exc} bytes exceed the {limit}-byte limit") from None

    def touch(self, entry_id: str) -> None:
        self._call(self._scripts["touch"], [self._k("clock"), self._k("lru")], [entry_id])

    def _remove(self, entry_id: str) -> bool:
        keys = [self._k(n) for n in ("bytes", "lru", "size", "log", "seq")] + [self._ek(entry_id), self._hk(entry_id)]
        return bool(self._scripts["remove"](keys, [entry_id, self._maxlen]))

    def remove(self, entry_id: str) -> bool:
        if not valid_entry_id(entry_id):
            raise ValueError(f"cache store: entry id {entry_id!r:.80} is not 32 lowercase hex digits.")
        return self._call(self._remove, entry_id)

    def clear(self) -> int:
        keys = [self._k(n) for n in ("bytes", "lru", "size", "log", "seq")]
        return int(self._call(self._scripts["clear"], keys, [self._prefix, self._maxlen]))

    def lru_ids(self) -> list[str]:
        return [m.decode() for m in self._call(self._r.zrange, self._k("lru"), 0, -1)]

    def __len__(self) -> int:
        return int(self._call(self._r.zcard, self._k("lru")))

    def bytes_used(self) -> int:
        return int(self._call(self._r.get, self._k("bytes")) or 0)

    def entry_nbytes(self, entry_id: str) -> int | None:
        v = self._call(self._r.hget, self._k("size"), entry_id)
        return None if v is None else int(v)

    def stats(self) -> dict:
        return {"backend": self.backend, "location": self.location, "errors": self.errors,
                "unavailable": self.unavailable, "reconnects": self.reconnects, "resyncs": self.resyncs,
                "store_dropped": self.dropped, "available": not self._down}

    def close(self) -> None:
        try:
            self._r.close()
        except Exception:
            pass

    # -- namespace tools (``chai cache stats|clear``) -------------------------------------------------------
    @staticmethod
    def _client(url: str):
        redis = _import_redis()
        return redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)

    @staticmethod
    def list_namespaces(url: str) -> list[str]:
        with closing(RedisStore._client(url)) as r:
            keys = (k.decode() for k in r.scan_iter(match="chai:{*}:conf", count=1000))
            return sorted({k[len("chai:{"): -len("}:conf")] for k in keys})

    @staticmethod
    def namespace_stats(url: str, ns: str) -> dict:
        p = key_prefix(ns)
        with closing(RedisStore._client(url)) as r:
            conf = {k.decode(): v.decode() for k, v in r.hgetall(p + "conf").items()}
            entries, used = int(r.zcard(p + "lru")), int(r.get(p + "bytes") or 0)

        def num(key):
            return int(conf[key]) if conf.get(key, "").isdigit() else None

        return {"entries": entries, "bytes_used": used, "budget_bytes": num("budget_bytes"),
                "embedder": conf.get("embedder"), "dim": num("dim"), "matching": conf.get("matching")}

    @staticmethod
    def clear_namespace(url: str, ns: str) -> int:
        """Delete every key of namespace ``ns`` (entries and configuration); returns the entries removed."""
        p = key_prefix(ns)
        with closing(RedisStore._client(url)) as r:
            n = int(r.zcard(p + "lru"))
            batch = []
            for k in r.scan_iter(match=p.replace("{", "\\{").replace("}", "\\}") + "*", count=1000):
                batch.append(k)
                if len(batch) >= 500:
                    r.delete(*batch)
                    batch = []
            if batch:
                r.delete(*batch)
            return n
