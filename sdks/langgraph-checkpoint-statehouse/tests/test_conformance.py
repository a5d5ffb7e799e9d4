"""The official LangGraph conformance suite (langgraph-checkpoint-conformance) against the real daemon."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport
from statehouse import AsyncStatehouse, Statehouse

from langgraph.checkpoint.statehouse import AsyncStatehouseSaver, StatehouseSaver


def check(report: CapabilityReport) -> None:
    report.print_report()
    counts = [(r.tests_passed, r.tests_failed, r.tests_skipped) for r in report.results.values()]
    passed, failed, skipped = (sum(c[i] for c in counts) for i in range(3))
    print(f"{report.checkpointer_name}: {passed} passed, {failed} failed, {skipped} skipped")
    failures = {name: result.failures for name, result in report.results.items() if result.failures}
    assert report.passed_all_base(), failures
    assert not failures


async def test_async_saver_passes_the_conformance_suite(daemon_url: str) -> None:
    @checkpointer_test(name="AsyncStatehouseSaver")
    async def saver() -> AsyncIterator[AsyncStatehouseSaver]:
        async with AsyncStatehouse(url=daemon_url) as client:
            # A namespace of its own per capability, as the suite asks for a fresh checkpointer.
            yield AsyncStatehouseSaver(client, namespace=f"conformance-{uuid.uuid4().hex[:8]}")

    check(await validate(saver))


async def test_sync_saver_passes_the_conformance_suite(daemon_url: str) -> None:
    @checkpointer_test(name="StatehouseSaver")
    async def saver() -> AsyncIterator[StatehouseSaver]:
        with Statehouse(url=daemon_url) as client:
            yield StatehouseSaver(client, namespace=f"conformance-{uuid.uuid4().hex[:8]}")

    check(await validate(saver))


async def test_sync_saver_without_blob_cache_passes_the_conformance_suite(daemon_url: str) -> None:
    @checkpointer_test(name="StatehouseSaver (blob cache off)")
    async def saver() -> AsyncIterator[StatehouseSaver]:
        with Statehouse(url=daemon_url) as client:
            yield StatehouseSaver(client, namespace=f"conformance-{uuid.uuid4().hex[:8]}", blob_cache_bytes=0)

    check(await validate(saver))
