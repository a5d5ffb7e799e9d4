"""API keys, TLS and mTLS against the real daemon (``--auth required``, ``--tls-cert``/``--tls-key``,
``--tls-client-ca``), with a CA made at test time; ``statehousectl auth`` manages the keys; the README's
TLS example."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _daemon import Daemon
from _test_ca import TestCa
from click.testing import CliRunner, Result

from statehouse import (
    AsyncStatehouse,
    AuthenticationError,
    ConnectionError,
    PermissionDeniedError,
    Statehouse,
)
from statehouse.cli import cli


class Secure:
    """A daemon with TLS and keys required, its CA and its first admin key."""

    def __init__(self, root: Path) -> None:
        self.ca = TestCa(root / "ca")
        cert, key = self.ca.server()
        self.daemon = Daemon(
            root / "data",
            scheme="https",
            STATEHOUSE_AUTH="required",
            STATEHOUSE_TLS_CERT=str(cert),
            STATEHOUSE_TLS_KEY=str(key),
            STATEHOUSE_TLS_CLIENT_CA=str(self.ca.ca_file),
        ).start()
        self.admin = (root / "data" / "auth" / "initial-admin-key").read_text().strip()

    def ctl(self, *args: str, key: str | None = None, **env: str) -> Result:
        """statehousectl against this daemon (address and CA from the environment, as a user would)."""
        environment = {"STATEHOUSE_ADDRESS": self.daemon.url, "STATEHOUSE_CA_CERT": str(self.ca.ca_file), **env}
        prefix = [] if key is None else ["--api-key", key]
        return CliRunner().invoke(cli, [*prefix, *args], env=environment)

    def create_key(self, namespace: str, role: str) -> tuple[str, str]:
        """(key id, secret) of a new key with ``role`` on ``namespace``."""
        result = self.ctl("auth", "create-key", "--namespace", namespace, "--role", role, "--json", key=self.admin)
        assert result.exit_code == 0, result.output
        created = json.loads(result.stdout)
        return created["key"]["key_id"], created["secret"]


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    env = Secure(tmp_path_factory.mktemp("secure"))
    try:
        yield env
    finally:
        env.daemon.stop()


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATEHOUSE_API_KEY", raising=False)


def test_statehousectl_creates_lists_rotates_and_revokes_keys(secure: Secure) -> None:
    create = ("auth", "create-key", "--namespace", "team-a", "--role", "write", "--name", "ci")
    created = secure.ctl(*create, key=secure.admin)
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()  # the secret alone on stdout, once
    assert secret.startswith("shk_") and "\n" not in secret
    key_id = secret[4:20]
    assert f"Created key {key_id} (ci): write on team-a" in created.stderr

    listed = secure.ctl("auth", "list-keys", "--json", key=secure.admin)
    assert listed.exit_code == 0, listed.output
    mine = next(k for k in json.loads(listed.stdout) if k["key_id"] == key_id)
    assert mine["grants"] == [{"namespace": "team-a", "role": "write"}] and mine["revoked_at"] is None
    assert secret not in listed.stdout

    whoami = secure.ctl("auth", "whoami", key=secret)
    assert whoami.stdout.strip() == f"Key {key_id} (ci): write on team-a (auth required)"
    assert secure.ctl("auth", "list-keys", key=secret).exit_code == 1  # not an admin
    with Statehouse(secure.daemon.url, "team-a", api_key=secret, ca_cert=secure.ca.ca_file) as client:
        with client.begin_transaction() as tx:
            tx.write("agent", "k", {"v": 1})

        rotated = secure.ctl("auth", "rotate-key", key_id, "--json", key=secure.admin)
        assert rotated.exit_code == 0, rotated.output
        new_secret = json.loads(rotated.stdout)["secret"]
        with pytest.raises(AuthenticationError):  # no grace period: the old secret stops at once
            client.get_state("agent", "k")
    with Statehouse(secure.daemon.url, "team-a", api_key=new_secret, ca_cert=secure.ca.ca_file) as client:
        assert client.get_state("agent", "k").value == {"v": 1}
        revoked = secure.ctl("auth", "revoke-key", key_id, key=secure.admin)
        assert revoked.exit_code == 0 and f"Revoked key {key_id}" in revoked.stdout
        with pytest.raises(AuthenticationError) as info:  # at the next call, no restart
            client.get_state("agent", "k")
        assert info.value.code == "UNAUTHENTICATED"


def test_statehousectl_reads_the_key_from_statehouse_api_key(secure: Secure) -> None:
    key_id, secret = secure.create_key("team-env", "read")
    assert secure.ctl("auth", "whoami", "--json", STATEHOUSE_API_KEY=secret).stdout.count(key_id) == 1
    refused = secure.ctl("keys", "agent")
    assert refused.exit_code == 1 and "[UNAUTHENTICATED]" in refused.stderr


def test_statehousectl_retention_sends_the_key_too(secure: Secure) -> None:
    shown = secure.ctl("retention", "show", "--json", key=secure.admin)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["policy"] == "all"
    refused = secure.ctl("retention", "show")
    assert refused.exit_code == 1 and "[UNAUTHENTICATED]" in refused.stderr


@pytest.mark.parametrize("protocol", ["grpc", "connect"])
def test_the_sync_client_over_tls_with_a_key(secure: Secure, protocol: str) -> None:
    _, secret = secure.create_key("team-a", "write")
    url, ca = secure.daemon.url, secure.ca.ca_file
    with Statehouse(url, "team-a", protocol=protocol, api_key=secret, ca_cert=ca) as client:  # type: ignore[arg-type]
        assert client.health() == "ok"
        client.run_transaction(lambda tx: tx.write("agent", "p", {"proto": protocol}))
        assert client.get_state("agent", "p").value == {"proto": protocol}
        assert [e.commit_ts for e in client.replay("agent")][-1] >= 1
        with pytest.raises(PermissionDeniedError) as denied:
            client.get_state("agent", "p", namespace="team-b")
        assert denied.value.details == {"namespace": "team-b", "role": "read"}
        with pytest.raises(PermissionDeniedError), client.begin_transaction(namespace="team-b") as tx:
            tx.write("agent", "p", {"v": 1})
    anonymous = Statehouse(url, "team-a", protocol=protocol, ca_cert=ca)  # type: ignore[arg-type]
    with anonymous, pytest.raises(AuthenticationError):
        anonymous.get_state("agent", "p")


async def test_the_async_client_over_tls_with_a_key_and_from_the_environment(
    secure: Secure, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret = secure.create_key("team-async", "write")
    monkeypatch.setenv("STATEHOUSE_API_KEY", secret)
    async with AsyncStatehouse(secure.daemon.url, "team-async", ca_cert=secure.ca.ca_file) as client:
        async with client.begin_transaction() as tx:
            tx.write("agent", "k", {"v": 2})
        assert (await client.get_state("agent", "k")).value == {"v": 2}
        with pytest.raises(PermissionDeniedError):
            await client.get_state("agent", "k", namespace="team-a")
    async with AsyncStatehouse(secure.daemon.url, api_key="shk_0000000000000000_wrong", ca_cert=secure.ca.ca_file) as c:
        with pytest.raises(AuthenticationError):
            await c.get_state("agent", "k")


def test_a_client_certificate_stands_for_its_key(secure: Secure) -> None:
    key_id, _ = secure.create_key("team-mtls", "write")
    cert, key = secure.ca.client(key_id)
    with Statehouse(
        secure.daemon.url, "team-mtls", ca_cert=secure.ca.ca_file, client_cert=cert, client_key=key
    ) as client:
        with client.begin_transaction() as tx:
            tx.write("agent", "k", {"by": "certificate"})
        assert client.get_state("agent", "k").value == {"by": "certificate"}
        with pytest.raises(PermissionDeniedError):
            client.get_state("agent", "k", namespace="team-a")
    stranger, stranger_key = secure.ca.client("shk-no-such-key")
    with (
        Statehouse(
            secure.daemon.url, "team-mtls", ca_cert=secure.ca.ca_file, client_cert=stranger, client_key=stranger_key
        ) as client,
        pytest.raises(AuthenticationError),
    ):
        client.get_state("agent", "k")


async def test_the_async_client_with_a_client_certificate(secure: Secure) -> None:
    key_id, _ = secure.create_key("team-amtls", "read")
    cert, key = secure.ca.client(key_id)
    async with AsyncStatehouse(
        secure.daemon.url, "team-amtls", ca_cert=secure.ca.ca_file, client_cert=cert, client_key=key
    ) as client:
        assert (await client.get_state("agent", "k")).exists is False


def test_the_system_cas_do_not_trust_a_private_ca(secure: Secure) -> None:
    """Without ca_cert the daemon's certificate is checked against the system CAs, and refused."""
    with Statehouse(secure.daemon.url, api_key=secure.admin) as client, pytest.raises(ConnectionError):
        client.get_state("agent", "k")


def test_the_readme_tls_example_runs(secure: Secure, tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    block = next(b for b in blocks if "https://localhost:50443" in b)
    _, secret = secure.create_key("team-a", "write")
    script = tmp_path / "tls_example.py"
    script.write_text(
        block.replace("https://localhost:50443", secure.daemon.url).replace('"ca.pem"', repr(str(secure.ca.ca_file)))
    )
    env = {**os.environ, "STATEHOUSE_API_KEY": secret}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "{'fact': 'keys work'}\nPERMISSION_DENIED team-b read\n"
