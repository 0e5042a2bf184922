"""A real ``redis-server`` for tests and benchmarks: started on a free localhost port in a temporary folder.

No fake Redis anywhere: budget, atomicity and fault tests need the server's own Lua, streams and ACLs.
``.ci/run`` installs the Debian package ``redis-server`` when it is missing; on a developer machine without
it the fixtures skip, but under CI (``CI`` set) they fail, so a missing server can never pass silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisServer", "redis_server_path"]


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process. ``persist=True`` turns on the append-only file (for restart tests)."""

    def __init__(self, *, persist: bool = False, extra: tuple[str, ...] = (), workdir: str | None = None,
                 tls: bool = False):
        exe = redis_server_path()
        if exe is None:
            raise FileNotFoundError("redis-server is not installed (Debian: apt-get install -y redis-server)")
        self.exe = exe
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="chai-redis-"))
        self.port = _free_port()
        self.sock = str(self.dir / "redis.sock")
        self.persist = persist
        self.extra = tuple(extra)
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        if tls:
            self._make_certificate()
        self.start()

    def _make_certificate(self) -> None:
        """A self-signed certificate for 127.0.0.1 (openssl CLI), used as the server's and the client's CA."""
        self.cert, self.key = str(self.dir / "cert.pem"), str(self.dir / "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out",
                        self.cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.sock}?db=0"

    def url_for(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        ports = ["--port", str(self.port)]
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.cert, "--tls-key-file",
                     self.key, "--tls-ca-cert-file", self.cert, "--tls-auth-clients", "no"]
        args = [self.exe, *ports, "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--unixsocket", self.sock, "--unixsocketperm", "700", "--save", "",
                "--appendonly", "yes" if self.persist else "no", "--appendfsync", "always", *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {' '.join(args)}")
            if self._answers():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def _answers(self) -> bool:
        try:
            if self.tls:
                import redis

                return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except Exception:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, *, wipe: bool = False) -> None:
        """Kill the server (no graceful save) and start it again on the same port; ``wipe`` drops its files."""
        self.stop()
        if wipe:
            for p in self.dir.iterdir():
                if p.is_file():
                    p.unlink()
                elif p.is_dir():
                    shutil.rmtree(p)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, **kw):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def require_redis_server():
    """Skip (developer machine) or fail (CI) when redis-server is missing."""
    import pytest

    if redis_server_path() is not None:
        return
    msg = "redis-server is not installed (Debian: apt-get install -y redis-server; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(msg + ": under CI the Redis tests must run, not skip")
    pytest.skip(msg)
