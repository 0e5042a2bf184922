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

Values are decoded only by our own format (no pickle); a record's or head's length is checked on the server
before it is sent. Faults: a connection error marks the store unavailable (logged once, counted in ``stats()``);
calls then fail fast with :class:`~chai.cache.contract.StoreUnavailable` until the retry time, which backs
off exponentially up to ``max_backoff_s``; the first call that succeeds after an outage forces a resync. An
error reply of the server (BUSY, OOM, READONLY, a namespace configuration recreated with another budget, ...)
is a StoreUnavailable too, counted per kind and logged once per kind. An insert whose reply timed out after it
was sent raises :class:`~chai.cache.contract.OutcomeUnknown`: the next sync tells whether it was stored.
Scripts declare their flags: reads run under OOM, an insert is refused whole under OOM, removals run under
OOM (they free memory). Redis must not evict keys itself (``maxmemory-policy noeviction``): the store warns
at open when the policy says otherwise, and every resync then repairs the namespace (counters recomputed,
half-evicted entries and orphaned keys reclaimed).
Tenants: per-namespace ACL users (:func:`tenant_acl_rules`) restrict a worker to its own prefix on the
server, so even a crafted entry id cannot reach another tenant's keys, and a tenant cannot list the server's
keys (no SCAN): it sees its own namespace only.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import closing
from urllib.parse import urlsplit, urlunsplit

from chai.cache.contract import Change, EntryHead, EntryStore, OutcomeUnknown, StoreUnavailable, check_namespace
from chai.cache.record import MAX_HEAD_BYTES, MAX_RECORD_BYTES, decode_record, valid_entry_id

__all__ = ["RedisStore", "key_prefix", "redact_url", "tenant_acl_rules"]

log = logging.getLogger("chai.cache")

_LOG_MAXLEN = 100_000
_CHUNK = 256

# Every script declares its flags (Redis 7 shebang): without them Redis runs a script under OOM until its first
# write, which fails there and leaves the writes before it in place (half an eviction). ``#!lua`` alone: refused
# whole under OOM. ``no-writes``: a read, served under OOM. ``allow-oom``: removals, which free memory.

# KEYS: bytes, clock, lru, size, log, seq, e:<id>, h:<id>, conf
# ARGV: id, nbytes, budget, record, head, prefix, maxlen, epoch
# CHAI_EXISTS: the id is taken, which for a random id means an earlier try of this very insert was stored.
# CHAI_STALE: the namespace was recreated (cleared, maybe with other settings) since this worker checked it.
_PUT = """#!lua
local nbytes = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
if redis.call('HGET', KEYS[9], 'epoch') ~= ARGV[8] then return redis.error_reply('CHAI_STALE') end
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

# KEYS: bytes, lru, size, log, seq, e:<id>, h:<id>     ARGV: id, maxlen. Whatever is left of the entry goes.
_REMOVE = """#!lua flags=allow-oom
local sz = redis.call('HGET', KEYS[3], ARGV[1])
local ranked = redis.call('ZREM', KEYS[2], ARGV[1])
local parts = redis.call('DEL', KEYS[6], KEYS[7])
if not sz and ranked == 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
if tonumber(sz) then redis.call('DECRBY', KEYS[1], sz) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'op', 'del', 'id', ARGV[1], 'seq', redis.call('INCR', KEYS[5]))
return 1
"""

# KEYS: clock, lru     ARGV: id
_TOUCH = """#!lua
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[1]), ARGV[1])
  return 1
