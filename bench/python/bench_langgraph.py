"""LangGraph checkpoint rows of the bench: ``put`` + ``get_tuple`` of a real graph's checkpoints,
on Statehouse (``StatehouseSaver``) and on the official Postgres saver (``PostgresSaver``, psycopg).

Both savers get the same checkpoints: a five-step agent graph (messages with ``add_messages``,
LangChain's deterministic fake chat model, a tool step) is run once with a recording in-memory
saver, and every ``put`` it made (config, checkpoint, metadata, new versions) is kept. One
operation of the closed loop is the next recorded ``put`` onto the worker's current thread,
then ``get_tuple`` of that thread's latest checkpoint (what LangGraph reads when a thread
resumes); after the last checkpoint of the sequence the worker starts a new thread.
"""

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

Put = tuple[dict[str, Any], Any, Any, Any]


class State(TypedDict):
    messages: Annotated[list[Any], add_messages]
    step: int
    notes: list[str]


def record_puts() -> list[Put]:
    """The puts of one run of the bench graph (6 checkpoints), as LangGraph made them."""
    puts: list[Put] = []

    class Recording(InMemorySaver):
        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            puts.append((config, checkpoint, metadata, new_versions))
            return super().put(config, checkpoint, metadata, new_versions)

    answers = ["I will search first.", "Paris is the capital of France.", "Checked: correct.", "Paris."]

    def think(name: str, index: int) -> Callable[[State], dict[str, Any]]:
        def run(state: State) -> dict[str, Any]:
            reply = FakeListChatModel(responses=[answers[index]]).invoke(state["messages"])
            return {"messages": [reply], "step": state["step"] + 1, "notes": [*state["notes"], name]}

        return run

    def tool(state: State) -> dict[str, Any]:
        result = "https://en.wikipedia.org/wiki/Paris: Paris is the capital and largest city of France. " * 4
        return {"messages": [ToolMessage(result, tool_call_id="call-1")], "step": state["step"] + 1}

    builder: StateGraph[State, None, State, State] = StateGraph(State)
    nodes = [("plan", think("plan", 0)), ("search", tool), ("read", think("read", 1))]
    nodes += [("check", think("check", 2)), ("answer", think("answer", 3))]
    previous = START
    for name, node in nodes:
        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    graph = builder.compile(checkpointer=Recording())
    question = HumanMessage("What is the capital of France? Answer with the city's name only.")
    graph.invoke({"messages": [question], "step": 0, "notes": []}, {"configurable": {"thread_id": "recorded"}})
    return puts


def on_thread(config: dict[str, Any], thread_id: str) -> dict[str, Any]:
    return {"configurable": {**config["configurable"], "thread_id": thread_id}}


def loop_op(saver: Any, puts: Sequence[Put]) -> Callable[[int], object]:
    """put + get_tuple, cycling through the recorded sequence on fresh threads."""
    state: dict[str, Any] = {"thread": "", "i": len(puts)}

    def op(seq: int) -> None:
        if state["i"] == len(puts):
            state["thread"], state["i"] = f"bench-{uuid.uuid4().hex}", 0
        config, checkpoint, metadata, new_versions = puts[state["i"]]
        state["i"] += 1
        stored = saver.put(on_thread(config, state["thread"]), checkpoint, metadata, new_versions)
        latest = saver.get_tuple({"configurable": {"thread_id": state["thread"], "checkpoint_ns": ""}})
        if latest is None or latest.checkpoint["id"] != stored["configurable"]["checkpoint_id"]:
            raise RuntimeError(f"get_tuple did not return the checkpoint just put: {latest}")

    return op


def statehouse_savers(spec: dict[str, Any], stack: ExitStack) -> Iterator[Any]:
    from statehouse import Statehouse

    from langgraph.checkpoint.statehouse import StatehouseSaver

    while True:
        client = stack.enter_context(Statehouse(url=spec["url"]))
        options = {} if spec.get("blob_cache_bytes") is None else {"blob_cache_bytes": spec["blob_cache_bytes"]}
        yield StatehouseSaver(client, namespace=spec["namespace"], **options)


def postgres_savers(spec: dict[str, Any], stack: ExitStack) -> Iterator[Any]:
    from langgraph.checkpoint.postgres import PostgresSaver

    first = True
    while True:
        saver_cm: AbstractContextManager[Any] = PostgresSaver.from_conn_string(spec["postgres_dsn"])
        saver = stack.enter_context(saver_cm)
        if first:
            saver.setup()  # the saver's own migrations (tables, indexes), once
            first = False
        yield saver
