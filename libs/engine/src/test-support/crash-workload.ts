// The crash test's workload, shared by the child (which commits it) and the parent
// (which verifies what survived): transaction (committer c, sequence s, round r) always
// touches the same deterministic set of keys across two agents.
import type { OperationInput } from "../types.ts";

export const CRASH_AGENTS = ["agent-0", "agent-1", "agent-2", "agent-3", "shared"] as const;
export const NAMESPACE = "crash";

export interface ExpectedOp {
  agentId: string;
  key: string;
  deleted: boolean;
}

export function token(round: number, committer: number, sequence: number): string {
  return `${round}.${committer}.${sequence}`;
}

export function parseToken(tok: string): { round: number; committer: number; sequence: number } {
  const [round, committer, sequence] = tok.split(".").map(Number);
  return { round: round ?? NaN, committer: committer ?? NaN, sequence: sequence ?? NaN };
}

export function expectedOps(committer: number, sequence: number): ExpectedOp[] {
  const agentId = `agent-${committer % 4}`;
  const ops: ExpectedOp[] = [
    { agentId, key: `txn/${committer}`, deleted: false },
    { agentId, key: `c${committer}/k${sequence % 5}`, deleted: false },
    { agentId: "shared", key: `s${(committer + sequence) % 7}`, deleted: sequence % 5 === 4 },
  ];
  if (sequence % 3 === 0) ops.push({ agentId, key: `c${committer}/k${(sequence + 2) % 5}`, deleted: true });
  return ops;
}

export function operations(round: number, committer: number, sequence: number): OperationInput[] {
  const tok = token(round, committer, sequence);
  return expectedOps(committer, sequence).map((op) => ({
    namespace: NAMESPACE,
    agentId: op.agentId,
    key: op.key,
    value: op.deleted ? null : { tok, payload: "p".repeat(sequence % 40) },
  }));
}
