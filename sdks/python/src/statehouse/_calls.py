"""What each client method sends and how it reads the answer, shared by the sync and async clients.

A ``Unary`` names the stub method, carries the request and converts the
response; a ``Stream`` does the same per streamed message. The clients only
execute them (blocking or awaiting) inside ``translate_errors``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from google.protobuf.message import Message

from ._credentials import Credentials, PathLike
from ._gen.statehouse.v1 import statehouse_pb2 as pb
from ._transport import timeout_ms
from ._types import Operation, ReplayEvent, StateResult
from ._values import from_struct

__all__ = [
    "Calls",
    "ClientBase",
    "CredentialArgs",
    "LastEvents",
    "PageCall",
    "Stream",
    "Unary",
    "check_str",
    "event_from_pb",
    "normalize_url",
    "normalize_urls",
]

T = TypeVar("T")
DEFAULT_PORT = 50051
# Items asked for per page when the caller names no page_size (the daemon's default caps:
# it caps larger sizes and ends a page early at its byte budget).
DEFAULT_KEYS_PAGE = 10_000
DEFAULT_ENTRIES_PAGE = 1_000


@dataclass(frozen=True)
class Unary(Generic[T]):
    method: str
    request: Message
    convert: Callable[[Any], T]
    transactional: bool = False


@dataclass(frozen=True)
class Stream:
    method: str
    request: Message
    convert: Callable[[pb.ReplayEvent], ReplayEvent]
    # The batched twin of ``method`` (same request, ``EventBatch`` messages), tried first; a
    # daemon without it answers UNIMPLEMENTED and the client uses ``method`` from then on.
    batch_method: str | None = None


CredentialArgs = tuple[str | None, PathLike | None, PathLike | None, PathLike | None]
"""``(api_key, ca_cert, client_cert, client_key)`` as the client constructors take them."""

PageCall = Callable[[str], Unary[tuple[list[T], str]]]
"""Builds the call for one page from the previous page's ``next_page_token`` (``""`` first)."""


class LastEvents:
    """Keeps the last ``count`` events of a Replay asked for newest first (``limit`` + ``reverse``).

    A daemon without those fields streams the whole history oldest first instead: that is
    detected from the order of the events, and only the last ``count`` are kept as they arrive.
    """

    def __init__(self, count: int) -> None:
        _check_ts(count=count)
        self.count = count
        self._events: deque[ReplayEvent] = deque()
        self._oldest_first = False

    def add(self, event: ReplayEvent) -> bool:
        """Takes one event; True once the answer is complete (stop reading)."""
        if self._events and not self._oldest_first and event.commit_ts > self._events[-1].commit_ts:
            self._oldest_first = True
        self._events.append(event)
        if self._oldest_first:
            if len(self._events) > self.count:
                self._events.popleft()
            return False
        return len(self._events) >= self.count > 1

    def result(self) -> list[ReplayEvent]:
        """The events, oldest first."""
        return list(self._events) if self._oldest_first else list(reversed(self._events))


def _check_positive(**values: object) -> None:
    for name, value in values.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise TypeError(f"{name} must be a positive int or None, got {value!r}")


def _page_size(page_size: int | None, default: int) -> int:
    _check_positive(page_size=page_size)
    return default if page_size is None else page_size


def normalize_url(url: str) -> str:
    """``host[:port]`` (port 50051 by default) or ``http(s)://host[:port]`` -> ``http(s)://host:port``."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    text = url.strip().removeprefix("dns:///").removeprefix("dns:")
    bare = "://" not in text
    parts = urlsplit(f"http://{text}" if bare else text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid Statehouse address {url!r}: expected host:port or http://host:port")
    netloc = f"{parts.netloc}:{DEFAULT_PORT}" if bare and parts.port is None else parts.netloc
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def normalize_urls(url: str | Sequence[str]) -> list[str]:
    """One address, several (a list, or a comma-separated string as ``STATEHOUSE_ADDRESS`` may hold), normalized."""
    given = url.split(",") if isinstance(url, str) else list(url) if isinstance(url, Sequence) else [url]
    addresses = [normalize_url(u) for u in given if not (isinstance(u, str) and not u.strip())]
    if not addresses:
        raise ValueError(f"invalid Statehouse address {url!r}: expected host:port, or several separated by commas")
    return addresses


def _state(key: str) -> Callable[[Any], StateResult]:
    def convert(resp: Any) -> StateResult:
        value = from_struct(resp.value) if resp.HasField("value") else None
        return StateResult(value=value, version=resp.version, commit_ts=resp.commit_ts, exists=resp.exists, key=key)

    return convert


def _entries(entries: Any) -> list[StateResult]:
    return [
        StateResult(value=from_struct(e.value), version=e.version, commit_ts=e.commit_ts, exists=True, key=e.key)
        for e in entries
    ]


def _events(namespace: str, agent_id: str) -> Callable[[pb.ReplayEvent], ReplayEvent]:
    return lambda event: event_from_pb(event, namespace, agent_id)


def event_from_pb(event: pb.ReplayEvent, namespace: str, agent_id: str) -> ReplayEvent:
    """Converts a streamed event; older daemons omit namespace, agent and time, so the request's fill in."""
    operations = [
        Operation(key=op.key, value=from_struct(op.value) if op.HasField("value") else None, version=op.version)
        for op in event.operations
    ]
    return ReplayEvent(
        txn_id=event.txn_id,
        commit_ts=event.commit_ts,
        operations=operations,
        namespace=event.namespace or namespace,
        agent_id=event.agent_id or agent_id,
        committed_at=event.committed_at.ToDatetime(tzinfo=UTC) if event.HasField("committed_at") else None,
    )


