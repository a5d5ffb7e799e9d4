"""``statehousectl backup --to DIR``: stream ``BackupService.Backup`` into files.

The directory's layout is read back by ``statehoused restore --from DIR``
(``apps/daemon/src/backup-files.ts``, daemon README "Backup and restore"):
``data-000001.shb``... (``SHBKDAT1``, then records ``u32 BE key length, key,
u32 BE value length, value``) and ``manifest.json``, written LAST: only once
the daemon's trailer confirmed the entry count and every data file is
fsynced. A backup killed midway therefore has no manifest, and restore
refuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pyqwest import SyncClient

from .._client import Statehouse
from .._errors import translate_errors
from .._gen.statehouse.v1 import backup_pb2 as pb
from .._gen.statehouse.v1.backup_connect import BackupServiceClientSync
from .._transport import stub_protocol

__all__ = ["BACKUP_FORMAT", "BackupProgress", "BackupResult", "IncompleteBackup", "write_backup"]

BACKUP_FORMAT = "statehouse-backup/1"
MANIFEST = "manifest.json"
DATA_MAGIC = b"SHBKDAT1"
# A new data file after this many bytes: files of a size any tool copies comfortably.
FILE_BYTES = 256 * 1024 * 1024
# Larger than any message the daemon sends (3 MiB of entries at most, or one larger entry).
READ_MAX_BYTES = 512 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class IncompleteBackup(Exception):
    """The stream ended before the daemon's trailer, or did not match it: no manifest was written."""


@dataclass
class BackupProgress:
    commit_ts: int
    entries: int
    estimated_entries: int
    bytes: int


@dataclass
class BackupResult:
    directory: Path
    commit_ts: int
    entries: int
    bytes: int
    files: list[dict[str, object]] = field(default_factory=list)


class _DataFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: BinaryIO = path.open("xb")
        self.hash = hashlib.sha256()
        self.size = 0
        self.entries = 0
        self._write(DATA_MAGIC)

    def _write(self, data: bytes) -> None:
        self.handle.write(data)
        self.hash.update(data)
        self.size += len(data)

    def add(self, key: bytes, value: bytes) -> None:
        self._write(_LENGTH.pack(len(key)) + key + _LENGTH.pack(len(value)) + value)
        self.entries += 1

    def finish(self) -> dict[str, object]:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return {"name": self.path.name, "entries": self.entries, "bytes": self.size, "sha256": self.hash.hexdigest()}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prepare(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise ValueError(f"{directory} exists and is not a directory")
        if any(directory.iterdir()):
            raise ValueError(f"{directory} is not empty: back up into a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)


def write_backup(
    client: Statehouse,
    directory: Path,
    *,
    chunk_bytes: int = 0,
    file_bytes: int = FILE_BYTES,
    on_progress: Callable[[BackupProgress], None] | None = None,
) -> BackupResult:
    """Streams one backup from ``client``'s daemon into ``directory`` (new or empty).

    Uses the client's connection settings and credentials (API key, TLS): BackupService needs the
    admin role on every namespace when the daemon checks credentials.
    """
    _prepare(directory)
    url = client._address
    stub = BackupServiceClientSync(
        url,
        http_client=SyncClient(client._transport),
        send_compression=None,
        protocol=stub_protocol("grpc"),
        read_max_bytes=READ_MAX_BYTES,
        interceptors=client._credentials.interceptors_sync(),
    )
    header: pb.BackupHeader | None = None
    trailer: pb.BackupTrailer | None = None
    files: list[dict[str, object]] = []
    current: _DataFile | None = None
    entries = 0
    size = 0
    try:
        with translate_errors(url), closing(stub.backup(pb.BackupRequest(chunk_bytes=chunk_bytes))) as stream:
            for chunk in stream:
                part = chunk.WhichOneof("part")
                if part == "header":
                    header = chunk.header
                elif part == "entries":
                    if header is None:
                        raise IncompleteBackup("the daemon sent entries before the backup's header")
                    for entry in chunk.entries.entries:
                        if current is None or current.size >= file_bytes:
                            if current is not None:
                                files.append(current.finish())
                            current = _DataFile(directory / f"data-{len(files) + 1:06d}.shb")
                        current.add(entry.key, entry.value)
                        entries += 1
                        size += len(entry.key) + len(entry.value)
                    if on_progress is not None:
                        on_progress(BackupProgress(header.commit_ts, entries, header.estimated_entries, size))
                elif part == "trailer":
                    trailer = chunk.trailer
        if current is not None:
            files.append(current.finish())
            current = None
    finally:
        if current is not None:
            current.handle.close()
    if header is None or trailer is None:
        raise IncompleteBackup(f"the stream ended before its end marker; {directory} is incomplete (no {MANIFEST})")
    if trailer.entries != entries or trailer.bytes != size:
        raise IncompleteBackup(
            f"received {entries} entries ({size} bytes), the daemon sent {trailer.entries} ({trailer.bytes} bytes); "
            f"{directory} is incomplete (no {MANIFEST})"
        )
    manifest = {
        "format": BACKUP_FORMAT,
        "commitTs": str(header.commit_ts),
        "storeFormat": header.store_format,
        "daemonVersion": header.daemon_version,
        "createdAt": datetime.now(UTC).isoformat(),
        "source": url,
        "entries": entries,
        "bytes": size,
        "files": files,
    }
    _fsync_dir(directory)
    tmp = directory / f"{MANIFEST}.tmp"
    with tmp.open("x", encoding="utf-8") as out:
        json.dump(manifest, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.rename(directory / MANIFEST)
    _fsync_dir(directory)
    return BackupResult(directory=directory, commit_ts=header.commit_ts, entries=entries, bytes=size, files=files)
