"""A five-step research agent (a LangGraph graph) that resumes from its Statehouse checkpoint.

    .venv/bin/python examples/langgraph/resumable_agent.py --url localhost:50051 --thread t1 --hang-at 3
    # ... SIGKILL it while it hangs in step 3, then run it again without --hang-at:
    .venv/bin/python examples/langgraph/resumable_agent.py --url localhost:50051 --thread t1

Each step asks LangChain's deterministic fake chat model (no API key) for its output. The graph
runs with ``durability="sync"``: a step's checkpoint is committed before the next step starts,
so a killed run resumes at the step it was in and never repeats a finished one.
"""

from __future__ import annotations

import argparse
import itertools
import operator
import time
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langgraph.checkpoint.statehouse import StatehouseSaver

STEPS = ["plan", "search", "read", "summarize", "answer"]
# What the fake model answers at each step (a real model would be called here).
ANSWERS = {
    "plan": "search for the capital of France, read the source, summarize, answer",
    "search": "found: https://en.wikipedia.org/wiki/Paris",
    "read": "Paris is the capital and largest city of France",
    "summarize": "the capital of France is Paris",
    "answer": "Paris",
}


class State(TypedDict):
    question: str
    log: Annotated[list[str], operator.add]


def step(name: str, hang: bool) -> Any:
    def run(state: State) -> dict[str, list[str]]:
        print(f"started {name}", flush=True)
        if hang:
            time.sleep(3600)  # the test SIGKILLs the process here
        model = FakeListChatModel(responses=[ANSWERS[name]])
        reply = model.invoke(f"{name}: {state['question']}")
        return {"log": [f"{name}: {reply.content}"]}

    return run


def build(saver: StatehouseSaver, hang_at: int | None) -> CompiledStateGraph[State, None, State, State]:
    builder: StateGraph[State, None, State, State] = StateGraph(State)
    for number, name in enumerate(STEPS, start=1):
        builder.add_node(name, step(name, hang=number == hang_at))
    builder.add_edge(START, STEPS[0])
    for first, second in itertools.pairwise(STEPS):
        builder.add_edge(first, second)
    builder.add_edge(STEPS[-1], END)
    return builder.compile(checkpointer=saver)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="localhost:50051")
    parser.add_argument("--thread", required=True)
    parser.add_argument("--hang-at", type=int, help="hang in this step (1-5), to be killed")
    args = parser.parse_args()
    config: RunnableConfig = {"configurable": {"thread_id": args.thread}}
    with StatehouseSaver.from_url(args.url) as saver:
        graph = build(saver, args.hang_at)
        snapshot = graph.get_state(config)
        if snapshot.next:
            print(f"resuming at {snapshot.next[0]} after {len(snapshot.values['log'])} finished steps", flush=True)
            result = graph.invoke(None, config, durability="sync")
        else:
            print("starting", flush=True)
            result = graph.invoke({"question": "What is the capital of France?", "log": []}, config, durability="sync")
        for line in result["log"]:
            print(line)


if __name__ == "__main__":
    main()
