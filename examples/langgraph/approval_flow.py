"""Human-in-the-loop approval (LangGraph ``interrupt``) whose pending decision survives a daemon crash.

    .venv/bin/python examples/langgraph/approval_flow.py --url localhost:50051 --thread t2 propose
    # ... the daemon may be killed and restarted here; the proposal waits in Statehouse ...
    .venv/bin/python examples/langgraph/approval_flow.py --url localhost:50051 --thread t2 decide approve

``propose`` runs the graph until the approval node interrupts (the proposal comes from
LangChain's deterministic fake chat model, no API key) and exits. ``decide`` is a new process:
it finds the interrupted thread in its checkpoint and resumes it with the decision.
"""

from __future__ import annotations

import argparse
from typing import TypedDict

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt

from langgraph.checkpoint.statehouse import StatehouseSaver


class State(TypedDict, total=False):
    request: str
    proposal: str
    decision: str
    outcome: str


def propose(state: State) -> State:
    model = FakeListChatModel(responses=["refund $40 to order 1234"])
    return {"proposal": str(model.invoke(state["request"]).content)}


def approve(state: State) -> State:
    decision = interrupt({"question": "approve this action?", "proposal": state["proposal"]})
    return {"decision": str(decision)}


def act(state: State) -> State:
    done = state["decision"] == "approve"
    return {"outcome": f"executed: {state['proposal']}" if done else f"cancelled: {state['proposal']}"}


def build(saver: StatehouseSaver) -> CompiledStateGraph[State, None, State, State]:
    builder: StateGraph[State, None, State, State] = StateGraph(State)
    builder.add_node("propose", propose)
    builder.add_node("approve", approve)
    builder.add_node("act", act)
    builder.add_edge(START, "propose")
    builder.add_edge("propose", "approve")
    builder.add_edge("approve", "act")
    builder.add_edge("act", END)
    return builder.compile(checkpointer=saver)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="localhost:50051")
    parser.add_argument("--thread", required=True)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("propose")
    decide = commands.add_parser("decide")
    decide.add_argument("decision", choices=["approve", "reject"])
    args = parser.parse_args()
    config: RunnableConfig = {"configurable": {"thread_id": args.thread}}
    with StatehouseSaver.from_url(args.url) as saver:
        graph = build(saver)
        if args.command == "propose":
            graph.invoke({"request": "customer says order 1234 arrived broken"}, config, durability="sync")
            (pending,) = graph.get_state(config).interrupts
            print(f"waiting for approval: {pending.value['proposal']}")
            return
        snapshot = graph.get_state(config)
        if snapshot.next != ("approve",):
            raise SystemExit(f"thread {args.thread} is not waiting for a decision (next: {snapshot.next})")
        print(f"found pending proposal: {snapshot.values['proposal']}")
        result = graph.invoke(Command(resume=args.decision), config, durability="sync")
        print(result["outcome"])


if __name__ == "__main__":
    main()
