"""Prints a thread's whole decision history from Statehouse: every checkpoint, oldest first, with
the writes of its tasks (proposals, interrupts, resume values, outcomes) and the commit that stored it.

    .venv/bin/python examples/langgraph/replay.py --url localhost:50051 --thread t2
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from langchain_core.runnables import RunnableConfig
from statehouse import Statehouse

from langgraph.checkpoint.statehouse import StatehouseSaver


def short(value: Any) -> str:
    text = json.dumps(value, default=repr, sort_keys=True)
    return text if len(text) <= 100 else text[:97] + "..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="localhost:50051")
    parser.add_argument("--thread", required=True)
    args = parser.parse_args()
    config: RunnableConfig = {"configurable": {"thread_id": args.thread}}
    with Statehouse(url=args.url) as client:
        saver = StatehouseSaver(client)
        # Which commit stored each checkpoint, from the thread's event log.
        committed = {
            op.value["id"]: event.commit_ts
            for event in client.replay(args.thread, namespace=saver.namespace)
            for op in event.operations
            if op.value and op.value.get("kind") == "checkpoint"
        }
        history = list(saver.list(config))[::-1]
        print(f"thread {args.thread}: {len(history)} checkpoints")
        for tup in history:
            meta = tup.metadata
            values = tup.checkpoint["channel_values"]
            state = {k: v for k, v in values.items() if not k.startswith("__") and not k.startswith("branch:")}
            print(f"commit_ts={committed.get(tup.checkpoint['id'])}  step={meta['step']}  source={meta['source']}")
            print(f"  state: {short(state)}")
            for task_id, channel, value in tup.pending_writes or []:
                print(f"  write  {channel:<14} {short(value)}  (task {task_id[:8]})")


if __name__ == "__main__":
    main()
