"""Statehouse e2e driver for the Python SDK.

A thin client process run by the e2e harness (e2e/src/harness/driver-process.ts).
It reads one JSON command per line on stdin and writes one JSON reply per line
on stdout (protocol: e2e/src/drivers/protocol.ts). One client object lives for
the driver's whole life, so the suites also prove that the same client keeps
working after the daemon was SIGKILLed and restarted.

    python driver.py --url http://127.0.0.1:PORT [--namespace default]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import statehouse
from statehouse import Statehouse, StatehouseError


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def state_view(result: Any) -> dict[str, Any]:
    return {
        "exists": bool(result.exists),
        "value": result.value,
        "version": int(result.version),
        "commit_ts": int(result.commit_ts),
    }


def public_class(error: BaseException) -> str:
    """The most specific class of the error that the SDK exports (a connection failure inside a
    transaction is a private subclass of both ConnectionError and TransactionError: ConnectionError)."""
    for cls in type(error).__mro__:
        if cls.__module__.startswith("statehouse") and getattr(statehouse, cls.__name__, None) is not cls:
            continue
        return cls.__name__
    return type(error).__name__


def error_info(error: BaseException, stage: str | None) -> dict[str, Any]:
    classes = [cls.__name__ for cls in type(error).__mro__ if cls not in (object, BaseException)]
    code = getattr(error, "code", None)
    if code is not None and not isinstance(code, str):
        code = getattr(code, "name", None) or str(code)
    return {
        "class": public_class(error),
        "classes": classes,
        "statehouse": isinstance(error, StatehouseError),
        "code": code,
        "message": str(error)[:2000],
        "stage": stage,
    }


class Driver:
    def __init__(self, url: str, namespace: str) -> None:
        self.client = Statehouse(url=url, namespace=namespace)
        self.stage: str | None = None

    # -- commands ---------------------------------------------------------

    def health(self, _cmd: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.client.health()}

    def stage_ops(self, tx: Any, ops: list[dict[str, Any]]) -> None:
        self.stage = "write"
        for op in ops:
            if op["value"] is None:
                tx.delete(agent_id=op["agent"], key=op["key"])
            else:
                tx.write(agent_id=op["agent"], key=op["key"], value=op["value"])

    def txn(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.stage = "begin"
        gets: list[dict[str, Any]] = []
        key = cmd.get("idempotency_key")
        with self.client.begin_transaction(**({"idempotency_key": key} if key else {})) as tx:
            self.stage = "get"
            for ref in cmd.get("gets") or []:
                gets.append(state_view(tx.get(agent_id=ref["agent"], key=ref["key"])))
            self.stage_ops(tx, cmd["ops"])
            if cmd.get("pause"):
                emit({"id": cmd["id"], "event": "paused"})
                resume = json.loads(sys.stdin.readline() or "{}")
                if resume.get("op") != "resume":
                    raise RuntimeError(f"expected resume, got {resume!r}")
            self.stage = "commit"
            commit_ts = tx.commit()
        return {"commit_ts": int(commit_ts), "gets": gets, "duplicate": bool(tx.duplicate)}

    def run_txn(self, cmd: dict[str, Any]) -> dict[str, Any]:
        attempts = 0
        last: dict[str, Any] = {"tx": None, "counter": None}
        counter = cmd.get("counter")

        def body(tx: Any) -> None:
            nonlocal attempts
            attempts += 1
            last["tx"] = tx
            if counter is not None:
                current = tx.get(agent_id=counter["agent"], key=counter["key"])
                n = int(current.value["n"]) + 1 if current.exists and current.value else 1
                tx.write(agent_id=counter["agent"], key=counter["key"], value={"n": n, "uid": cmd["uid"]})
                last["counter"] = n
            self.stage_ops(tx, cmd["ops"])

        self.stage = "run_transaction"
        self.client.run_transaction(body, retries=cmd["retries"])
        tx = last["tx"]
        return {
            "commit_ts": int(tx.commit_ts),
            "attempts": attempts,
            "counter": last["counter"],
            "duplicate": bool(tx.duplicate),
        }

    def get(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return state_view(self.client.get_state(cmd["agent"], cmd["key"]))

    def list_keys(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {"keys": list(self.client.list_keys(cmd["agent"]))}

    def replay(self, cmd: dict[str, Any]) -> dict[str, Any]:
        events = []
        for event in self.client.replay(cmd["agent"], start_ts=cmd.get("start_ts"), end_ts=cmd.get("end_ts")):
            events.append(
                {
                    "txn_id": event.txn_id,
                    "commit_ts": int(event.commit_ts),
                    "operations": [
                        {"key": op.key, "value": op.value, "version": int(op.version)} for op in event.operations
                    ],
                }
            )
        return {"events": events}

    # -- loop -------------------------------------------------------------

    def handle(self, cmd: dict[str, Any]) -> None:
        handler: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(self, cmd.get("op", ""), None)
        self.stage = None
        t0 = time.monotonic_ns()
        try:
            if handler is None or cmd["op"] in ("handle", "stage_ops"):
                raise ValueError(f"unknown op {cmd.get('op')!r}")
            result = handler(cmd)
        except Exception as error:  # every SDK failure is reported to the harness
            t1 = time.monotonic_ns()
            emit({"id": cmd["id"], "ok": False, "error": error_info(error, self.stage), "t0": str(t0), "t1": str(t1)})
            return
        t1 = time.monotonic_ns()
        emit({"id": cmd["id"], "ok": True, "result": result, "t0": str(t0), "t1": str(t1)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", default="default")
    args = parser.parse_args()
    driver = Driver(args.url, args.namespace)
    emit({"event": "ready", "sdk": "python", "pid": os.getpid()})
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip():
            driver.handle(json.loads(line))
    close = getattr(driver.client, "close", None)
    if close is not None:
        close()


if __name__ == "__main__":
    main()
