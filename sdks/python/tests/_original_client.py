"""Talks to the daemon exactly like the original grpcio-based SDK did (run in its own process).

Usage: python _original_client.py ADDRESS AGENT   (with tests/_grpc_gen on PYTHONPATH)
Writes AGENT/original with the server-staged model (BeginTransaction, Write, Delete,
Commit), exercises Abort and an unknown transaction, reads AGENT/from-sdk written by
the new SDK, and prints what it saw as one JSON object.
"""

from __future__ import annotations

import json
import sys

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct
from grpcclient.statehouse.v1 import statehouse_pb2 as pb
from grpcclient.statehouse.v1.statehouse_pb2_grpc import StatehouseServiceStub


def struct(value: dict[str, object]) -> Struct:
    s = Struct()
    s.update(value)
    return s


def main(address: str, agent: str) -> None:
    out: dict[str, object] = {}
    with grpc.insecure_channel(address) as channel:
        stub = StatehouseServiceStub(channel)
        out["health"] = stub.Health(pb.HealthRequest()).status
        out["version"] = stub.Version(pb.VersionRequest()).version

        txn = stub.BeginTransaction(pb.BeginTransactionRequest(timeout_ms=30000)).txn_id
        stub.Write(
            pb.WriteRequest(txn_id=txn, namespace="default", agent_id=agent, key="original", value=struct({"v": 1}))
        )
        stub.Write(pb.WriteRequest(txn_id=txn, namespace="default", agent_id=agent, key="gone", value=struct({"v": 2})))
        stub.Delete(pb.DeleteRequest(txn_id=txn, namespace="default", agent_id=agent, key="gone"))
        out["commit_ts"] = stub.Commit(pb.CommitRequest(txn_id=txn)).commit_ts

        aborted = stub.BeginTransaction(pb.BeginTransactionRequest()).txn_id
        stub.Write(pb.WriteRequest(txn_id=aborted, namespace="default", agent_id=agent, key="never", value=struct({})))
        stub.Abort(pb.AbortRequest(txn_id=aborted))
        stub.Abort(pb.AbortRequest(txn_id=aborted))  # idempotent

        try:
            stub.Commit(pb.CommitRequest(txn_id="no-such-transaction"))
        except grpc.RpcError as err:
            out["unknown_commit"] = err.code().name  # type: ignore[attr-defined]

        state = stub.GetState(pb.GetStateRequest(namespace="default", agent_id=agent, key="from-sdk"))
        out["from_sdk"] = {"value": MessageToDict(state.value), "version": state.version, "exists": state.exists}
        at_v1 = stub.GetStateAtVersion(
            pb.GetStateAtVersionRequest(namespace="", agent_id=agent, key="original", version=1)
        )
        out["original_v1"] = MessageToDict(at_v1.value)
        out["keys"] = list(stub.ListKeys(pb.ListKeysRequest(namespace="default", agent_id=agent)).keys)
        entries = stub.ScanPrefix(pb.ScanPrefixRequest(namespace="default", agent_id=agent, prefix="")).entries
        out["scan"] = [e.key for e in entries]
        out["replay"] = [
            [[op.key, op.HasField("value"), op.version] for op in event.operations]
            for event in stub.Replay(pb.ReplayRequest(namespace="default", agent_id=agent))
        ]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
