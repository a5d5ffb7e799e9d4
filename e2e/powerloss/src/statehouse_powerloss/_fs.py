"""The filesystem (see the package docstring)."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import Any

import mfusepy as fuse

__all__ = ["PowerLossFs", "mount"]

FALLOC_FL_KEEP_SIZE = 0x01


@dataclass
class _Pending:
    """A file's unsynced data: writes and truncations in order, and the size they make."""

    size: int
    ops: list[tuple[int, int, bytes]] = field(default_factory=list)  # (offset, truncate_to or -1, data)
    bytes: int = 0


class PowerLossFs(fuse.Operations):  # type: ignore[misc]
    use_ns = True

    def __init__(self, backing: str) -> None:
        self.backing = os.path.realpath(backing)
        self.pending: dict[str, _Pending] = {}
        self.handles: dict[int, tuple[str, int]] = {}
        self.next_fh = 1
        self.synced_bytes = 0

    def _real(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _fd(self, fh: int) -> int:
        return self.handles[fh][1]

    def _pending(self, path: str, fd: int) -> _Pending:
        entry = self.pending.get(path)
        if entry is None:
            entry = _Pending(size=os.fstat(fd).st_size)
            self.pending[path] = entry
        return entry

    # --- metadata: straight to the backing dir ("dirsync") ---

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        try:
            st = os.lstat(self._real(path))
        except FileNotFoundError:
            raise fuse.FuseOSError(errno.ENOENT) from None
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size")
        attrs: dict[str, Any] = {key: getattr(st, key) for key in keys}
        # use_ns: the times in nanoseconds.
        attrs["st_atime"], attrs["st_mtime"], attrs["st_ctime"] = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
        entry = self.pending.get(path)
        if entry is not None:
            attrs["st_size"] = entry.size
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._real(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._real(path))
        return 0

    def unlink(self, path: str) -> int:
        os.unlink(self._real(path))
        self.pending.pop(path, None)
        return 0

    def rename(self, old: str, new: str) -> int:
        os.rename(self._real(old), self._real(new))
        self.pending.pop(new, None)
        if old in self.pending:
            self.pending[new] = self.pending.pop(old)
        for fh, (p, fd) in list(self.handles.items()):
            if p == old:
                self.handles[fh] = (new, fd)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        if times is None:
            os.utime(self._real(path))
        else:
            os.utime(self._real(path), ns=times)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._real(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize")
        return {key: getattr(st, key) for key in keys} | {"f_namemax": st.f_namemax}

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        return 0  # metadata is already in the backing dir

    # --- files ---

    def _register(self, path: str, fd: int) -> int:
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = (path, fd)
        return fh

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        fd = os.open(self._real(path), os.O_RDWR | os.O_CREAT, mode)
        fh = self._register(path, fd)
        self.truncate(path, 0, fh)
        return fh

    def open(self, path: str, flags: int) -> int:
        fd = os.open(self._real(path), os.O_RDWR if os.access(self._real(path), os.W_OK) else os.O_RDONLY)
        fh = self._register(path, fd)
        if flags & os.O_TRUNC:
            self.truncate(path, 0, fh)
        return fh

    def release(self, path: str, fh: int) -> int:
        _, fd = self.handles.pop(fh)
        os.close(fd)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close() does not make data durable

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        fd = self._fd(fh)
        entry = self.pending.get(self.handles[fh][0])
        data = bytearray(os.pread(fd, size, offset))
        if entry is None:
            return bytes(data)
        end = offset + size
        data.extend(b"\0" * (size - len(data)))
        current = os.fstat(fd).st_size
        for op_offset, truncate_to, payload in entry.ops:
            if truncate_to >= 0:
                if truncate_to < end:
                    start = max(truncate_to, offset) - offset
                    data[start:] = b"\0" * (len(data) - start)
                current = truncate_to
                continue
            lo, hi = max(offset, op_offset), min(end, op_offset + len(payload))
            if lo < hi:
                data[lo - offset : hi - offset] = payload[lo - op_offset : hi - op_offset]
            current = max(current, op_offset + len(payload))
        return bytes(data[: max(0, min(end, entry.size) - offset)])

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        path = self.handles[fh][0]
        entry = self._pending(path, self._fd(fh))
        entry.ops.append((offset, -1, bytes(data)))
        entry.size = max(entry.size, offset + len(data))
        entry.bytes += len(data)
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        if fh is None:
            fd = os.open(self._real(path), os.O_RDONLY)
            try:
                entry = self._pending(path, fd)
            finally:
                os.close(fd)
        else:
            entry = self._pending(self.handles[fh][0], self._fd(fh))
        entry.ops.append((0, length, b""))
        entry.size = length
        return 0

    def fallocate(self, path: str, mode: int, offset: int, size: int, fh: int) -> int:
        if not mode & FALLOC_FL_KEEP_SIZE:
            entry = self._pending(self.handles[fh][0], self._fd(fh))
            if offset + size > entry.size:
                entry.ops.append((0, offset + size, b""))
                entry.size = offset + size
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        """The one way data reaches the backing dir: this file's pending writes, in order."""
        path, fd = self.handles[fh]
        entry = self.pending.pop(path, None)
        if entry is None:
            return 0
        for op_offset, truncate_to, payload in entry.ops:
            if truncate_to >= 0:
                os.ftruncate(fd, truncate_to)
            else:
                os.pwrite(fd, payload, op_offset)
        self.synced_bytes += entry.bytes
        return 0


def mount(mountpoint: str, backing: str) -> None:
    """Mounts in the foreground until unmounted or killed (killing it is the power cut)."""
    fuse.FUSE(
        PowerLossFs(backing),
        mountpoint,
        foreground=True,
        nothreads=True,
        direct_io=True,
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,
    )
