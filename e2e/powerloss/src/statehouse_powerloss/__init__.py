"""A FUSE filesystem that keeps written but unsynced file data only in its own memory.

``python -m statehouse_powerloss MOUNTPOINT BACKING_DIR`` mounts it (foreground). Metadata
(create, rename, unlink, mkdir, chmod) goes to BACKING_DIR at once, as on a filesystem mounted
``dirsync``; file data (writes, truncations, fallocate extensions) stays in this process until
the file is fsynced or fdatasynced, then it is applied to BACKING_DIR. Killing the process
(SIGKILL) is the power cut: every unsynced byte is gone, exactly what a disk's lost page cache
loses. Mounted with ``direct_io``, so the kernel's page cache holds nothing either.
"""

from ._fs import PowerLossFs, mount

__all__ = ["PowerLossFs", "mount"]