end
return 0
"""

# KEYS: e:<id>     ARGV: max bytes. The size is checked on the server, before the value is sent.
_GET = """#!lua flags=no-writes
local n = redis.call('STRLEN', KEYS[1])
if n == 0 then return false end
if n > tonumber(ARGV[1]) then return redis.error_reply('CHAI_OVERSIZE ' .. n) end
return redis.call('GET', KEYS[1])
"""

# KEYS: bytes, lru, size, log, seq     ARGV: prefix, maxlen
_CLEAR = """#!lua flags=allow-oom
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. 'e:' .. id, ARGV[1] .. 'h:' .. id)
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], 0)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'op', 'reset', 'id', '', 'seq', redis.call('INCR', KEYS[5]))
return #ids
"""


# KEYS: h:<id>...     ARGV: max bytes. Each head whose size is within the limit, else its size (an integer; the
# value is never sent), else false (missing).
_HEADS = """#!lua flags=no-writes
local out = {}
local limit = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local n = redis.call('STRLEN', key)
  if n == 0 then out[i] = false
  elseif n > limit then out[i] = n
  else out[i] = redis.call('GET', key) end
end
return out
"""

# KEYS: bytes, lru, size, log, seq     ARGV: prefix, maxlen, more candidate ids (from the change log)...
# Keeps every whole entry (ranked, sized, record and head present), deletes what is left of any other candidate
# (logging a "del" for those that were listed) and sets the byte counter to the sum of the kept sizes.
_REPAIR = """#!lua flags=allow-oom
local prefix = ARGV[1]
local cand, order = {}, {}
local function add(id) if not cand[id] then cand[id] = true; order[#order + 1] = id end end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do add(id) end
local sized = redis.call('HGETALL', KEYS[3])
for i = 1, #sized, 2 do add(sized[i]) end
for i = 3, #ARGV do add(ARGV[i]) end
local total, reclaimed = 0, 0
for _, id in ipairs(order) do
  local sz = tonumber(redis.call('HGET', KEYS[3], id) or '')
  local ranked = redis.call('ZSCORE', KEYS[2], id)
  local ek, hk = prefix .. 'e:' .. id, prefix .. 'h:' .. id
  if sz and ranked and redis.call('EXISTS', ek) == 1 and redis.call('EXISTS', hk) == 1 then
    total = total + sz
  else
    local n = redis.call('DEL', ek, hk) + redis.call('ZREM', KEYS[2], id) + redis.call('HDEL', KEYS[3], id)
    if n > 0 then
      reclaimed = reclaimed + 1
      if ranked then
        local seq = redis.call('INCR', KEYS[5])
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'op', 'del', 'id', id, 'seq', seq)
      end
    end
  end
end
redis.call('SET', KEYS[1], total)
return reclaimed
"""

#: Error replies of our own scripts: the caller handles them (the rest are server faults: counted, logged once).
_OWN_REPLIES = ("CHAI_TOO_BIG", "CHAI_EXISTS", "CHAI_OVERSIZE", "CHAI_STALE")


def _num(v) -> int | None:
    """An integer stored by our scripts, or None for anything else (missing, or written by someone else)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, bytes):
        v = v.decode("ascii", "replace")
    return int(v) if isinstance(v, str) and v.isdigit() else None


#: Error codes redis-py drops from the message when it raises its own class for them.
_ERROR_CLASS_KINDS = {"OutOfMemoryError": "OOM", "ReadOnlyError": "READONLY", "ExecAbortError": "EXECABORT",
                      "NoScriptError": "NOSCRIPT", "MasterDownError": "MASTERDOWN", "TryAgainError": "TRYAGAIN"}


