"""Small connect-python WSGI servers standing in for a daemon (Connect over HTTP/1.1, loopback, port 0).

For answers the real daemon cannot be made to give on demand (an older daemon's
UNIMPLEMENTED, a full disk, an authenticating proxy). Note: wsgiref waits for the
body of a request whose body is empty (Health, Version), so stand-ins serve others.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from protobuf.wkt import Any as AnyMessage

from statehouse._gen.statehouse.v1 import statehouse_pb2 as pb
from statehouse._gen.statehouse.v1.statehouse_connect import (
    StatehouseServiceSync,
    StatehouseServiceWSGIApplication,
)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(service: StatehouseServiceSync) -> Iterator[str]:
    """Serves ``service`` until the block ends; yields its ``127.0.0.1:PORT``."""
    server = make_server(
        "127.0.0.1", 0, StatehouseServiceWSGIApplication(service), server_class=_Server, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def daemon_error(status: Code, code: int, message: str, **details: str) -> ConnectError:
    """An error as the daemon sends it: ``status`` with a ``statehouse.v1.StatehouseError`` detail."""
    detail = pb.StatehouseError(code=code, message=message, details=details)  # type: ignore[arg-type]
    packed = ErrorDetail(
        AnyMessage(type_url="type.googleapis.com/statehouse.v1.StatehouseError", value=detail.SerializeToString())
    )
    return ConnectError(status, message, details=[packed])
