"""``statehousectl retention`` and ``horizon`` against the real daemon."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from statehouse import Statehouse, StatehouseError
from statehouse.cli import cli


@pytest.fixture
def run(daemon_url: str) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env={"STATEHOUSE_ADDRESS": daemon_url})

    return invoke


def test_retention_set_compact_horizon(run: Callable[..., Result], daemon_url: str) -> None:
    ns = f"retention-{uuid.uuid4().hex[:8]}"
    result = run("retention", "set", "--namespace", ns, "--keep", "0s")
    assert result.exit_code == 2
    assert "positive duration" in result.stderr
    assert run("retention", "set", "--namespace", ns).exit_code == 2
    result = run("retention", "set", "--namespace", ns, "--keep", "1ms", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "namespace": ns,
        "policy": "keep 1ms",
        "keep_duration_ms": 1,
        "keep_versions": None,
        "explicit": True,
        "horizon_commit_ts": 0,
    }
    with Statehouse(url=daemon_url, namespace=ns) as client:
        for i in range(3):
            with client.begin_transaction() as tx:
                tx.write("agent", "k", {"i": i})
        last = client.get_state("agent", "k").commit_ts
        time.sleep(0.02)  # keep 1 ms: once the clock passed the last commit, all of it is behind the horizon
        result = run("retention", "compact", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["events_compacted"] >= 3
        result = run("horizon", "--namespace", ns, "--json")
        assert json.loads(result.stdout)["horizon_commit_ts"] >= last
        with pytest.raises(StatehouseError) as caught:
            list(client.replay("agent"))
        assert caught.value.code == "HISTORY_COMPACTED"
        assert int(caught.value.details["horizon_commit_ts"]) >= last
        assert client.get_state("agent", "k").value == {"i": 2}
    result = run("retention", "show", "--namespace", ns)
    assert result.stdout.startswith(f"{ns}: keep 1ms, horizon commit_ts ")
    result = run("retention", "list", "--json")
    assert {"namespace": None, "policy": "all"}.items() <= json.loads(result.stdout)[0].items()
    result = run("horizon", "--namespace", "x" * 300)
    assert (result.exit_code, result.stderr.startswith("✗ Error: ")) == (1, True)


def test_purge_an_agent_then_its_namespace(run: Callable[..., Result], daemon_url: str) -> None:
    ns = f"purge-{uuid.uuid4().hex[:8]}"
    with Statehouse(url=daemon_url, namespace=ns) as client:
        for agent in ("gone", "stays"):
            with client.begin_transaction() as tx:
                tx.write(agent, "k", {"pii": "PERSONAL"})
        assert run("purge", "--agent", "gone").exit_code == 2  # --namespace is required: never implied
        result = run("purge", "--namespace", ns, "--agent", "gone")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(f"✓ Purged agent 'gone' of namespace '{ns}': 1 events rewritten, ")
        assert client.list_keys("gone") == []
        assert list(client.replay("gone")) == []
        assert client.list_keys("stays") == ["k"]
        result = run("purge", "--namespace", ns, "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["entries_deleted"] >= 3
        assert client.list_keys("stays") == []


def test_retention_keep_versions(run: Callable[..., Result], daemon_url: str) -> None:
    ns = f"versions-{uuid.uuid4().hex[:8]}"
    result = run("retention", "set", "--namespace", ns, "--keep-versions", "0")
    assert result.exit_code == 2
    assert run("retention", "set", "--namespace", ns, "--keep-versions", "2", "--keep-all").exit_code == 2
    result = run("retention", "set", "--namespace", ns, "--keep-versions", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "namespace": ns,
        "policy": "keep the last 2 versions per key",
        "keep_duration_ms": None,
        "keep_versions": 2,
        "explicit": True,
        "horizon_commit_ts": 0,
    }
    with Statehouse(url=daemon_url, namespace=ns) as client:
        for i in range(5):
            with client.begin_transaction() as tx:
                tx.write("agent", "k", {"i": i})
        assert run("retention", "compact").exit_code == 0
        with pytest.raises(StatehouseError) as caught:
            client.get_state_at_version("agent", "k", 3)
        assert caught.value.code == "HISTORY_COMPACTED"
        assert caught.value.details["keep_versions"] == "2"
        assert caught.value.details["oldest_kept_version"] == "4"
        assert client.get_state_at_version("agent", "k", 4).value == {"i": 3}
        assert client.get_state("agent", "k").value == {"i": 4}
        assert len(list(client.replay("agent"))) == 5
    result = run("retention", "show", "--namespace", ns)
    assert result.stdout.startswith(f"{ns}: keep the last 2 versions per key, horizon commit_ts 0")
