"""A stand-in for the original Statehouse 0.1.x daemon: gRPC only, only its twelve RPCs, in memory.

Usage: python _original_server.py CALLS_FILE   (with tests/_grpc_gen on PYTHONPATH; prints the port,
serves until killed, and appends the name of every RPC it receives to CALLS_FILE, one per line)
A test double written with grpcio (it runs in its own process: its generated classes register
the same proto file as the SDK's). Every other RPC (Transact, ReplayBatches, Watch, GetStateAsOf...)
answers UNIMPLEMENTED, as the original does.
"""

from __future__ import annotations

import sys
import threading
import uuid
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.struct_pb2 import Struct
from grpcclient.statehouse.v1 import statehouse_pb2 as pb
from grpcclient.statehouse.v1 import statehouse_pb2_grpc as pb_grpc

Ref = tuple[str, str, str]


class OriginalDaemon(pb_grpc.StatehouseServiceServicer):
    def __init__(self, calls_file: str) -> None:
        self.lock = threading.Lock()
        self.calls_file = calls_file
        self.commit_ts = 0
        self.staged: dict[str, list[tuple[Ref, Struct | None]]] = {}
        self.history: dict[Ref, list[tuple[int, int, Struct | None]]] = {}  # (version, commit_ts, value)
        self.events: list[tuple[str, int, list[tuple[Ref, Struct | None, int]]]] = []

    def _count(self, name: str) -> None:
        with self.lock, open(self.calls_file, "a", encoding="utf-8") as calls:
            calls.write(f"{name}\n")

    def Health(self, request: Any, context: Any) -> Any:
        self._count("Health")
        return pb.HealthResponse(status="ok")

    def Version(self, request: Any, context: Any) -> Any:
        self._count("Version")
        return pb.VersionResponse(version="0.1.1", git_sha="original-test-double")

    def BeginTransaction(self, request: Any, context: Any) -> Any:
        self._count("BeginTransaction")
        txn_id = str(uuid.uuid4())
        with self.lock:
            self.staged[txn_id] = []
        return pb.BeginTransactionResponse(txn_id=txn_id)

    def _stage(self, request: Any, context: Any, value: Struct | None) -> None:
        with self.lock:
            ops = self.staged.get(request.txn_id)
            if ops is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"transaction {request.txn_id} not found")
            ops.append(((request.namespace, request.agent_id, request.key), value))

    def Write(self, request: Any, context: Any) -> Any:
        self._count("Write")
        self._stage(request, context, request.value)
        return pb.WriteResponse()

    def Delete(self, request: Any, context: Any) -> Any:
        self._count("Delete")
        self._stage(request, context, None)
        return pb.DeleteResponse()

    def Commit(self, request: Any, context: Any) -> Any:
        self._count("Commit")
        with self.lock:
            ops = self.staged.pop(request.txn_id, None)
            if ops is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"transaction {request.txn_id} not found")
            self.commit_ts += 1
            applied = []
            for ref, value in ops:
                versions = self.history.setdefault(ref, [])
                version = (versions[-1][0] if versions else 0) + 1
                versions.append((version, self.commit_ts, value))
                applied.append((ref, value, version))
            self.events.append((request.txn_id, self.commit_ts, applied))
            return pb.CommitResponse(commit_ts=self.commit_ts)

    def Abort(self, request: Any, context: Any) -> Any:
        self._count("Abort")
        with self.lock:
            self.staged.pop(request.txn_id, None)
        return pb.AbortResponse()

    def _state(self, entry: tuple[int, int, Struct | None] | None) -> dict[str, Any]:
        if entry is None:
            return {"version": 0, "commit_ts": 0, "exists": False}
        version, ts, value = entry
        if value is None:
            return {"version": version, "commit_ts": ts, "exists": False}
        return {"value": value, "version": version, "commit_ts": ts, "exists": True}

    def GetState(self, request: Any, context: Any) -> Any:
        self._count("GetState")
        with self.lock:
            versions = self.history.get((request.namespace, request.agent_id, request.key), [])
            return pb.GetStateResponse(**self._state(versions[-1] if versions else None))

    def GetStateAtVersion(self, request: Any, context: Any) -> Any:
        self._count("GetStateAtVersion")
        with self.lock:
            versions = self.history.get((request.namespace, request.agent_id, request.key), [])
            found = [v for v in versions if v[0] == request.version]
            if not found:
                context.abort(grpc.StatusCode.NOT_FOUND, f"version {request.version} not found")
            return pb.GetStateAtVersionResponse(**self._state(found[0]))

    def _live(self, namespace: str, agent_id: str, prefix: str = "") -> list[tuple[str, tuple[int, int, Struct]]]:
        live = []
        for (ns, agent, key), versions in sorted(self.history.items()):
            version, ts, value = versions[-1]
            if ns == namespace and agent == agent_id and key.startswith(prefix) and value is not None:
                live.append((key, (version, ts, value)))
        return live

    def ListKeys(self, request: Any, context: Any) -> Any:
        self._count("ListKeys")
        with self.lock:
            return pb.ListKeysResponse(keys=[key for key, _ in self._live(request.namespace, request.agent_id)])

    def ScanPrefix(self, request: Any, context: Any) -> Any:
        self._count("ScanPrefix")
        with self.lock:
            entries = [
                pb.StateEntry(key=key, value=value, version=version, commit_ts=ts)
                for key, (version, ts, value) in self._live(request.namespace, request.agent_id, request.prefix)
            ]
            return pb.ScanPrefixResponse(entries=entries)

    def Replay(self, request: Any, context: Any) -> Any:
        self._count("Replay")
        with self.lock:
            events = list(self.events)
        for txn_id, ts, applied in events:
            if request.HasField("start_ts") and ts < request.start_ts:
                continue
            if request.HasField("end_ts") and ts > request.end_ts:
                continue
            ops = [
                pb.Operation(key=key, value=value, version=version)
                if value is not None
                else pb.Operation(key=key, version=version)
                for (ns, agent, key), value, version in applied
                if ns == request.namespace and agent == request.agent_id
            ]
            if ops:
                yield pb.ReplayEvent(txn_id=txn_id, commit_ts=ts, operations=ops)


def main() -> None:
    daemon = OriginalDaemon(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_StatehouseServiceServicer_to_server(daemon, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