def check_str(**values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def _check_ts(**values: object) -> None:
    for name, value in values.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise TypeError(f"{name} must be a non-negative int or None, got {value!r}")


class Calls:
    """Builds the calls of one client (its default namespace and unary timeout)."""

    def __init__(self, namespace: str, timeout_ms: int | None) -> None:
        check_str(namespace=namespace)
        self.namespace = namespace
        self.timeout_ms = timeout_ms

    def ns(self, namespace: str | None) -> str:
        if namespace is not None:
            check_str(namespace=namespace)
        return namespace or self.namespace

    def health(self) -> Unary[str]:
        return Unary("health", pb.HealthRequest(), lambda r: str(r.status))

    def version(self) -> Unary[tuple[str, str]]:
        return Unary("version", pb.VersionRequest(), lambda r: (str(r.version), str(r.git_sha)))

    def transact(self, request: pb.TransactRequest) -> Unary[tuple[int, bool]]:
        return Unary("transact", request, lambda r: (int(r.commit_ts), bool(r.duplicate)), True)

    def abort(self, txn_id: str) -> Unary[None]:
        return Unary("abort", pb.AbortRequest(txn_id=txn_id), lambda r: None, True)

    def get_state(self, agent_id: str, key: str, namespace: str | None) -> Unary[StateResult]:
        check_str(agent_id=agent_id, key=key)
        request = pb.GetStateRequest(namespace=self.ns(namespace), agent_id=agent_id, key=key)
        return Unary("get_state", request, _state(key))

    def get_state_at_version(self, agent_id: str, key: str, version: int, namespace: str | None) -> Unary[StateResult]:
        check_str(agent_id=agent_id, key=key)
        _check_ts(version=version)
        ns = self.ns(namespace)
        request = pb.GetStateAtVersionRequest(namespace=ns, agent_id=agent_id, key=key, version=version)
        return Unary("get_state_at_version", request, _state(key))

    def get_state_as_of(self, agent_id: str, key: str, commit_ts: int, namespace: str | None) -> Unary[StateResult]:
        check_str(agent_id=agent_id, key=key)
        _check_ts(commit_ts=commit_ts)
        ns = self.ns(namespace)
        request = pb.GetStateAsOfRequest(namespace=ns, agent_id=agent_id, key=key, commit_ts=commit_ts)
        return Unary("get_state_as_of", request, _state(key))

    def agent_state_as_of_pages(
        self, agent_id: str, commit_ts: int, namespace: str | None, page_size: int | None
    ) -> PageCall[StateResult]:
        check_str(agent_id=agent_id)
        _check_ts(commit_ts=commit_ts)
        ns, size = self.ns(namespace), _page_size(page_size, DEFAULT_ENTRIES_PAGE)

        def page(token: str) -> Unary[tuple[list[StateResult], str]]:
            request = pb.GetStateAsOfRequest(
                namespace=ns, agent_id=agent_id, commit_ts=commit_ts, page_size=size, page_token=token
            )
            return Unary("get_state_as_of", request, lambda r: (_entries(r.entries), str(r.next_page_token)))

        return page

    def list_keys_pages(
        self, agent_id: str, namespace: str | None, prefix: str, page_size: int | None
    ) -> PageCall[str]:
        check_str(agent_id=agent_id, prefix=prefix)
        ns, size = self.ns(namespace), _page_size(page_size, DEFAULT_KEYS_PAGE)

        def keys(resp: Any) -> tuple[list[str], str]:
            # A daemon older than the prefix field answers every key: filter here too.
            found = list(resp.keys) if not prefix else [k for k in resp.keys if k.startswith(prefix)]
            return found, str(resp.next_page_token)

        def page(token: str) -> Unary[tuple[list[str], str]]:
            request = pb.ListKeysRequest(
                namespace=ns, agent_id=agent_id, prefix=prefix, page_size=size, page_token=token
            )
            return Unary("list_keys", request, keys)

        return page

    def scan_prefix_pages(
        self, agent_id: str, prefix: str, namespace: str | None, page_size: int | None
    ) -> PageCall[StateResult]:
        check_str(agent_id=agent_id, prefix=prefix)
        ns, size = self.ns(namespace), _page_size(page_size, DEFAULT_ENTRIES_PAGE)

        def page(token: str) -> Unary[tuple[list[StateResult], str]]:
            request = pb.ScanPrefixRequest(
                namespace=ns, agent_id=agent_id, prefix=prefix, page_size=size, page_token=token
            )
            return Unary("scan_prefix", request, lambda r: (_entries(r.entries), str(r.next_page_token)))

        return page

    def replay(
        self,
        agent_id: str,
        start_ts: int | None,
        end_ts: int | None,
        namespace: str | None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Stream:
        check_str(agent_id=agent_id)
        _check_ts(start_ts=start_ts, end_ts=end_ts)
        _check_positive(limit=limit)
        if not isinstance(reverse, bool):
            raise TypeError(f"reverse must be a bool, got {reverse!r}")
        ns = self.ns(namespace)
        request = pb.ReplayRequest(
            namespace=ns, agent_id=agent_id, start_ts=start_ts, end_ts=end_ts, limit=limit or 0, reverse=reverse
        )
        return Stream("replay", request, _events(ns, agent_id), batch_method="replay_batches")

    def watch(self, agent_id: str, start_ts: int | None, namespace: str | None) -> Stream:
        check_str(agent_id=agent_id)
        _check_ts(start_ts=start_ts)
        ns = self.ns(namespace)
        request = pb.WatchRequest(namespace=ns, agent_id=agent_id, start_ts=start_ts)
        return Stream("watch", request, _events(ns, agent_id), batch_method="watch_batches")


class ClientBase:
    """Configuration shared by ``Statehouse`` and ``AsyncStatehouse``."""

    def __init__(
        self,
        url: str | Sequence[str],
        namespace: str,
        timeout: float | None,
        max_value_bytes: int,
        credentials: CredentialArgs = (None, None, None, None),
    ) -> None:
        if isinstance(max_value_bytes, bool) or not isinstance(max_value_bytes, int) or max_value_bytes <= 0:
            raise TypeError(f"max_value_bytes must be a positive int, got {max_value_bytes!r}")
        self._addresses = normalize_urls(url)
        # The address calls go to, until a connection failure moves it on (see ``_failed_over``).
        self._current = 0
        self._credentials = Credentials.resolve(self._addresses[0], *credentials)
        self._calls = Calls(namespace, timeout_ms(timeout))
        self._max_value_bytes = max_value_bytes
        # False once the daemon answered UNIMPLEMENTED to a batched stream (an older statehouse.v1).
        self._batches = True
        # False once the daemon answered UNIMPLEMENTED to Transact (the original daemon): see _legacy.
        self._transact = True

    @property
    def _address(self) -> str:
        return self._addresses[self._current]

    @property
    def url(self) -> str:
        """The URL of the daemon calls go to now, ``http://host:port`` (or ``https://``)."""
        return self._address

    @property
    def urls(self) -> tuple[str, ...]:
        """Every daemon's URL, in the order they are tried."""
        return tuple(self._addresses)

    def _failed_over(self, index: int, tried: int) -> bool:
        """The failover policy, shared by every call of both clients.

        After a ``ConnectionError`` on address ``index``, later calls go to the next address
        (unless another call already moved them), and this call is tried there while it has
        not tried every address. Every unary call is a read or a ``Transact`` carrying its
        idempotency key, so resending it through another daemon of a cluster applies a
        commit once. The backoff retries stay in ``TransactionRetry``.
        """
        if self._current == index:
            self._current = (index + 1) % len(self._addresses)
        return tried < len(self._addresses)

    @property
    def namespace(self) -> str:
        """The namespace of calls that name none."""
        return self._calls.namespace

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._address!r}, namespace={self.namespace!r})"
