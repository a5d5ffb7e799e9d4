"""StatehouseSession against the Agents SDK's own Session protocol, on the real daemon."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

from agents.items import TResponseInputItem
from agents.memory import Session, SessionSettings
from statehouse import AsyncStatehouse

from openai_agents_statehouse import StatehouseSession


def message(role: str, text: str) -> TResponseInputItem:
    return cast(TResponseInputItem, {"role": role, "content": text})


def texts(items: list[TResponseInputItem]) -> list[str]:
    return [cast(dict[str, Any], item)["content"] for item in items]


def session(aclient: AsyncStatehouse, **options: Any) -> StatehouseSession:
    return StatehouseSession(f"session-{uuid.uuid4().hex[:12]}", aclient, **options)


async def test_it_is_an_agents_sdk_session(aclient: AsyncStatehouse) -> None:
    assert isinstance(session(aclient), Session)


async def test_add_get_pop_clear(aclient: AsyncStatehouse) -> None:
    s = session(aclient)
    assert await s.get_items() == []
    assert await s.pop_item() is None
    await s.add_items([message("user", "hi"), message("assistant", "hello")])
    await s.add_items([message("user", "how are you?")])
    assert texts(await s.get_items()) == ["hi", "hello", "how are you?"]
    assert texts(await s.get_items(limit=2)) == ["hello", "how are you?"]
    assert await s.get_items(limit=0) == []
    popped = await s.pop_item()
    assert popped is not None and texts([popped]) == ["how are you?"]
    assert texts(await s.get_items()) == ["hi", "hello"]
    await s.clear_session()
    assert await s.get_items() == []
    await s.add_items([message("user", "again")])
    assert texts(await s.get_items()) == ["again"]


async def test_session_settings_limit_and_exact_json(aclient: AsyncStatehouse) -> None:
    s = session(aclient, session_settings=SessionSettings(limit=1))
    item = cast(
        TResponseInputItem, {"type": "function_call_output", "call_id": "c1", "output": '{"n": 9007199254740993}'}
    )
    await s.add_items([message("user", "a"), item])
    assert await s.get_items() == [item]
    assert len(await s.get_items(limit=5)) == 2


async def test_a_second_client_sees_the_same_history(aclient: AsyncStatehouse, daemon_url: str) -> None:
    s = session(aclient)
    await s.add_items([message("user", "persisted")])
    async with StatehouseSession.from_url(s.session_id, daemon_url) as other:
        assert texts(await other.get_items()) == ["persisted"]


async def test_two_writers_and_a_reader_lose_nothing_and_never_see_half_a_batch(daemon_url: str) -> None:
    session_id = f"session-{uuid.uuid4().hex[:12]}"
    batches, size = 15, 3
    torn: list[list[str]] = []
    done = asyncio.Event()

    async def writer(name: str) -> None:
        async with StatehouseSession.from_url(session_id, daemon_url) as s:
            for b in range(batches):
                await s.add_items([message("user", f"{name}:{b}:{i}") for i in range(size)])

    async def reader() -> int:
        reads = 0
        async with StatehouseSession.from_url(session_id, daemon_url) as s:
            while not done.is_set() or reads == 0:
                seen = texts(await s.get_items())
                reads += 1
                for name in ("a", "b"):
                    own = [t for t in seen if t.startswith(f"{name}:")]
                    expected = [f"{name}:{b}:{i}" for b in range(len(own) // size) for i in range(size)]
                    if own != expected:  # a partial batch, a gap or a reordering
                        torn.append(seen)
                # batches stay contiguous: every run of one writer's items is whole batches
                for start in range(0, len(seen), size):
                    if len({t.split(":")[0] + t.split(":")[1] for t in seen[start : start + size]}) != 1:
                        torn.append(seen)
        return reads

    reading = asyncio.create_task(reader())
    await asyncio.gather(writer("a"), writer("b"))
    done.set()
    reads = await reading
    assert torn == []
    assert reads > 1
    async with StatehouseSession.from_url(session_id, daemon_url) as s:
        final = texts(await s.get_items())
    assert sorted(final) == sorted(f"{n}:{b}:{i}" for n in "ab" for b in range(batches) for i in range(size))
