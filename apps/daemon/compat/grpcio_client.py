"""A plain grpcio client, generated from proto/ like the original statehouse
SDK's, run against a live statehoused: proves existing grpcio clients work.

Usage: grpcio_client.py HOST:PORT   (PYTHONPATH must hold the generated
grpcclient package: sdks/python/tests/_grpc_gen). Exits non-zero on the first
failed check; prints one line per check.
"""

from __future__ import annotations

import sys
import time

import grpc
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, struct_pb2
from grpcclient.statehouse.v1 import statehouse_pb2 as pb
from grpcclient.statehouse.v1 import statehouse_pb2_grpc as pb_grpc


def _status_class():  # google.rpc.Status, without googleapis-common-protos
    pool = descriptor_pool.Default()
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))
    except KeyError:
        pass
    fdp = descriptor_pb2.FileDescriptorProto(
        name="compat/google_rpc_status.proto", package="google.rpc", syntax="proto3", dependency=["google/protobuf/any.proto"]
    )
    msg = fdp.message_type.add(name="Status")
    f = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="code", number=1, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    msg.field.add(name="message", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    msg.field.add(name="details", number=3, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED, type_name=".google.protobuf.Any")
    _ = any_pb2.Any  # registers google/protobuf/any.proto in the default pool
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


Status = _status_class()
checks = 0


def check(name: str, condition: bool, info: object = "") -> None:
    global checks
    if not condition:
        raise AssertionError(f"FAILED {name}: {info}")
    checks += 1
    print(f"ok {name}", flush=True)


def statehouse_error(error: grpc.RpcError) -> pb.StatehouseError:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = Status.FromString(value)
            for detail in status.details:
                if detail.type_url.endswith("/statehouse.v1.StatehouseError"):
                    return pb.StatehouseError.FromString(detail.value)
    raise AssertionError(f"no StatehouseError detail on {error.code()} {error.details()}")


def expect_error(name: str, call, code: grpc.StatusCode, error_code: int) -> pb.StatehouseError:
    try:
        call()
    except grpc.RpcError as error:
        check(f"{name}: status {code.name}", error.code() == code, (error.code(), error.details()))
        detail = statehouse_error(error)
        check(f"{name}: detail {pb.ErrorCode.Name(error_code)}", detail.code == error_code, detail)
        return detail
    raise AssertionError(f"FAILED {name}: call succeeded")


def main(address: str) -> None:
    channel = grpc.insecure_channel(address, compression=grpc.Compression.Gzip)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb_grpc.StatehouseServiceStub(channel)
    agent = f"grpcio-{time.time_ns()}"

    check("Health", stub.Health(pb.HealthRequest()).status == "ok")
    version = stub.Version(pb.VersionRequest())
    check("Version", version.version != "" and version.git_sha != "", version)

    # Unary with Struct values, through a server-side transaction.
    value = struct_pb2.Struct()
    value.update({"text": "héllo", "n": 1.5, "flag": True, "none": None, "list": [1, "two", {"three": 3}], "obj": {"deep": {"er": "x"}}})
    txn = stub.BeginTransaction(pb.BeginTransactionRequest(timeout_ms=30_000)).txn_id
    check("BeginTransaction", txn != "")
    stub.Write(pb.WriteRequest(txn_id=txn, namespace="default", agent_id=agent, key="memory/1", value=value))
    stub.Write(pb.WriteRequest(txn_id=txn, namespace="default", agent_id=agent, key="memory/2", value=value))
    commit_ts = stub.Commit(pb.CommitRequest(txn_id=txn)).commit_ts
    check("Commit", commit_ts > 0, commit_ts)
    txn_delete = stub.BeginTransaction(pb.BeginTransactionRequest()).txn_id
    stub.Delete(pb.DeleteRequest(txn_id=txn_delete, namespace="default", agent_id=agent, key="memory/2"))
    check("Commit delete", stub.Commit(pb.CommitRequest(txn_id=txn_delete)).commit_ts == commit_ts + 1)

    got = stub.GetState(pb.GetStateRequest(namespace="default", agent_id=agent, key="memory/1"))
    check("GetState Struct round trip", got.exists and got.HasField("value") and got.value == value, got)
    check("GetState version/commit_ts", got.version == 1 and got.commit_ts == commit_ts, got)
    never = stub.GetState(pb.GetStateRequest(namespace="default", agent_id=agent, key="never"))
    check("GetState never written", not never.exists and never.version == 0 and not never.HasField("value"), never)
    deleted = stub.GetState(pb.GetStateRequest(namespace="default", agent_id=agent, key="memory/2"))
    check("GetState deleted", not deleted.exists and deleted.version == 2, deleted)
    at = stub.GetStateAtVersion(pb.GetStateAtVersionRequest(namespace="default", agent_id=agent, key="memory/2", version=1))
    check("GetStateAtVersion", at.exists and at.value == value, at)
    check("ListKeys", list(stub.ListKeys(pb.ListKeysRequest(namespace="default", agent_id=agent)).keys) == ["memory/1"])
    entries = stub.ScanPrefix(pb.ScanPrefixRequest(namespace="default", agent_id=agent, prefix="memory/")).entries
    check("ScanPrefix", [e.key for e in entries] == ["memory/1"] and entries[0].value == value, entries)

    # Server streaming.
    for i in range(3):
        t = stub.BeginTransaction(pb.BeginTransactionRequest()).txn_id
        v = struct_pb2.Struct()
        v.update({"i": i})
        stub.Write(pb.WriteRequest(txn_id=t, namespace="default", agent_id=agent, key="counter", value=v))
        stub.Commit(pb.CommitRequest(txn_id=t))
    events = list(stub.Replay(pb.ReplayRequest(namespace="default", agent_id=agent)))
    check("Replay event count", len(events) == 5, len(events))
    check("Replay order", [e.commit_ts for e in events] == sorted(e.commit_ts for e in events))
    check("Replay delete op has no value", any(op.key == "memory/2" and not op.HasField("value") for op in events[1].operations), events[1])
    window = list(stub.Replay(pb.ReplayRequest(namespace="default", agent_id=agent, start_ts=events[1].commit_ts, end_ts=events[2].commit_ts)))
    check("Replay inclusive range", [e.commit_ts for e in window] == [events[1].commit_ts, events[2].commit_ts], window)

    # Status codes and StatehouseError details in the trailers.
    expect_error("unknown txn", lambda: stub.Commit(pb.CommitRequest(txn_id="nope")), grpc.StatusCode.NOT_FOUND, pb.TXN_NOT_FOUND)
    expect_error(
        "missing version",
        lambda: stub.GetStateAtVersion(pb.GetStateAtVersionRequest(namespace="default", agent_id=agent, key="memory/1", version=9)),
        grpc.StatusCode.NOT_FOUND,
        pb.VERSION_NOT_FOUND,
    )
    detail = expect_error(
        "empty agent_id", lambda: stub.GetState(pb.GetStateRequest(namespace="default", agent_id="", key="k")), grpc.StatusCode.INVALID_ARGUMENT, pb.INVALID_REQUEST
    )
    check("detail names the field", detail.details["field"] == "agent_id", detail)
    expect_error("commit twice", lambda: stub.Commit(pb.CommitRequest(txn_id=txn)), grpc.StatusCode.FAILED_PRECONDITION, pb.TXN_ALREADY_COMMITTED)
    short = stub.BeginTransaction(pb.BeginTransactionRequest(timeout_ms=20)).txn_id
    time.sleep(0.2)
    expect_error(
        "expired txn",
        lambda: stub.Write(pb.WriteRequest(txn_id=short, namespace="default", agent_id=agent, key="k", value=value)),
        grpc.StatusCode.DEADLINE_EXCEEDED,
        pb.TXN_EXPIRED,
    )
    stub.Abort(pb.AbortRequest(txn_id=short))
    stub.Abort(pb.AbortRequest(txn_id="never-existed"))
    check("Abort idempotent", True)

    # Deadlines: a Watch that never ends is cut by the client's deadline.
    try:
        list(stub.Watch(pb.WatchRequest(namespace="default", agent_id=agent), timeout=0.3))
        raise AssertionError("Watch returned without a deadline error")
    except grpc.RpcError as error:
        check("deadline on a server stream", error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.code())
    # ... and a unary call with a generous deadline succeeds.
    check("unary within deadline", stub.Health(pb.HealthRequest(), timeout=5).status == "ok")
    channel.close()
    print(f"OK {checks} checks", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
