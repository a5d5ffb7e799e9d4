"""The session under the Agents SDK's own Runner, with a deterministic model (no API key, no network)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, RunConfig, Runner
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseOutputMessage, ResponseOutputText
from statehouse import AsyncStatehouse

from openai_agents_statehouse import StatehouseSession


class CountingModel(Model):
    """Answers with how many input items it was given, so the test sees the history the Runner sent."""

    async def get_response(
        self, system_instructions: str | None, input: str | list[TResponseInputItem], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        seen = 1 if isinstance(input, str) else len(input)
        text = ResponseOutputText(type="output_text", text=f"I saw {seen} items", annotations=[])
        message = ResponseOutputMessage(
            id=f"msg_{uuid.uuid4().hex}", type="message", role="assistant", status="completed", content=[text]
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError


async def test_runner_keeps_the_conversation_in_statehouse(aclient: AsyncStatehouse, daemon_url: str) -> None:
    agent = Agent(name="assistant", model=CountingModel())
    config = RunConfig(tracing_disabled=True)
    session = StatehouseSession(f"runner-{uuid.uuid4().hex[:8]}", aclient)
    first = await Runner.run(agent, "Hello", session=session, run_config=config)
    assert first.final_output == "I saw 1 items"
    # A new process would open its own client: the history comes back from the daemon.
    async with StatehouseSession.from_url(session.session_id, daemon_url) as again:
        second = await Runner.run(agent, "And now?", session=again, run_config=config)
        assert second.final_output == "I saw 3 items"  # Hello, the first answer, And now?
        items = await again.get_items()
    assert [item.get("role") for item in items] == ["user", "assistant", "user", "assistant"]
