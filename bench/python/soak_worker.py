"""Python side of the soak bench (`npm run bench -- --soak`): one process of Python SDK clients.

Usage: soak_worker.py '<json spec>' (bench/src/soak-bench.ts writes the spec from its plan).

It opens `clients` Python SDK clients (`Statehouse(protocol="grpc")`, one HTTP/2 connection
each), holds `held` server transactions open (BeginTransaction + staged Writes through the SDK's
generated stub, finished with the SDK's `Transaction(client, txn_id).commit()` / `.abort()`,
its way to finish a transaction opened elsewhere), begins short-timeout ones and commits them
late (TXN_EXPIRED asked for), runs the mixed open-loop load (commits, read-write transactions,
reads, as-of reads, replays), keeps `watches` Watch streams on the hot agents and calls Health
on every client now and then. Every `sample_ms` it prints one JSON line on stdout:

  {"type": "sample", "lat": {kind: [ms, ...]}, "outcomes": {kind: {code|"ok": n}},
   "unexpected": [{"kind", "code", "message"}], "skipped": {kind: n}, "held_open": n,
   "watch_events": n, "rss_kib": n}

and {"type": "done", ...the same counters} at the end (after `duration_ms`, or when stdin closes).
"""

from __future__ import annotations

import functools
import heapq
import json
import os
import queue
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bench_worker import bench_value
from google.protobuf import struct_pb2
from statehouse import Statehouse, StatehouseError, Transaction
from statehouse._gen.statehouse.v1 import statehouse_pb2 as pb


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Soak:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.ns: str = spec["namespace"]
        self.rng = random.Random(spec["seed"])
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.lat: dict[str, list[float]] = {}
        self.outcomes: dict[str, dict[str, int]] = {}
        self.unexpected: list[dict[str, str]] = []
        self.unexpected_total = 0
        self.skipped: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.watch_events = 0
        self.held_open = 0
        self.seq = 0
        # (real time s, commit_ts, agent, key) of commits this process made
        self.commits: deque[tuple[float, int, str, str]] = deque(maxlen=20_000)
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.timer_seq = 0
        self.timer_cv = threading.Condition()
        self.work: queue.Queue[tuple[str, Callable[[], str | None]]] = queue.Queue()
        self.clients = [Statehouse(spec["url"], namespace=self.ns, protocol="grpc") for _ in range(spec["clients"])]
        self.retention_s = spec["retention_real_ms"] / 1000

    # ---- bookkeeping

    def record(self, kind: str, started: float, code: str | None, message: str = "") -> None:
        ms = (time.perf_counter() - started) * 1000
        key = code or "ok"
        with self.lock:
            self.lat.setdefault(kind, []).append(ms)
            by_code = self.outcomes.setdefault(kind, {})
            by_code[key] = by_code.get(key, 0) + 1
            expected = self.spec["expected_codes"].get(kind, [])
            bad = (code is None and kind == "expire") or (code is not None and code not in expected)
            if bad:
                self.unexpected_total += 1
                if len(self.unexpected) < 20:
                    self.unexpected.append({"kind": kind, "code": key, "message": message[:300]})

    def run_op(self, kind: str, fn: Callable[[], str | None]) -> None:
        started = time.perf_counter()
        try:
            skipped = fn()
            if skipped is None:
                self.record(kind, started, None)
            else:  # nothing to do yet (e.g. no commit old enough): not a call
                with self.lock:
                    self.skipped[f"{kind}:{skipped}"] = self.skipped.get(f"{kind}:{skipped}", 0) + 1
        except StatehouseError as err:
            self.record(kind, started, err.code, err.message)
        except Exception as err:  # counted as unexpected, the soak goes on
            self.record(kind, started, type(err).__name__, str(err))
        finally:
            with self.lock:
                self.in_flight[kind] = self.in_flight.get(kind, 1) - 1

    def submit(self, kind: str, fn: Callable[[], str | None]) -> None:
        with self.lock:
            if self.in_flight.get(kind, 0) >= self.spec["max_in_flight"]:
                self.skipped[kind] = self.skipped.get(kind, 0) + 1
                return
            self.in_flight[kind] = self.in_flight.get(kind, 0) + 1
        self.work.put((kind, fn))

    def at(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self.timer_cv:
            self.timer_seq += 1
            heapq.heappush(self.timers, (time.monotonic() + delay_s, self.timer_seq, fn))
            self.timer_cv.notify()

    def dispatcher(self) -> None:
        while not self.stop.is_set():
            with self.timer_cv:
                if not self.timers:
                    self.timer_cv.wait(0.5)
                    continue
                due, _, fn = self.timers[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.timer_cv.wait(min(wait, 0.5))
                    continue
                heapq.heappop(self.timers)
            fn()

    def worker(self) -> None:
        while True:
            kind, fn = self.work.get()
            if kind == "":
                return
            self.run_op(kind, fn)

    # ---- the load

    def client(self) -> Statehouse:
        return self.rng.choice(self.clients)

    def agent(self) -> str:
        s = self.spec
        if self.rng.random() < 0.3:
            return f"agent-{self.rng.randrange(s['hot_agents'])}"
        return f"agent-{self.rng.randrange(s['agents'])}"

    def key(self) -> str:
        return f"k{self.rng.randrange(self.spec['keys_per_agent'])}"

    def value(self) -> dict[str, Any]:
        with self.lock:
            self.seq += 1
            return bench_value(self.seq, 200)

    def remember(self, started: float, ts: int, agent: str, key: str) -> None:
        """A commit this process made; `started`: when its call started (its commit time is later)."""
        with self.lock:
            self.commits.append((started, ts, agent, key))

    def recent_floor(self) -> int | None:
        """The lowest commit_ts of the commits started in the last quarter of the retention period:
        from it on, history is surely inside the retention window."""
        now = time.monotonic()
        with self.lock:
            fresh = [c[1] for c in list(self.commits)[-500:] if now - c[0] < self.retention_s / 4]
        return min(fresh) if fresh else None

    def pick_commit(self, newer_than_s: float | None, older_than_s: float | None) -> tuple[int, str, str] | None:
        now = time.monotonic()
        with self.lock:
            if not self.commits:
                return None
            if newer_than_s is not None:
                candidates = [c for c in list(self.commits)[-200:] if now - c[0] < newer_than_s]
            else:
                cutoff = now - (older_than_s or 0)
                candidates = [c for c in list(self.commits)[:200] if c[0] < cutoff]
        if not candidates:
            return None
        _, ts, agent, key = self.rng.choice(candidates)
        return ts, agent, key

    def op_commit(self) -> str | None:
        c = self.client()
        agent = self.agent()
        keys = [self.key() for _ in range(self.rng.randint(1, 3))]
        started = time.monotonic()
        with c.begin_transaction() as tx:
            for k in keys:
                tx.write(agent, k, self.value())
        ts = tx.commit_ts
        if ts is not None:
            self.remember(started, ts, agent, keys[0])
        return None

    def op_read_write(self) -> str | None:
        c = self.client()
        agent, key = self.agent(), self.key()
        tx = c.begin_transaction()
        tx.get(agent, key)
        tx.write(agent, key, self.value())
        started = time.monotonic()
        self.remember(started, tx.commit(), agent, key)
        return None

    def op_get(self) -> str | None:
        self.client().get_state(self.agent(), self.key())
        return None

    def op_as_of(self, recent: bool) -> Callable[[], str | None]:
        def run() -> str | None:
            picked = (
                self.pick_commit(self.retention_s / 4, None) if recent else self.pick_commit(None, 3 * self.retention_s)
            )
            if picked is None:
                return "NO_COMMIT_YET"
            ts, agent, key = picked
            self.client().get_state_as_of(agent, key, ts)
            return None

        return run

    def op_replay(self, from_start: bool) -> Callable[[], str | None]:
        def run() -> str | None:
            if from_start:
                for _ in self.client().replay(self.agent(), start_ts=1, limit=20):
                    pass
                return None
            picked = self.pick_commit(self.retention_s / 4, None)
            if picked is None:
                return "NO_COMMIT_YET"
            ts, agent, _ = picked
            for _ in self.client().replay(agent, start_ts=ts, limit=50):
                pass
            return None

        return run

    def schedule_rate(self, kind: str, rate: float, fn: Callable[[], str | None]) -> None:
        if rate <= 0:
            return

        def arrive() -> None:
            if self.stop.is_set():
                return
            self.submit(kind, fn)
            self.at(self.rng.expovariate(rate), arrive)

        self.at(self.rng.expovariate(rate), arrive)

    # held server transactions: begin + staged writes, committed or aborted after their lifetime

    def held_begin(self, slot: int) -> None:
        s = self.spec
        c = self.clients[slot % len(self.clients)]
        lifetime = self.rng.uniform(s["lifetime_ms"]["min"], s["lifetime_ms"]["max"]) / 1000
        agent = f"held-{s['worker']}-{slot % 500}"

        def begin() -> str | None:
            if self.stop.is_set():
                return None
            try:
                txn = c._stub.begin_transaction(pb.BeginTransactionRequest(timeout_ms=int(lifetime * 1000) + 120_000))
            except Exception:
                self.at(1.0, lambda: self.held_begin(slot))  # keep the pool full
                raise
            with self.lock:
                self.held_open += 1
            self.at(lifetime, lambda: self.submit_finish(slot, c, txn.txn_id, agent))
            for j in range(s["writes_per_txn"]):
                self.stage(c, txn.txn_id, agent, f"s{slot}-k{j}")
            return None

        self.submit_unbounded("heldBegin", begin)

    def stage(self, c: Statehouse, txn_id: str, agent: str, key: str) -> None:
        """One Write staged in a server transaction (through the SDK's generated stub)."""
        value = struct_pb2.Struct()
        value.update(self.value())
        c._stub.write(pb.WriteRequest(txn_id=txn_id, namespace=self.ns, agent_id=agent, key=key, value=value))

    def submit_unbounded(self, kind: str, fn: Callable[[], str | None]) -> None:
        """Held transactions are never skipped: the pool must stay full."""
        with self.lock:
            self.in_flight[kind] = self.in_flight.get(kind, 0) + 1
        self.work.put((kind, fn))

    def submit_finish(self, slot: int, c: Statehouse, txn_id: str, agent: str) -> None:
        commit = self.rng.random() < self.spec["commit_share"]

        def finish() -> str | None:
            if self.stop.is_set():
                return None
            tx = Transaction(c, txn_id, self.ns)
            try:
                if commit:
                    started = time.monotonic()
                    self.remember(started, tx.commit(), agent, f"s{slot}-k0")
                else:
                    tx.abort()
            finally:
                with self.lock:
                    self.held_open -= 1
                self.held_begin(slot)
            return None

        self.submit_unbounded("heldCommit" if commit else "heldAbort", finish)

    def expiring(self) -> Callable[[], str | None]:
        s = self.spec

        def begin() -> str | None:
            c = self.client()
            txn = c._stub.begin_transaction(pb.BeginTransactionRequest(timeout_ms=s["expire_timeout_ms"]))
            self.stage(c, txn.txn_id, "expiring", "k")
            self.at(
                s["expire_commit_after_ms"] / 1000,
                lambda: self.submit_unbounded("expire", lambda: self.expired_commit(c, txn.txn_id)),
            )
            return None

        return begin

    def expired_commit(self, c: Statehouse, txn_id: str) -> str | None:
        Transaction(c, txn_id, self.ns).commit()
        return None

    def heartbeat(self, index: int) -> None:
        hb = self.spec["heartbeat_ms"]

        def beat() -> None:
            if self.stop.is_set():
                return
            self.submit_unbounded("health", lambda: (self.clients[index].health(), None)[1])
            self.at(self.rng.uniform(hb["min"], hb["max"]) / 1000, beat)

        self.at(self.rng.uniform(hb["min"], hb["max"]) / 1000, beat)

    def watcher(self, index: int) -> None:
        c = self.clients[index % len(self.clients)]
        agent = f"agent-{index % self.spec['hot_agents']}"
        restart_s = self.spec["watch_restart_ms"] / 1000
        last_ts: int | None = None
        while not self.stop.is_set():
            opened = time.monotonic()
            # resume after the last event seen when it is surely inside the retention window
            floor = self.recent_floor()
            start = last_ts + 1 if last_ts is not None and floor is not None and last_ts + 1 >= floor else None
            started = time.perf_counter()
            try:
                for event in c.watch(agent, start_ts=start):
                    last_ts = event.commit_ts
                    with self.lock:
                        self.watch_events += 1
                    if self.stop.is_set() or time.monotonic() - opened > restart_s:
                        break
                self.record("watch", started, None)
            except StatehouseError as err:
                if self.stop.is_set():
                    return
                self.record("watch", started, err.code, err.message)
                time.sleep(1)

    # ---- reporting

    def counters(self, kind: str) -> dict[str, Any]:
        with self.lock:
            lat, self.lat = self.lat, {}
            unexpected, self.unexpected = self.unexpected, []
            return {
                "type": kind,
                "lat": {k: [round(v, 3) for v in vs] for k, vs in lat.items()},
                "outcomes": {k: dict(v) for k, v in self.outcomes.items()},
                "unexpected": unexpected,
                "unexpected_total": self.unexpected_total,
                "skipped": dict(self.skipped),
                "held_open": self.held_open,
                "watch_events": self.watch_events,
                "rss_kib": rss_kib(),
            }

    def run(self) -> None:
        s = self.spec
        for c in self.clients:  # connect every client now: an idle client is still a connection
            c.health()
        print(
            json.dumps(
                {
                    "type": "connected",
                    "clients": len(self.clients),
                    "rss_kib": rss_kib(),
                }
            ),
            flush=True,
        )
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(s["threads"])]
        threads.append(threading.Thread(target=self.dispatcher, daemon=True))
        for t in threads:
            t.start()
        ramp_s = s["ramp_ms"] / 1000
        for slot in range(s["held"]):
            self.at(self.rng.uniform(0, ramp_s), functools.partial(self.held_begin, slot))
        r = s["rates"]
        self.schedule_rate("commit", r["commit"], self.op_commit)
        self.schedule_rate("readWrite", r["readWrite"], self.op_read_write)
        self.schedule_rate("get", r["get"], self.op_get)
        self.schedule_rate("asOfRecent", r["asOfRecent"], self.op_as_of(True))
        self.schedule_rate("asOfOld", r["asOfOld"], self.op_as_of(False))
        self.schedule_rate("replayRecent", r["replayRecent"], self.op_replay(False))
        self.schedule_rate("replayFromStart", r["replayFromStart"], self.op_replay(True))
        self.schedule_rate("expireBegin", s["expire_per_sec"], self.expiring())
        for i in range(len(self.clients)):
            self.heartbeat(i)
        for i in range(s["watches"]):
            threading.Thread(target=self.watcher, args=(i,), daemon=True).start()

        def stdin_closed() -> None:
            sys.stdin.read()
            self.stop.set()

        threading.Thread(target=stdin_closed, daemon=True).start()
        end = time.monotonic() + s["duration_ms"] / 1000
        while not self.stop.wait(min(s["sample_ms"] / 1000, max(0.0, end - time.monotonic()))):
            print(json.dumps(self.counters("sample")), flush=True)
            if time.monotonic() >= end:
                break
        self.stop.set()
        print(json.dumps(self.counters("done")), flush=True)


def main() -> None:
    Soak(json.loads(sys.argv[1])).run()
    sys.stdout.flush()
    os._exit(0)  # watch threads block in their streams; the daemon cancels them when the connections close


if __name__ == "__main__":
    main()
