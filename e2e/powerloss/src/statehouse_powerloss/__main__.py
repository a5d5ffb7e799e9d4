"""``python -m statehouse_powerloss MOUNTPOINT BACKING_DIR``: mount in the foreground."""

import sys

from ._fs import mount

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m statehouse_powerloss MOUNTPOINT BACKING_DIR")
    mount(sys.argv[1], sys.argv[2])