class _Refused(Exception):
    """A server-side refusal found by our own checks (not an error reply): ``kind`` and a one-line reason."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


def key_prefix(namespace: str) -> str:
    """Key prefix of a namespace: ``chai:{<namespace>}:`` (the braces are a Redis Cluster hash tag)."""
    return f"chai:{{{check_namespace(namespace)}}}:"


def tenant_acl_rules(namespace: str) -> list[str]:
    """ACL rules for a Redis user that may use namespace ``namespace`` and nothing else.

    Use as ``ACL SETUSER <user> on ><password> <rules...>``: the user can reach only keys under
    :func:`key_prefix` (scripts included: Redis checks every key a script touches against the caller's
    ACL) and only the commands the store sends. No SCAN or KEYS: those list every key of the server whatever
    the key patterns, so a tenant could read the other tenants' namespaces and entry ids. Example and the
    server settings a tenant setup needs (the ``default`` user) in docs/fleet.md.
    """
    cmds = ["get", "set", "mget", "del", "exists", "strlen", "incr", "decrby", "zadd", "zrange", "zrem",
            "zscore", "zcard", "hget", "hset", "hsetnx", "hdel", "hmget", "hgetall", "xadd", "xrange",
            "xrevrange", "evalsha", "eval", "script|load", "script|exists", "ping", "hello", "auth", "multi",
            "exec", "discard", "zmscore"]
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
            client = _make_client(url, socket_timeout)
        self._r = client
        self._scripts = {name: self._r.register_script(src) for name, src in
                         (("put", _PUT), ("remove", _REMOVE), ("touch", _TOUCH), ("get", _GET), ("clear", _CLEAR),
                          ("heads", _HEADS), ("repair", _REPAIR))}
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
        self.server_errors: dict[str, int] = {}  # error replies and refusals by kind (BUSY, OOM, CONFIG, ...)
        self.repaired = 0  # half-evicted entries and orphaned keys reclaimed by resyncs
        self.eviction_policy: str | None = None  # the server's maxmemory-policy, when this user may read it
        self._policy_checked = False
        self._epoch: str | None = None
        self._seq = 0
        self._cursor = "0-0"
        try:
            self._call(self._ensure_config)
            self._call(self._check_policy)
        except StoreUnavailable:  # (the policy is then checked by the first resync that reaches the server)
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

    def _call(self, fn, *args, write: bool = False):
        """Run ``fn`` against the server. Connection trouble becomes StoreUnavailable (logged once per outage,
        then calls fail fast until the retry time); an error reply of the server or a refusal of our own checks
        becomes StoreUnavailable too (counted and logged once per kind). ``write``: a timeout after the request
        went out leaves the write's outcome unknown (OutcomeUnknown)."""
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
                "HINT: connect as the tenant's own user, created with "
                "chai.cache.redis_store.tenant_acl_rules(namespace); after an upgrade, run its ACL SETUSER again "
                "(the rules follow the commands the store sends)."
            ) from None
        except exc_mod.ResponseError as exc:
            if str(exc).startswith(_OWN_REPLIES):
                raise
            message = str(exc).split("caused error: ", 1)[-1]  # a pipeline names its failed command first
            # redis-py strips the error code of the replies it has a class for (OOM, READONLY, ...)
            kind = _ERROR_CLASS_KINDS.get(type(exc).__name__) or message.split(" ", 1)[0]
            self._refused(kind, message if kind in message else f"{kind} {message}")
        except _Refused as exc:
            self._refused(exc.kind, str(exc))
        except (exc_mod.ConnectionError, exc_mod.TimeoutError, exc_mod.InvalidResponse, OSError) as exc:
            self.errors += 1
            if not self._down:
                log.warning("chai cache: Redis at %s is unreachable (%s); lookups are misses and inserts are skipped "
                            "until it is back (retrying with backoff).", self.location, exc)
            self._down = True
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self._max_backoff)
            self.unavailable += 1
            # A write may have gone out and been executed unless this was a first connection attempt to a server
            # already known down (on a live connection, a failed reconnect may follow a request that went out).
            if write and not (recovering and "connecting" in str(exc)):
                raise OutcomeUnknown(f"Redis at {self.location} did not answer an insert: {exc}") from None
            raise StoreUnavailable(f"Redis at {self.location} is unreachable: {exc}") from None
        if recovering:
            self._down = False
            self._backoff = 0.25
            self.reconnects += 1
            log.warning("chai cache: Redis at %s is reachable again; resynchronising.", self.location)
        return out

    def _refused(self, kind: str, message: str):
        kind = kind if kind.isalpha() and kind.isupper() and len(kind) <= 16 else "ERR"
        first = kind not in self.server_errors
        self.server_errors[kind] = self.server_errors.get(kind, 0) + 1
        if first:
            log.warning("chai cache: Redis at %s refused a request (%s); lookups are misses and inserts are skipped "
                        "while it does. Logged once per kind; stats()['store']['server_errors'] counts them.",
                        self.location, message.splitlines()[0][:300])
        raise StoreUnavailable(f"Redis at {self.location} refused the request: {message}") from None

    def _ensure_config(self) -> None:
        """Check (and on first use, create) the namespace configuration. Reads only when it is complete, so it
        works under OOM. ValueError with a HINT when the namespace was created with other settings."""
        want = {k: str(v) for k, v in self._config.items()}
        want["budget_bytes"] = str(self.budget_bytes)
        conf = self._k("conf")
        have = {k.decode(): v.decode() for k, v in self._r.hgetall(conf).items()}
        if "epoch" not in have:
            if self._r.hsetnx(conf, "epoch", uuid.uuid4().hex):
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

    def _check_policy(self) -> None:
        """Read the server's maxmemory-policy (CONFIG GET, else INFO; a tenant user may read neither) and warn
        when Redis may evict keys itself: it can drop half an entry or a namespace's counters."""
        exc_mod = self._errors_mod
        policy = None
        try:
            got = self._r.config_get("maxmemory-policy")
            policy = next(iter(got.values()), None) if got else None
        except exc_mod.ResponseError as exc:  # not allowed, or CONFIG renamed away (managed servers)
            if str(exc).startswith("BUSY"):
                raise
            try:
                policy = self._r.info("memory").get("maxmemory_policy")
            except exc_mod.ResponseError as exc2:
                if str(exc2).startswith("BUSY"):
                    raise
                log.debug("chai cache: this Redis user may not read maxmemory-policy (no CONFIG, no INFO)")
        self._policy_checked = True
        if isinstance(policy, bytes):
            policy = policy.decode()
        self.eviction_policy = policy
        if policy is not None and policy != "noeviction":
            log.warning("chai cache: Redis at %s has maxmemory-policy %s: the server may evict keys itself and leave "
                        "half an entry or a wrong byte count. Set maxmemory-policy noeviction (the cache evicts by its "
                        "own budget); until then every resync repairs the namespace.", self.location, policy)

    def check_config(self, want: dict, compare: tuple[str, ...]) -> None:
        self._config, self._config_keys = dict(want), tuple(compare)
        self._call(self._ensure_config)

    # -- the contract --------------------------------------------------------------------------------------------
    def snapshot(self) -> list[EntryHead]:
        return self._call(self._snapshot)

    def _read_state(self):
        """One consistent read of the namespace's bookkeeping (a transaction), then its heads. ``drift``: the
        byte count, the LRU order and the sizes disagree (Redis evicted some of them, or someone wrote them)."""
        pipe = self._r.pipeline(transaction=True)
        pipe.get(self._k("seq"))
        pipe.xrevrange(self._k("log"), count=1)
        pipe.zrange(self._k("lru"), 0, -1, withscores=True)
        pipe.get(self._k("bytes"))
        pipe.hgetall(self._k("size"))
        seq, last, ranked, used, sizes = pipe.execute()
        ids = [m.decode() for m, _ in ranked]
        scores = {m.decode(): int(s) for m, s in ranked}
        sizes = {k.decode(): _num(v) for k, v in sizes.items()}
        counted = 0 if used is None else _num(used)
        drift = (set(sizes) != set(ids) or None in sizes.values()
                 or counted is None or sum(sizes.values()) != counted)
        fetched = []  # (entry_id, head value or its oversize length or None, size)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i: i + _CHUNK]
            fetched += zip(chunk, self._heads(chunk), (sizes.get(x) for x in chunk))
        return _num(seq) or 0, (last[0][0].decode() if last else "0-0"), scores, fetched, drift

    def _heads(self, ids: list[str], client=None):
        """Head values of ``ids``, size-checked on the server: a larger one comes back as its length, unsent."""
        limit = min(self.budget_bytes, MAX_HEAD_BYTES)
        return self._scripts["heads"](keys=[self._hk(x) for x in ids], args=[limit], client=client)

    def _checked_config(self) -> None:
        """:meth:`_ensure_config` after open: a namespace recreated by another worker with other settings is a
        refusal (misses, skipped inserts, logged once), not an exception out of every call."""
        try:
            self._ensure_config()
        except ValueError as exc:
            raise _Refused("CONFIG", str(exc).splitlines()[0]) from None

    def _snapshot(self) -> list[EntryHead]:
        self._checked_config()
        if not self._policy_checked:  # the server was unreachable or busy at open
            self._check_policy()
        seq, cursor, scores, fetched, drift = self._read_state()
        if drift or (self.eviction_policy not in (None, "noeviction")):
            if self._repair():
                seq, cursor, scores, fetched, drift = self._read_state()
        self._seq, self._cursor = seq, cursor
        heads, bad = [], []
        for entry_id, blob, size in fetched:
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

    def _repair(self) -> int:
        """Reclaim half-evicted entries and orphaned keys, and recompute the byte counter (one script). The
        candidates are the ranked and sized ids, every id the change log added and, for a user allowed to SCAN,
        every id with a record or head key under the prefix. Returns how many went."""
        logged = set()
        start = "-"
        while True:
            events = self._r.xrange(self._k("log"), min=start, max="+", count=10_000)
            for ev_id, fields in events:
                f = {k.decode(): v.decode() for k, v in fields.items()}
                if f.get("op") == "add" and valid_entry_id(f.get("id")):
                    logged.add(f["id"])
            if len(events) < 10_000:
                break
            start = "(" + events[-1][0].decode()
        try:  # a user allowed to SCAN (an operator) also finds orphans the log no longer names
            pattern = self._prefix.replace("{", "\\{").replace("}", "\\}") + "[eh]:*"
            for k in self._r.scan_iter(match=pattern, count=1000):
                entry_id = k.decode()[len(self._prefix) + 2:]
                if valid_entry_id(entry_id):
                    logged.add(entry_id)
        except self._errors_mod.NoPermissionError:
            pass  # a tenant user (no SCAN): the log's ids are what it can know
        keys = [self._k(n) for n in ("bytes", "lru", "size", "log", "seq")]
        n = int(self._scripts["repair"](keys=keys, args=[self._prefix, self._maxlen, *sorted(logged)]))
        if n:
            self.repaired += n
            log.warning("chai cache: Redis namespace %r at %s: reclaimed %d half-evicted entries or orphaned keys and "
                        "recomputed its byte count.", self.namespace, self.location, n)
        return n

    def _decode_head(self, entry_id: str, blob, size, last_used: int) -> EntryHead | None:
        if blob is None or size is None:
            return None  # removed between the two reads: its "del" event follows
        try:
            if not valid_entry_id(entry_id):
                raise ValueError(f"entry id {entry_id!r:.80} is not 32 hex digits")
            if isinstance(blob, int):  # refused on the server, never sent
                raise ValueError(f"its head holds {blob} bytes, over the {min(self.budget_bytes, MAX_HEAD_BYTES)}-byte "
                                 "limit")
            rec = decode_record(blob, with_payload=False)
            problem = None if rec.entry_id == entry_id else f"head of {rec.entry_id!r} stored under {entry_id!r}"
            problem = problem or self._check_head(rec)
            nbytes = _num(size)
            problem = problem or (None if nbytes is not None else f"its size {size!r:.40} is not a byte count")
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
        seq = _num(seq) or 0
        if epoch is None or epoch.decode() != self._epoch or seq < self._seq:
            return None  # restarted, flushed or cleared behind our back
        out, adds = [], []
        expect, cursor = self._seq + 1, self._cursor
        for ev_id, fields in events:
            f = {k.decode(): v.decode() for k, v in fields.items()}
            if f.get("seq") != str(expect) or f.get("op") not in ("add", "del", "reset"):
                return None  # a gap (the log was trimmed past our cursor) or an event we did not write
            expect += 1
            cursor = ev_id.decode()
            if f["op"] == "reset":
                return None
            out.append(Change(f["op"], f.get("id", "")))
            if f["op"] == "add":
                adds.append(f.get("id", ""))
        if expect - 1 < seq:
            return None  # events exist that the log no longer holds
        if adds:
            got = {}
            for i in range(0, len(adds), _CHUNK):
                chunk = adds[i: i + _CHUNK]
                pipe = self._r.pipeline(transaction=False)
                self._heads(chunk, client=pipe)
                pipe.hmget(self._k("size"), chunk)
                pipe.zmscore(self._k("lru"), chunk)
                blobs, sizes, scores = pipe.execute()
                for entry_id, blob, size, score in zip(chunk, blobs, sizes, scores):
                    got[entry_id] = self._decode_head(entry_id, blob, size, int(score or 0))
            out = [c if c.op != "add" else Change("add", c.entry_id, got.get(c.entry_id)) for c in out]
            out = [c for c in out if c.op != "add" or c.head is not None]  # evicted since: its "del" follows
        self._seq, self._cursor = expect - 1, cursor  # only now: a call that failed half-way is read again
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
        keys = [self._k(n) for n in ("bytes", "clock", "lru", "size", "log", "seq")]
        keys += [self._ek(entry_id), self._hk(entry_id), self._k("conf")]
        args = [entry_id, nbytes, self.budget_bytes, record, head, self._prefix, self._maxlen]
        try:
            evicted = self._call(self._put, keys, args, write=True)
        except self._errors_mod.ResponseError as exc:
            if str(exc).startswith("CHAI_EXISTS"):
                return []  # an id is random: a retry of this insert found its first try stored (evictions are logged)
            raise ValueError(f"LatentCache: Redis refused the insert of {entry_id}: {exc}") from None
        return [e.decode() for e in evicted]

    def _put(self, keys: list, args: list):
        """The insert script, under the namespace epoch this worker checked: a namespace recreated meanwhile is
        checked again (same settings: the insert goes on; other settings: refused) and the mirror resyncs."""
        if self._epoch is None:
            self._checked_config()
        try:
            return self._scripts["put"](keys, [*args, self._epoch])
        except self._errors_mod.ResponseError as exc:
            if not str(exc).startswith("CHAI_STALE"):
                raise
        self._need_resync = True
        self._checked_config()
        try:
            return self._scripts["put"](keys, [*args, self._epoch])
        except self._errors_mod.ResponseError as exc:
            if str(exc).startswith("CHAI_STALE"):
                raise _Refused("CONFIG", "the namespace was recreated twice during one insert") from None
            raise

    def get(self, entry_id: str) -> bytes | None:
        if not valid_entry_id(entry_id):
            raise ValueError(f"cache store: entry id {entry_id!r:.80} is not 32 lowercase hex digits.")
        limit = min(self.budget_bytes, MAX_RECORD_BYTES)
        try:
            out = self._call(self._scripts["get"], [self._ek(entry_id)], [limit])
        except self._errors_mod.ResponseError as exc:
            raise ValueError(f"cache entry record: {exc} bytes exceed the {limit}-byte limit") from None
        if out is None:  # gone: whatever is left of it (its LRU rank, size, head) goes too, once, for everyone
            try:
                self._call(self._remove, entry_id)
            except StoreUnavailable:
                pass
        return out

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
        return _num(self._call(self._r.get, self._k("bytes"))) or 0

    def entry_nbytes(self, entry_id: str) -> int | None:
        return _num(self._call(self._r.hget, self._k("size"), entry_id))

    def stats(self) -> dict:
        return {"backend": self.backend, "location": self.location, "errors": self.errors,
                "unavailable": self.unavailable, "reconnects": self.reconnects, "resyncs": self.resyncs,
                "store_dropped": self.dropped, "available": not self._down,
                "server_errors": sum(self.server_errors.values()), "server_error_kinds": dict(self.server_errors),
                "repaired": self.repaired, "maxmemory_policy": self.eviction_policy}

    def close(self) -> None:
        try:
            self._r.close()
        except Exception:
            pass

    # -- namespace tools (``chai cache stats|clear``) -------------------------------------------------------
    @staticmethod
    def _client(url: str):
        return _make_client(url, 5.0)

    @staticmethod
    def list_namespaces(url: str) -> list[str]:
        """Namespaces on the server (SCAN). A tenant user may not list the server's keys: PermissionError."""
        redis = _import_redis()
        with closing(RedisStore._client(url)) as r:
            try:
                keys = [k.decode() for k in r.scan_iter(match="chai:{*}:conf", count=1000)]
            except redis.exceptions.NoPermissionError:
                raise PermissionError(
                    f"the Redis user of {redact_url(url)} may not list the server's namespaces (a tenant user sees "
                    "its own namespace only).\nHINT: name the namespace (chai cache stats|clear LOCATION --namespace "
                    "NS), or connect as an operator user."
                ) from None
            return sorted({k[len("chai:{"): -len("}:conf")] for k in keys})

    @staticmethod
    def namespace_stats(url: str, ns: str) -> dict:
        p = key_prefix(ns)
        with closing(RedisStore._client(url)) as r:
            conf = {k.decode(): v.decode() for k, v in _tool_call(r, url, ns, r.hgetall, p + "conf").items()}
            entries, used = int(r.zcard(p + "lru")), _num(r.get(p + "bytes")) or 0

        def num(key):
            return int(conf[key]) if conf.get(key, "").isdigit() else None

        return {"entries": entries, "bytes_used": used, "budget_bytes": num("budget_bytes"),
                "embedder": conf.get("embedder"), "dim": num("dim"), "matching": conf.get("matching")}

    @staticmethod
    def clear_namespace(url: str, ns: str) -> int:
        """Delete every key of namespace ``ns`` (entries and configuration); returns the entries removed. Needs
        no SCAN (a tenant user clears its own namespace): the entries are found through the LRU order, the
        sizes and the change log; an operator user also sweeps the prefix for keys none of those name."""
        redis = _import_redis()
        p = key_prefix(ns)
        with closing(RedisStore._client(url)) as r:
            n = int(_tool_call(r, url, ns, r.zcard, p + "lru"))
            ids = {m.decode() for m in r.zrange(p + "lru", 0, -1)} | {k.decode() for k in r.hgetall(p + "size")}
            for _, f in r.xrange(p + "log", min="-", max="+"):
                if f.get(b"op") == b"add":
                    ids.add(f.get(b"id", b"").decode())
            keys = [p + s for s in ("conf", "lru", "size", "bytes", "clock", "seq", "log")]
            keys += [p + kind + x for x in sorted(ids) if valid_entry_id(x) for kind in ("e:", "h:")]
            for i in range(0, len(keys), 500):
                r.delete(*keys[i: i + 500])
            try:
                batch = []
                for k in r.scan_iter(match=p.replace("{", "\\{").replace("}", "\\}") + "*", count=1000):
                    batch.append(k)
                    if len(batch) >= 500:
                        r.delete(*batch)
                        batch = []
                if batch:
                    r.delete(*batch)
            except redis.exceptions.NoPermissionError:
                pass  # a tenant user: what the namespace's own records name is gone
            return n


def _make_client(url: str, socket_timeout: float):
    """A client that retries a command once, at once, after a connection error (a pooled connection the server
    closed) and never after a timeout: a timed-out insert may have been executed, the cache settles it instead."""
    redis = _import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        return redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
                                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)))
    except ValueError as exc:
        raise ValueError(f"LatentCache: cannot parse the Redis location {redact_url(url)!r}: {exc}.\n"
                         "HINT: e.g. redis://localhost:6379/0, rediss://host:6380/0 or "
                         "unix:///run/redis/redis.sock?db=0.") from None


def _tool_call(r, url: str, ns: str, fn, *args):
    """The first call of a namespace tool: a user without access to ``ns`` gets PermissionError with a HINT."""
    redis = _import_redis()
    try:
        return fn(*args)
    except redis.exceptions.NoPermissionError:
        raise PermissionError(
            f"the Redis user of {redact_url(url)} may not use namespace {ns!r}.\n"
            "HINT: connect as that tenant's own user, or as an operator user."
        ) from None
