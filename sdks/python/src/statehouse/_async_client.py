"""The asyncio client: ``AsyncStatehouse`` and its ``AsyncTransaction``.

Same methods as the blocking client; every method that talks to the daemon is
a coroutine (or an async iterator), the buffering ones (``write``, ``delete``)
are plain methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import aclosing, suppress
from types import TracebackType
from typing import Any, Self, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from pyqwest import Client, HTTPTransport

from . import _legacy as legacy
from ._calls import ClientBase, LastEvents, PageCall, Stream, Unary
from ._credentials import PathLike
from ._errors import ConnectionError as SdkConnectionError
from ._errors import StatehouseError, translate_errors
from ._format import format_event_lines
from ._gen.statehouse.v1.statehouse_connect import StatehouseServiceClient
from ._transport import Protocol, stub_protocol, transport_options
from ._txn import Step, TransactionBase, TransactionRetry, TxState
from ._types import ReplayEvent, StateResult
from ._values import DEFAULT_MAX_VALUE_BYTES

__all__ = ["AsyncStatehouse", "AsyncTransaction"]

T = TypeVar("T")

#: Seconds AsyncStatehouse.close() waits after closing the transport (see close()).
_CLOSE_GRACE_S = 0.02


class AsyncTransaction(TransactionBase):
    """A transaction of ``AsyncStatehouse``.

    ``tx = await client.begin_transaction()`` or ``async with
    client.begin_transaction() as tx:``; nothing is sent before ``commit()``,
    one ``Transact`` call (plus one call per ``get``).
    """

    def __init__(
        self,
        client: AsyncStatehouse,
        txn_id: str | None = None,
        namespace: str = "default",
        *,
        timeout_ms: int | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self._client = client
        self._state = TxState(
            client._calls, txn_id or None, namespace, idempotency_key, client._max_value_bytes, timeout_ms
        )

    async def begin(self) -> Self:
        """Nothing to open (the transaction lives in the client until its commit); kept for ``await``."""
        self._state.check_open()
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self.begin().__await__()

    async def get(self, agent_id: str, key: str, *, namespace: str | None = None) -> StateResult:
        """Reads committed state and records its version as a precondition of the commit."""
        return await self._client._run(self._state.read(agent_id, key, namespace))

    async def commit(self) -> int:
        """Commits every buffered operation atomically in one call; returns the ``commit_ts``."""
        call = self._state.commit()
        with self._state.committing():
            if self._client._transact:
                try:
                    return await self._client._run(call)
                except StatehouseError as err:
                    if not legacy.is_unimplemented(err):
                        raise
                self._client._transact = False
                legacy.announce(self._client.url)
            return await self._client._commit_legacy(self._state)

    async def abort(self) -> None:
        """Discards the transaction. Idempotent; raises ``TransactionError`` after a commit."""
        call = self._state.abort()
        if call is not None:
            await self._client._run(call)

    async def __aenter__(self) -> Self:
        return await self.begin()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._state.committed or self._state.aborted:
            return
        if exc_type is None:
            await self.commit()
            return
        with suppress(StatehouseError):  # the block's own exception matters more; the transaction expires anyway
            await self.abort()


class AsyncStatehouse(ClientBase):
    """The asyncio client; see ``Statehouse`` for the semantics of each method."""

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
        self._transport = HTTPTransport(**transport_options(self._address, protocol, self._credentials))
        self._stubs = [
            StatehouseServiceClient(
                address,
                http_client=Client(self._transport),
                send_compression=None,
                protocol=stub_protocol(protocol),
                interceptors=self._credentials.interceptors(),
            )
            for address in self._addresses
        ]

    @property
    def _stub(self) -> StatehouseServiceClient:
        """The generated client of the address calls go to now."""
        return self._stubs[self._current]

    async def _commit_legacy(self, state: TxState) -> int:
        """Commits with the original RPCs (a daemon without Transact; see ``_legacy``)."""
        begun: str | None = state.txn_id
        txn_id: str = begun if begun is not None else await self._run(legacy.begin(state))
        for call in legacy.operations(state, txn_id):
            await self._run(call)
        return await self._run(legacy.commit(state, txn_id))

    async def _run(self, call: Unary[T]) -> T:
        for tried in range(1, len(self._addresses) + 1):
            index = self._current
            try:
                with translate_errors(self._addresses[index], transactional=call.transactional):
                    method = getattr(self._stubs[index], call.method)
                    response = await method(call.request, timeout_ms=self._calls.timeout_ms)
                return call.convert(response)
            except SdkConnectionError:
                if not self._failed_over(index, tried):
                    raise
        raise AssertionError("unreachable: the last address re-raises")

    async def _stream(self, stream: Stream) -> AsyncGenerator[ReplayEvent, None]:
        """A stream that fails before its first event is opened on the next address; later, it raises."""
        for tried in range(1, len(self._addresses) + 1):
            index = self._current
            received = False
            try:
                async with aclosing(self._stream_on(index, stream)) as events:
                    async for event in events:
                        received = True
                        yield event
                return
            except SdkConnectionError:
                if received or not self._failed_over(index, tried):
                    raise

    async def _stream_on(self, index: int, stream: Stream) -> AsyncGenerator[ReplayEvent, None]:
        stub = self._stubs[index]
        with translate_errors(self._addresses[index]):
            if stream.batch_method is not None and self._batches:
                received = False
                try:
                    async with aclosing(getattr(stub, stream.batch_method)(stream.request)) as batches:
                        async for batch in batches:
                            received = True
                            for message in batch.events:
                                yield stream.convert(message)
                    return
                except ConnectError as err:
                    if received or err.code != Code.UNIMPLEMENTED:
                        raise
                    self._batches = False  # an older daemon: use the per-event stream from now on
                    legacy.log.warning("%s has no batched streams: using %s", self._address, stream.method)
            async with aclosing(getattr(stub, stream.method)(stream.request)) as messages:
                async for message in messages:
                    yield stream.convert(message)

    async def _pages(self, page: PageCall[T]) -> AsyncGenerator[T, None]:
        token = ""
        while True:
            items, token = await self._run(page(token))
            for item in items:
                yield item
            if not token:
                return

    async def health(self) -> str:
        return await self._run(self._calls.health())

    async def version(self) -> tuple[str, str]:
        return await self._run(self._calls.version())

    def begin_transaction(
        self, timeout_ms: int | None = None, namespace: str | None = None, *, idempotency_key: str | None = None
    ) -> AsyncTransaction:
        """``tx = await client.begin_transaction()`` or ``async with client.begin_transaction() as tx:``."""
        return AsyncTransaction(
            self, None, self._calls.ns(namespace), timeout_ms=timeout_ms, idempotency_key=idempotency_key
        )

    async def run_transaction(
        self,
        fn: Callable[[AsyncTransaction], Awaitable[T]],
        retries: int = 3,
        *,
        timeout_ms: int | None = None,
        namespace: str | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Runs ``await fn(tx)`` in a transaction and commits it, retrying like ``Statehouse.run_transaction``."""
        retry = TransactionRetry(retries, idempotency_key)
        tx: AsyncTransaction | None = None
        while True:
            try:
                if retry.step(tx) is Step.RUN:
                    tx = self.begin_transaction(timeout_ms, namespace, idempotency_key=retry.idempotency_key())
                    async with tx:
                        result = await fn(tx)
                else:
                    assert tx is not None
                    await tx.commit()  # the commit may have applied: resend it, never rerun fn
                return result
            except StatehouseError as error:
                delay = retry.delay_after(error)
            await asyncio.sleep(delay)

    async def get_state(self, agent_id: str, key: str, namespace: str | None = None) -> StateResult:
        return await self._run(self._calls.get_state(agent_id, key, namespace))

    async def get_state_at_version(
        self, agent_id: str, key: str, version: int, namespace: str | None = None
    ) -> StateResult:
        return await self._run(self._calls.get_state_at_version(agent_id, key, version, namespace))

    async def get_state_as_of(
        self, agent_id: str, key: str, commit_ts: int, namespace: str | None = None
    ) -> StateResult:
        return await self._run(self._calls.get_state_as_of(agent_id, key, commit_ts, namespace))

    async def get_agent_state_as_of(
        self, agent_id: str, commit_ts: int, namespace: str | None = None, *, page_size: int | None = None
    ) -> list[StateResult]:
        pages = self.iter_agent_state_as_of(agent_id, commit_ts, namespace, page_size=page_size)
        return [entry async for entry in pages]

    def iter_agent_state_as_of(
        self, agent_id: str, commit_ts: int, namespace: str | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[StateResult]:
        return self._pages(self._calls.agent_state_as_of_pages(agent_id, commit_ts, namespace, page_size))

    async def list_keys(
        self, agent_id: str, namespace: str | None = None, *, prefix: str = "", page_size: int | None = None
    ) -> list[str]:
        return [key async for key in self.iter_keys(agent_id, namespace, prefix=prefix, page_size=page_size)]

    def iter_keys(
        self, agent_id: str, namespace: str | None = None, *, prefix: str = "", page_size: int | None = None
    ) -> AsyncIterator[str]:
        return self._pages(self._calls.list_keys_pages(agent_id, namespace, prefix, page_size))

    async def scan_prefix(
        self, agent_id: str, prefix: str, namespace: str | None = None, *, page_size: int | None = None
    ) -> list[StateResult]:
        return [entry async for entry in self.iter_scan_prefix(agent_id, prefix, namespace, page_size=page_size)]

    def iter_scan_prefix(
        self, agent_id: str, prefix: str, namespace: str | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[StateResult]:
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
    ) -> AsyncIterator[ReplayEvent]:
        return self._stream(self._calls.replay(agent_id, start_ts, end_ts, namespace, limit, reverse))

    async def last_events(self, agent_id: str, count: int, namespace: str | None = None) -> list[ReplayEvent]:
        last = LastEvents(count)
        if count == 0:
            return []
        async with aclosing(self._stream(self._calls.replay(agent_id, None, None, namespace, count, True))) as events:
            async for event in events:
                if last.add(event):
                    break
        return last.result()

    def replay_events(
        self, agent_id: str, start_ts: int | None = None, end_ts: int | None = None, namespace: str | None = None
    ) -> AsyncIterator[ReplayEvent]:
        return self.replay(agent_id, start_ts, end_ts, namespace)

    async def replay_pretty(
        self,
        agent_id: str,
        start_ts: int | None = None,
        end_ts: int | None = None,
        namespace: str | None = None,
        verbose: bool = False,
    ) -> AsyncIterator[str]:
        async with aclosing(self._stream(self._calls.replay(agent_id, start_ts, end_ts, namespace))) as events:
            async for event in events:
                for line in format_event_lines(event, verbose=verbose):
                    yield line

    def watch(
        self, agent_id: str, start_ts: int | None = None, namespace: str | None = None
    ) -> AsyncIterator[ReplayEvent]:
        return self._stream(self._calls.watch(agent_id, start_ts, namespace))

    async def close(self) -> None:
        for stub in self._stubs:
            await stub.close()
        await self._transport.aclose()
        # pyqwest finishes closing its connections on its own runtime after aclose() returns;
        # an event loop (or interpreter) that ends before that can abort the process
        # (SIGABRT at exit, measured at 2-17% of runs of the README's asyncio example).
        # A few loop turns and a short grace let it finish.
        for _ in range(3):
            await asyncio.sleep(0)
        await asyncio.sleep(_CLOSE_GRACE_S)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
