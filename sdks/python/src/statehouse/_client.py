"""The blocking client: ``Statehouse`` and its ``Transaction``."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, suppress
from types import TracebackType
from typing import Self, TypeVar

from connectrpc.client import ConnectClientSync
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from pyqwest import SyncClient, SyncHTTPTransport

from . import _legacy as legacy
from ._calls import ClientBase, LastEvents, PageCall, Stream, Unary
from ._credentials import PathLike
from ._errors import ConnectionError as SdkConnectionError
from ._errors import StatehouseError, translate_errors
from ._format import format_event_lines
from ._gen.statehouse.v1.statehouse_connect import StatehouseServiceClientSync
from ._transport import Protocol, stub_protocol, transport_options
from ._txn import Step, TransactionBase, TransactionRetry, TxState
from ._types import ReplayEvent, StateResult
from ._values import DEFAULT_MAX_VALUE_BYTES

__all__ = ["Statehouse", "Transaction"]

T = TypeVar("T")
S = TypeVar("S", bound=ConnectClientSync)


class Transaction(TransactionBase):
    """A transaction begun with ``Statehouse.begin_transaction()``.

    ``write`` and ``delete`` are validated at once and buffered; ``commit()``
    sends them in one ``Transact`` call, the transaction's only RPC besides its
    ``get`` reads (nothing is opened on the daemon before). As a context manager
    it commits when the block succeeds and aborts when it raises.

    ``txn_id`` names a server transaction opened elsewhere with BeginTransaction
    for the commit to finish; the SDK's own transactions have none.
    """

    def __init__(
        self,
        client: Statehouse,
        txn_id: str | None,
        namespace: str = "default",
        *,
        idempotency_key: str | None = None,
        timeout_ms: int | None = None,
    ) -> None:
        self._client = client
        self._state = TxState(
            client._calls, txn_id or None, namespace, idempotency_key, client._max_value_bytes, timeout_ms
        )

    def get(self, agent_id: str, key: str, *, namespace: str | None = None) -> StateResult:
        """Reads committed state and records its version: the commit fails with ``ConflictError`` if it changed.

        A key this transaction wrote or deleted shows that pending operation in
        ``value``/``exists`` (read your own writes); ``version`` stays the committed one.
        """
        return self._client._run(self._state.read(agent_id, key, namespace))

    def commit(self) -> int:
        """Commits every buffered operation atomically in one call; returns the ``commit_ts``.

        A transaction older than its ``timeout_ms`` raises ``TransactionError``
        ``TXN_EXPIRED`` without sending. After a ``ConnectionError`` the outcome is unknown; calling ``commit()``
        again resends the same operations with the same idempotency key, so they
        apply exactly once (``duplicate`` tells whether the first send had applied).
        """
        call = self._state.commit()
        with self._state.committing():
            if self._client._transact:
                try:
                    return self._client._run(call)
                except StatehouseError as err:
                    if not legacy.is_unimplemented(err):
                        raise
                self._client._transact = False
                legacy.announce(self._client.url)
            return self._client._commit_legacy(self._state)

    def abort(self) -> None:
        """Discards the transaction; no call (nothing was sent). Idempotent; ``TransactionError`` after a commit."""
        call = self._state.abort()
        if call is not None:
            self._client._run(call)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._state.committed or self._state.aborted:
            return
        if exc_type is None:
            self.commit()
            return
        with suppress(StatehouseError):  # the block's own exception matters more; the transaction expires anyway
            self.abort()


class Statehouse(ClientBase):
    """A client of the Statehouse daemon.

    ``url`` is ``host:port``, ``http://host:port`` or ``https://host:port`` (TLS), or several
    daemons of one cluster (a list, or comma-separated as ``STATEHOUSE_ADDRESS`` may hold): a
    call that cannot reach one (``ConnectionError``) is sent to the next, later calls stay
    there, and a commit resent that way keeps its idempotency key, so it applies once.
    Creating a client never fails because the daemon is down: the first call raises
    ``ConnectionError``, and the same client works again once the daemon is back.
    ``timeout`` (seconds) bounds each unary call; streams are never cut by it.

    ``api_key`` (default: ``STATEHOUSE_API_KEY`` from the environment, else none) is
    sent as ``Authorization: Bearer <key>`` on every call. With ``https://``,
    ``ca_cert`` is a PEM bundle path trusted instead of the system CAs, and
    ``client_cert``/``client_key`` (PEM paths) present a client certificate (mTLS).
    A rejected key raises ``AuthenticationError``, a missing role ``PermissionDeniedError``.
    """

    def __init__(
        self,
        url: str | Sequence[str] = "localhost:50051",
        namespace: str = "default",
        *,
        timeout: float | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        protocol: Protocol = "grpc",
        api_key: str | None = None,
        ca_cert: PathLike | None = None,
        client_cert: PathLike | None = None,
        client_key: PathLike | None = None,
    ) -> None:
        super().__init__(url, namespace, timeout, max_value_bytes, (api_key, ca_cert, client_cert, client_key))
        self._transport = SyncHTTPTransport(**transport_options(self._address, protocol, self._credentials))
        self._protocol = protocol
        self._stubs = [self._service_stub(StatehouseServiceClientSync, address) for address in self._addresses]

    @property
    def _stub(self) -> StatehouseServiceClientSync:
        """The generated client of the address calls go to now."""
        return self._stubs[self._current]

    def _service_stub(self, stub_class: type[S], address: str | None = None) -> S:
        """A generated client of any statehouse.v1 service over this client's connection, key and protocol."""
        return stub_class(
            address or self._address,
            http_client=SyncClient(self._transport),
            send_compression=None,
            protocol=stub_protocol(self._protocol),
            interceptors=self._credentials.interceptors_sync(),
        )

    def _commit_legacy(self, state: TxState) -> int:
        """Commits with the original RPCs (a daemon without Transact; see ``_legacy``)."""
        txn_id = state.txn_id or self._run(legacy.begin(state))
        for call in legacy.operations(state, txn_id):
            self._run(call)
        return self._run(legacy.commit(state, txn_id))

    def _run(self, call: Unary[T]) -> T:
        for tried in range(1, len(self._addresses) + 1):
            index = self._current
            try:
                with translate_errors(self._addresses[index], transactional=call.transactional):
                    method = getattr(self._stubs[index], call.method)
                    response = method(call.request, timeout_ms=self._calls.timeout_ms)
                return call.convert(response)
            except SdkConnectionError:
                if not self._failed_over(index, tried):
                    raise
        raise AssertionError("unreachable: the last address re-raises")

    def _stream(self, stream: Stream) -> Generator[ReplayEvent, None, None]:
        """A stream that fails before its first event is opened on the next address; later, it raises."""
        for tried in range(1, len(self._addresses) + 1):
            index = self._current
            received = False
            try:
                for event in self._stream_on(index, stream):
                    received = True
                    yield event
                return
            except SdkConnectionError:
                if received or not self._failed_over(index, tried):
                    raise

    def _stream_on(self, index: int, stream: Stream) -> Generator[ReplayEvent, None, None]:
        stub = self._stubs[index]
        with translate_errors(self._addresses[index]):
            if stream.batch_method is not None and self._batches:
                received = False
                try:
                    with closing(getattr(stub, stream.batch_method)(stream.request)) as batches:
                        for batch in batches:
                            received = True
                            for message in batch.events:
                                yield stream.convert(message)
                    return
                except ConnectError as err:
                    if received or err.code != Code.UNIMPLEMENTED:
                        raise
                    self._batches = False  # an older daemon: use the per-event stream from now on
                    legacy.log.warning("%s has no batched streams: using %s", self._address, stream.method)
            with closing(getattr(stub, stream.method)(stream.request)) as messages:
                for message in messages:
                    yield stream.convert(message)

    def _pages(self, page: PageCall[T]) -> Iterator[T]:
        """Every item of a paged read: one call per page until the daemon sends no next_page_token."""
        token = ""
        while True:
            items, token = self._run(page(token))
            yield from items
            if not token:
                return

    def health(self) -> str:
        """``"ok"`` when the daemon serves."""
        return self._run(self._calls.health())

    def version(self) -> tuple[str, str]:
        """``(version, git_sha)`` of the daemon."""
        return self._run(self._calls.version())

    def begin_transaction(
        self, timeout_ms: int | None = None, namespace: str | None = None, *, idempotency_key: str | None = None
    ) -> Transaction:
        """Begins a transaction; makes no call (its one RPC is the ``Transact`` at commit).

        A commit later than ``timeout_ms`` (default 30 000, the daemon's default)
        after this raises ``TransactionError`` ``TXN_EXPIRED``.
        """
        return Transaction(
            self, None, self._calls.ns(namespace), idempotency_key=idempotency_key, timeout_ms=timeout_ms
        )

    def run_transaction(
        self,
        fn: Callable[[Transaction], T],
        retries: int = 3,
        *,
        timeout_ms: int | None = None,
        namespace: str | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Runs ``fn(tx)`` in a transaction and commits it; returns what ``fn`` returned.

        One RPC per run besides ``tx.get`` reads: the ``Transact`` at commit. On
        ``ConflictError``, ``ConnectionError`` or ``TXN_NOT_FOUND`` the function
        runs again in a new transaction with a fresh idempotency key (up to
        ``retries`` more times, with backoff). A commit whose answer was lost is
        resent as it was, with the same idempotency key, instead: it applies
        exactly once, and the result returned is the one of the ``fn`` call whose
        writes were committed. See ``TransactionRetry``.
        """
        retry = TransactionRetry(retries, idempotency_key)
        tx: Transaction | None = None
        while True:
            try:
                if retry.step(tx) is Step.RUN:
                    tx = self.begin_transaction(timeout_ms, namespace, idempotency_key=retry.idempotency_key())
                    with tx:
                        result = fn(tx)
                else:
                    assert tx is not None
                    tx.commit()  # the commit may have applied: resend it, never rerun fn
                return result
            except StatehouseError as error:
                delay = retry.delay_after(error)
            time.sleep(delay)

    def get_state(self, agent_id: str, key: str, namespace: str | None = None) -> StateResult:
        """The latest state of a key (``exists=False``, version 0 when it was never written)."""
        return self._run(self._calls.get_state(agent_id, key, namespace))

    def get_state_at_version(self, agent_id: str, key: str, version: int, namespace: str | None = None) -> StateResult:
        """The key as of one of its versions; ``NotFoundError`` if that version never existed."""
        return self._run(self._calls.get_state_at_version(agent_id, key, version, namespace))

    def get_state_as_of(self, agent_id: str, key: str, commit_ts: int, namespace: str | None = None) -> StateResult:
        """The key as it was right after the commit ``commit_ts``."""
        return self._run(self._calls.get_state_as_of(agent_id, key, commit_ts, namespace))

    def get_agent_state_as_of(
        self, agent_id: str, commit_ts: int, namespace: str | None = None, *, page_size: int | None = None
    ) -> list[StateResult]:
        """Every key of the agent that existed right after the commit ``commit_ts``, in key order (fetched in pages)."""
        return list(self.iter_agent_state_as_of(agent_id, commit_ts, namespace, page_size=page_size))

    def iter_agent_state_as_of(
        self, agent_id: str, commit_ts: int, namespace: str | None = None, *, page_size: int | None = None
    ) -> Iterator[StateResult]:
        """``get_agent_state_as_of`` one page at a time (the pages of one commit are one consistent view)."""
        return self._pages(self._calls.agent_state_as_of_pages(agent_id, commit_ts, namespace, page_size))

    def list_keys(
        self, agent_id: str, namespace: str | None = None, *, prefix: str = "", page_size: int | None = None
    ) -> list[str]:
        """The agent's existing keys (only those starting with ``prefix``: filtered by the daemon), in key order.

        Fetched in pages of ``page_size`` keys (default 10 000, capped by the daemon); see ``iter_keys``.
        """
        return list(self.iter_keys(agent_id, namespace, prefix=prefix, page_size=page_size))

    def iter_keys(
        self, agent_id: str, namespace: str | None = None, *, prefix: str = "", page_size: int | None = None
    ) -> Iterator[str]:
        """``list_keys`` one page at a time, for agents too large to hold in memory.

        Only the pages consumed are fetched. Commits may land between pages: a key
        that exists throughout appears exactly once.
        """
        return self._pages(self._calls.list_keys_pages(agent_id, namespace, prefix, page_size))

    def scan_prefix(
        self, agent_id: str, prefix: str, namespace: str | None = None, *, page_size: int | None = None
    ) -> list[StateResult]:
        """The agent's existing records whose key starts with ``prefix``, in key order (fetched in pages)."""
        return list(self.iter_scan_prefix(agent_id, prefix, namespace, page_size=page_size))

    def iter_scan_prefix(
        self, agent_id: str, prefix: str, namespace: str | None = None, *, page_size: int | None = None
    ) -> Iterator[StateResult]:
        """``scan_prefix`` one page at a time (default 1 000 records per page)."""
        return self._pages(self._calls.scan_prefix_pages(agent_id, prefix, namespace, page_size))

    def replay(
        self,
        agent_id: str,
        start_ts: int | None = None,
        end_ts: int | None = None,
        namespace: str | None = None,
        *,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Iterator[ReplayEvent]:
        """The agent's committed events in commit order (``start_ts``/``end_ts`` inclusive).

        ``limit``: at most that many; ``reverse``: newest first, read from the end of
        the history. A daemon older than these fields ignores them (see ``last_events``).
        """
        return self._stream(self._calls.replay(agent_id, start_ts, end_ts, namespace, limit, reverse))

    def last_events(self, agent_id: str, count: int, namespace: str | None = None) -> list[ReplayEvent]:
        """The agent's last ``count`` events, oldest first; the daemon reads only those."""
        last = LastEvents(count)
        if count == 0:
            return []
        with closing(self._stream(self._calls.replay(agent_id, None, None, namespace, count, True))) as events:
            for event in events:
                if last.add(event):
                    break
        return last.result()

    def replay_events(
        self, agent_id: str, start_ts: int | None = None, end_ts: int | None = None, namespace: str | None = None
    ) -> Iterator[ReplayEvent]:
        """Same as ``replay``."""
        return self.replay(agent_id, start_ts, end_ts, namespace)

    def replay_pretty(
        self,
        agent_id: str,
        start_ts: int | None = None,
        end_ts: int | None = None,
        namespace: str | None = None,
        verbose: bool = False,
    ) -> Iterator[str]:
        """The replay as human-readable lines, one per operation (verbose adds ``txn=`` and ``payload:``)."""
        for event in self.replay(agent_id, start_ts, end_ts, namespace):
            yield from format_event_lines(event, verbose=verbose)

    def watch(self, agent_id: str, start_ts: int | None = None, namespace: str | None = None) -> Iterator[ReplayEvent]:
        """Replays from ``start_ts`` (``None``: only new commits), then yields each new commit as it happens.

        Never ends by itself; ``close()`` the iterator (or break out of the loop)
        to stop. Raises ``ConnectionError`` if the daemon goes away: resume with
        ``start_ts=last.commit_ts + 1``.
        """
        return self._stream(self._calls.watch(agent_id, start_ts, namespace))

    def close(self) -> None:
        """Closes the connections. Idempotent."""
        for stub in self._stubs:
            stub.close()
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
