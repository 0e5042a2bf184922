"""The ``chai`` command line on a shared Redis cache: run, cache stats/clear and the fleet trace."""

from __future__ import annotations

import json

import pytest

from tests.chai.test_cli import FAST, run_cli
from tests.redis_server import RedisServer, require_redis_server

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def server():
    require_redis_server()
    with RedisServer() as srv:
        yield srv


@pytest.fixture()
def prompt_file(tmp_path):
    p = tmp_path / "prompts.txt"
    p.write_text("a tiger sitting in a dark cave\na red fox in the snow\na tiger running through the jungle\n")
    return p


def test_two_runs_share_one_redis_cache_and_cache_commands_see_it(capsys, server, prompt_file, tmp_path):
    server.client().flushall()
    rpt = tmp_path / "run.json"
    argv = ["run", "--prompts", str(prompt_file), *FAST, "--cache", server.url, "--namespace", "team-a",
            "--budget", "16MB", "--quiet", "--report", str(rpt)]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    assert [r["hit"] for r in json.loads(rpt.read_text())["requests"]] == [False, False, True]
    # a second process (here: a second run) starts warm from the shared server
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    doc = json.loads(rpt.read_text())
    assert doc["requests"][0]["hit"] is True and doc["cache"]["backend"] == "redis"
    code, out, _ = run_cli(capsys, ["cache", "stats", server.url])
    assert code == 0 and "team-a" in out and out.count(server.url) == 1
    code, out, _ = run_cli(capsys, ["cache", "stats", server.url, "--json"])
    info = json.loads(out)
    assert code == 0 and info["entries"] == 2 and info["namespaces"]["team-a"]["budget_bytes"] == 16_000_000
    code, out, _ = run_cli(capsys, ["cache", "clear", server.url, "--namespace", "team-a"])
    assert code == 0 and "2 entries removed" in out
    code, out, _ = run_cli(capsys, ["cache", "stats", server.url, "--json"])
    assert json.loads(out)["entries"] == 0


def test_unreachable_redis_is_a_clear_error_for_cache_commands_and_misses_for_runs(capsys, prompt_file, tmp_path):
    require_redis_server()
    srv = RedisServer()
    url = srv.url
    srv.close()
    code, _, err = run_cli(capsys, ["cache", "stats", url])
    assert code != 0 and "cannot reach" in err and "HINT" in err and "Traceback" not in err
    rpt = tmp_path / "run.json"
    code, _, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--cache", url, "--quiet",
                                      "--report", str(rpt)])
    assert code == 0, err  # a generation never fails because of the cache
    doc = json.loads(rpt.read_text())
    assert [r["hit"] for r in doc["requests"]] == [False, False, False]
    assert doc["cache"]["unavailable_lookups"] == 3 and doc["cache"]["unavailable_inserts"] == 3


@pytest.mark.parametrize("argv, needle", [
    (["trace", "--workers", "2"], "--cache redis://"),
    (["trace", "--workers", "2", "--cache", "/tmp/x"], "--cache redis://"),
    (["cache", "stats", "ftp://host/x"], "not supported"),
    (["run", "--prompts", "p.txt", "--cache", "dir://relative"], "three slashes"),
])
def test_location_usage_errors(capsys, argv, needle):
    code, _, err = run_cli(capsys, argv)
    assert code == 2 and needle in err and "Traceback" not in err


@pytest.mark.slow
def test_fleet_trace_compares_shared_private_and_single(capsys, server, tmp_path):
    prompts = tmp_path / "trace.txt"
    subjects = ["tiger", "zebra", "camel", "otter", "violin", "teapot"]
    prompts.write_text("\n".join(f"a {subjects[(i * 7) % 6]} near a {subjects[(i * 5 + 1) % 6]}" for i in range(18)))
    rpt = tmp_path / "fleet.json"
    code, out, err = run_cli(capsys, ["trace", "--prompts", str(prompts), "--embedder", "hash", "--budgets", "4MB",
                                      "--step-cost", "0.1", "--resolution", "144p", "--frames", "17", "--workers", "2",
                                      "--cache", server.url, "--no-progress", "--report", str(rpt)])
    assert code == 0, err
    assert "shared x2" in out and "private x2" in out
    row = json.loads(rpt.read_text())["fleet"][0]
    assert row["shared"]["requests"] == row["private"]["requests"] == 18
    assert row["shared_hit_rate"] > 0 and row["shared"]["store_errors"] == 0
    assert row["shared_hit_rate"] >= row["private_hit_rate"]
    assert not [k for k in server.client().scan_iter(match="chai:{trace-*")]  # the replay cleaned up after itself


def test_cache_commands_as_a_tenant_user_are_one_line_errors_or_its_own_namespace(capsys, server):
    from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
    from chai.cache.redis_store import tenant_acl_rules

    server.client().flushall()
    admin = server.client()
    for ns in ("tenant-a", "tenant-b"):
        admin.execute_command("ACL", "SETUSER", f"cli-{ns}", "on", f">pw-{ns}", *tenant_acl_rules(ns))
        url = server.url_for(f"cli-{ns}", f"pw-{ns}")
        with LatentCache(1 << 20, url, namespace=ns, extractor=BuiltinExtractor(), embedder=HashingEmbedder(64)) as c:
            c.insert("a tiger", [__import__("torch").randn(1, 4, 3, 6, 7)])
    url_a = server.url_for("cli-tenant-a", "pw-tenant-a")
    for argv in (["cache", "stats", url_a], ["cache", "clear", url_a], ["cache", "stats", url_a, "--namespace",
                                                                         "tenant-b"]):
        code, out, err = run_cli(capsys, argv)
        assert code == 2 and "Traceback" not in err and "HINT" in err and len(err.strip().splitlines()) == 1, err
        assert "tenant-b" not in out
    code, out, err = run_cli(capsys, ["cache", "stats", url_a, "--namespace", "tenant-a", "--json"])
    assert code == 0, err
    assert json.loads(out)["entries"] == 1
    code, out, err = run_cli(capsys, ["cache", "clear", url_a, "--namespace", "tenant-a"])
    assert code == 0 and "1 entries removed" in out, err
    assert not list(admin.scan_iter(match="chai:{tenant-a}:*")) and list(admin.scan_iter(match="chai:{tenant-b}:*"))


def test_with_redis_down_every_request_and_the_summary_say_so(capsys, prompt_file, tmp_path):
    """The issue: with Redis down every request read "MISS (no entity: not cached)" and the summary never
    mentioned the outage."""
    require_redis_server()
    srv = RedisServer()
    url = srv.url
    srv.close()
    rpt = tmp_path / "run.json"
    code, out, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--cache", url, "--report",
                                      str(rpt)])  # fmt: skip
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len(lines) == 3 and all("MISS  (cache unreachable: not cached)" in ln for ln in lines), out
    assert "no entity" not in out
    assert "cache unreachable" in out and f"the cache {url} could not be reached for 3 of 3 lookups" in out
    assert "HINT:" in out
    summary = json.loads(rpt.read_text())["summary"]
    assert summary["unavailable_lookups"] == 3 and summary["unavailable_inserts"] == 3
    assert [r["lookup_reason"] for r in json.loads(rpt.read_text())["requests"]] == ["store_unavailable"] * 3
