// Protobuf messages -> the SDK's plain objects.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type {
  GetStateResponse,
  Operation as OperationMessage,
  ReplayEvent as ReplayEventMessage,
  StateEntry as StateEntryMessage,
} from "@statehouse/api";
import type { Operation, ReplayEvent, StateEntry, StateResult } from "./types.js";

/** The four state fields shared by GetState, GetStateAtVersion and GetStateAsOf responses. */
export type StateFields = Pick<GetStateResponse, "value" | "version" | "commitTs" | "exists">;

export function toStateResult(message: StateFields): StateResult {
  return {
    value: message.exists ? (message.value ?? {}) : null,
    version: message.version,
    commitTs: message.commitTs,
    exists: message.exists,
  };
}

export function toStateEntry(message: StateEntryMessage): StateEntry {
  return { key: message.key, value: message.value ?? {}, version: message.version, commitTs: message.commitTs };
}

function toOperation(message: OperationMessage): Operation {
  return { key: message.key, value: message.value ?? null, version: message.version };
}

export function toReplayEvent(message: ReplayEventMessage): ReplayEvent {
  return {
    txnId: message.txnId,
    commitTs: message.commitTs,
    committedAt: message.committedAt === undefined ? null : timestampDate(message.committedAt),
    namespace: message.namespace,
    agentId: message.agentId,
    operations: message.operations.map(toOperation),
  };
}
