"""Python side of the Statehouse bench: one measurement per process.

Usage: bench_worker.py '<json spec>'  -> prints one JSON line with the result.
Every mode also prints "WINDOW START <cpu ms>" / "WINDOW END <cpu ms>" on
stderr when the measurement window opens and closes (this process's CPU time),
so the parent can charge server CPU time to exactly that window.

spec = {"mode": ..., "url": "http://127.0.0.1:PORT", "concurrency": N,
        "warmup_s": float, "duration_s": float, "namespace": str, "agent_prefix": str,
        "agent_id": str (replay modes), "value_bytes": int}

modes:
  commit-sdk     begin/write/commit through the `statehouse` SDK (with-block), one 200-byte value per txn
  commit-grpcio  one-shot Transact through a plain grpcio client (stubs generated from proto/)
  noop-grpcio    Health through grpcio (the grpcio client's own ceiling)
  noop-sdk       client.health() through the SDK (the SDK's own ceiling)
  replay-sdk     client.replay(agent_id) through the SDK, counting events
  replay-grpcio  the Replay stream through grpcio
  langgraph-statehouse / langgraph-postgres
                 LangGraph checkpoint put + get_tuple of a real graph's checkpoints (bench_langgraph.py)
                 through StatehouseSaver / the official PostgresSaver (spec["postgres_dsn"])

Concurrency: concurrency 1 uses the blocking client in the main thread, as a
typical agent does. Concurrency > 1 runs that many threads, each with its
own blocking client (the SDK's documented model: one client per thread), so
the GIL's cost is part of what Python users get. grpcio threads share one
channel (grpcio channels are thread-safe, and that is how grpcio is used).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GRPC_GEN = os.path.join(ROOT, "sdks", "python", "tests", "_grpc_gen")


def bench_value(seq: int, size: int) -> dict[str, Any]:
    """Same payload as bench/src/bench-value.ts: compact JSON of exactly `size` bytes."""
    base: dict[str, Any] = {"kind": "observation", "step": seq, "tool": "search", "ok": True, "note": ""}
    pad = size - len(json.dumps(base, separators=(",", ":")))
    base["note"] = "x" * pad
    return base


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = p / 100 * (len(sorted_values) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo)


def closed_loop(
    concurrency: int, warmup_s: float, duration_s: float, make_op: Callable[[int], Callable[[int], object]]
) -> dict[str, float]:
    """Same semantics as bench/src/closed-loop.ts: throughput = ops ending in the window."""
    ops = [make_op(w) for w in range(concurrency)]
    start = time.perf_counter()
    measure_from = start + warmup_s
    end = measure_from + duration_s
    lock = threading.Lock()
    latencies: list[float] = []
    completed = [0]
    failure: list[BaseException] = []

    def worker(w: int) -> None:
        op = ops[w]
        seq = 0
        local_lat: list[float] = []
        local_done = 0
        try:
            while not failure:
                t0 = time.perf_counter()
                if t0 >= end:
                    break
                op(seq)
                seq += 1
                t1 = time.perf_counter()
                if measure_from <= t1 <= end:
                    local_done += 1
                if t0 >= measure_from and t1 <= end:
                    local_lat.append((t1 - t0) * 1000)
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            failure.append(error)
        with lock:
            latencies.extend(local_lat)
            completed[0] += local_done

    def mark_window() -> None:
        # The parent samples the server's CPU time on these lines; ours is in them.
        time.sleep(max(0.0, measure_from - time.perf_counter()))
        print(f"WINDOW START {time.process_time() * 1000:.3f}", file=sys.stderr, flush=True)
        time.sleep(max(0.0, end - time.perf_counter()))
        print(f"WINDOW END {time.process_time() * 1000:.3f}", file=sys.stderr, flush=True)

    marker = threading.Thread(target=mark_window)
    marker.start()
    if concurrency == 1:
        worker(0)
    else:
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    marker.join()
    if failure:
        raise failure[0]
    latencies.sort()
    return {
        "ops": completed[0],
        "seconds": duration_s,
        "opsPerSec": completed[0] / duration_s,
        "p50Ms": percentile(latencies, 50),
        "p99Ms": percentile(latencies, 99),
    }


def target_of(url: str) -> str:
    return url.removeprefix("http://").removeprefix("https://").rstrip("/")


_stub_cache: dict[str, tuple[Any, Any, Any]] = {}


def grpc_stub(url: str) -> tuple[Any, Any, Any]:
    """One channel per process, shared by every thread (grpcio channels are thread-safe)."""
    if url in _stub_cache:
        return _stub_cache[url]
    sys.path.insert(0, GRPC_GEN)
    import grpc  # type: ignore[import-untyped]
    from grpcclient.statehouse.v1 import statehouse_pb2, statehouse_pb2_grpc  # type: ignore[import-not-found]

    channel = grpc.insecure_channel(target_of(url), options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    _stub_cache[url] = (channel, statehouse_pb2, statehouse_pb2_grpc.StatehouseServiceStub(channel))
    return _stub_cache[url]


def run_commit_grpcio(spec: dict[str, Any]) -> dict[str, float]:
    from google.protobuf import struct_pb2

    def make_op(w: int) -> Callable[[int], object]:
        _channel, pb2, stub = grpc_stub(spec["url"])
        agent = f"{spec['agent_prefix']}-{w}"

        def op(seq: int) -> None:
            value = struct_pb2.Struct()
            value.update(bench_value(seq, spec["value_bytes"]))
            request = pb2.TransactRequest(
                operations=[
                    pb2.TransactOperation(namespace=spec["namespace"], agent_id=agent, key=f"k{seq % 100}", value=value)
                ]
            )
            stub.Transact(request)

        return op

    return closed_loop(spec["concurrency"], spec["warmup_s"], spec["duration_s"], make_op)


def run_noop_grpcio(spec: dict[str, Any]) -> dict[str, float]:
    def make_op(w: int) -> Callable[[int], object]:
        _channel, pb2, stub = grpc_stub(spec["url"])
        request = pb2.HealthRequest()
        return lambda seq: stub.Health(request)

    return closed_loop(spec["concurrency"], spec["warmup_s"], spec["duration_s"], make_op)


def run_noop_sdk(spec: dict[str, Any]) -> dict[str, float]:
    from statehouse import Statehouse

    def make_op(w: int) -> Callable[[int], object]:
        client = Statehouse(url=spec["url"], namespace=spec["namespace"])
        return lambda seq: client.health()

    return closed_loop(spec["concurrency"], spec["warmup_s"], spec["duration_s"], make_op)


def run_commit_sdk(spec: dict[str, Any]) -> dict[str, float]:
    from statehouse import Statehouse

    def make_op(w: int) -> Callable[[int], object]:
        client = Statehouse(url=spec["url"], namespace=spec["namespace"])
        agent = f"{spec['agent_prefix']}-{w}"

        def op(seq: int) -> None:
            with client.begin_transaction() as tx:
                tx.write(agent_id=agent, key=f"k{seq % 100}", value=bench_value(seq, spec["value_bytes"]))

        return op

    return closed_loop(spec["concurrency"], spec["warmup_s"], spec["duration_s"], make_op)


def timed_replay(count_events: Callable[[], int]) -> dict[str, float]:
    print(f"WINDOW START {time.process_time() * 1000:.3f}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    events = count_events()
    seconds = time.perf_counter() - t0
    print(f"WINDOW END {time.process_time() * 1000:.3f}", file=sys.stderr, flush=True)
    return {"ops": events, "events": events, "seconds": seconds, "eventsPerSec": events / seconds}


def run_replay_sdk(spec: dict[str, Any]) -> dict[str, float]:
    from statehouse import Statehouse

    client = Statehouse(url=spec["url"], namespace=spec["namespace"])
    client.health()  # connect before timing

    def count() -> int:
        n = 0
        for event in client.replay(spec["agent_id"]):
            n += len(event.operations) > 0
        return n

    return timed_replay(count)


def run_replay_grpcio(spec: dict[str, Any]) -> dict[str, float]:
    from google.protobuf import json_format

    _channel, pb2, stub = grpc_stub(spec["url"])
    stub.Health(pb2.HealthRequest())

    def count() -> int:
        n = 0
        for event in stub.Replay(pb2.ReplayRequest(namespace=spec["namespace"], agent_id=spec["agent_id"])):
            # decode values to Python dicts, as the SDK does
            for op in event.operations:
                json_format.MessageToDict(op.value)
            n += 1
        return n

    return timed_replay(count)


def run_langgraph(savers_name: str) -> Callable[[dict[str, Any]], dict[str, float]]:
    """LangGraph checkpoint put + get_tuple (bench_langgraph.py): one saver (own connection) per worker."""

    def run(spec: dict[str, Any]) -> dict[str, float]:
        import bench_langgraph  # only these modes import LangGraph

        savers = getattr(bench_langgraph, savers_name)
        puts = bench_langgraph.record_puts()
        with ExitStack() as stack:
            made = savers(spec, stack)
            per_worker = [next(made) for _ in range(spec["concurrency"])]
            return closed_loop(
                spec["concurrency"],
                spec["warmup_s"],
                spec["duration_s"],
                lambda w: bench_langgraph.loop_op(per_worker[w], puts),
            )

    return run


MODES: dict[str, Callable[[dict[str, Any]], dict[str, float]]] = {
    "langgraph-statehouse": run_langgraph("statehouse_savers"),
    "langgraph-postgres": run_langgraph("postgres_savers"),
    "commit-sdk": run_commit_sdk,
    "commit-grpcio": run_commit_grpcio,
    "noop-grpcio": run_noop_grpcio,
    "noop-sdk": run_noop_sdk,
    "replay-sdk": run_replay_sdk,
    "replay-grpcio": run_replay_grpcio,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = MODES[spec["mode"]](spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
