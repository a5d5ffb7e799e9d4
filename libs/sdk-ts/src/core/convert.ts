// Protobuf messages -> the SDK's plain objects.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type {
  AgentInfo as AgentInfoMessage,
  GetDaemonStatusResponse,
  GetStateResponse,
  Operation as OperationMessage,
  ReplayEvent as ReplayEventMessage,
  StateEntry as StateEntryMessage,
} from "@statehouse/api";
import type { AgentSummary, DaemonStatus, Operation, ReplayEvent, StateEntry, StateResult } from "./types.js";

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

export function toAgentSummary(message: AgentInfoMessage): AgentSummary {
  return {
    namespace: message.namespace,
    agentId: message.agentId,
    keyCount: Number(message.keyCount),
    lastCommitTs: message.lastCommitTs,
    lastCommittedAt: message.lastCommittedAt === undefined ? null : timestampDate(message.lastCommittedAt),
  };
}

export function toDaemonStatus(message: GetDaemonStatusResponse): DaemonStatus {
  const recovery = message.recovery;
  return {
    version: message.version,
    gitSha: message.gitSha,
    commitTs: message.commitTs,
    startedAt: message.startedAt === undefined ? null : timestampDate(message.startedAt),
    recovery: {
      storage: recovery?.storage ?? "",
      snapshotTs: recovery?.snapshotTs ?? null,
      eventsReplayed: Number(recovery?.eventsReplayed ?? 0n),
      durationMs: Number(recovery?.durationMs ?? 0n),
      commitTs: recovery?.commitTs ?? 0n,
      notes: recovery?.notes ?? [],
    },
    openTransactions: Number(message.openTransactions),
    committedTransactions: Number(message.committedTransactions),
    groupCommits: Number(message.groupCommits),
    watchersWaiting: Number(message.watchersWaiting),
    writable: message.writable,
    haltReason: message.haltReason,
    rssBytes: Number(message.rssBytes),
  };
}
