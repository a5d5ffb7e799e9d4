"""A throwaway certificate authority made at test time with the openssl CLI (no key is ever committed).

The same certificates as the daemon's own TLS tests (apps/daemon/src/test-support/test-ca.ts): EC P-256,
a server certificate for 127.0.0.1 / ::1 / localhost, and client certificates whose subject CN is an API
key id (the daemon's mTLS maps that CN to the key).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

__all__ = ["TestCa"]

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is missing (apt-get install -y openssl)")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class TestCa:
    """A CA in ``directory``; ``server()`` and ``client(cn)`` issue (cert, key) paths signed by it."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "statehouse-test-ca") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self._serial = itertools.count(1)
        _openssl(
            "req", "-x509", *_EC, "-days", "2", "-subj", f"/CN={name}", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    def issue(self, base: str, common_name: str, *extensions: str) -> tuple[Path, Path]:
        cert, key, csr, ext = (self.dir / f"{base}.{suffix}" for suffix in ("pem", "key", "csr", "ext"))
        ext.write_text("".join(f"{line}\n" for line in extensions))
        _openssl("req", *_EC, "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(csr), cwd=self.dir)
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(next(self._serial)), "-days", "1", "-extfile", str(ext), "-out", str(cert),
            cwd=self.dir,
        )  # fmt: skip
        return cert, key

    def server(self) -> tuple[Path, Path]:
        """A server certificate for the loopback names."""
        names = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
        return self.issue("server", "localhost", names, "extendedKeyUsage=serverAuth")

    def client(self, common_name: str) -> tuple[Path, Path]:
        """A client certificate whose subject CN is ``common_name`` (an API key id)."""
        return self.issue(f"client-{common_name}", common_name, "extendedKeyUsage=clientAuth")
