// Pins the generated statehouse.v1 descriptors to the spec's wire table
// (shared/spec/statehouse-v1.md). Existing grpcio clients depend on every
// name, number and `optional` marker below: this test fails on any rename,
// renumber, removal or type change. Additions are allowed (not listed here).
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { file_statehouse_v1_statehouse, StatehouseService } from "./index.js";

type Kind = "string" | "uint64" | "bool" | "Struct" | "StateEntry" | "Operation" | "ErrorCode" | "map<string,string>";
type FieldSpec = [number: number, name: string, kind: Kind, modifier?: "optional" | "repeated"];

const empty: FieldSpec[] = [];
const stateFields: FieldSpec[] = [
  [1, "value", "Struct", "optional"],
  [2, "version", "uint64"],
  [3, "commit_ts", "uint64"],
  [4, "exists", "bool"],
];

const messages: Record<string, FieldSpec[]> = {
  HealthRequest: empty,
  HealthResponse: [[1, "status", "string"]],
  VersionRequest: empty,
  VersionResponse: [[1, "version", "string"], [2, "git_sha", "string"]],
  BeginTransactionRequest: [[1, "timeout_ms", "uint64", "optional"]],
  BeginTransactionResponse: [[1, "txn_id", "string"]],
  WriteRequest: [[1, "txn_id", "string"], [2, "namespace", "string"], [3, "agent_id", "string"], [4, "key", "string"], [5, "value", "Struct"]],
  WriteResponse: empty,
  DeleteRequest: [[1, "txn_id", "string"], [2, "namespace", "string"], [3, "agent_id", "string"], [4, "key", "string"]],
  DeleteResponse: empty,
  CommitRequest: [[1, "txn_id", "string"]],
  CommitResponse: [[1, "commit_ts", "uint64"]],
  AbortRequest: [[1, "txn_id", "string"]],
  AbortResponse: empty,
  GetStateRequest: [[1, "namespace", "string"], [2, "agent_id", "string"], [3, "key", "string"]],
  GetStateResponse: stateFields,
  GetStateAtVersionRequest: [[1, "namespace", "string"], [2, "agent_id", "string"], [3, "key", "string"], [4, "version", "uint64"]],
  GetStateAtVersionResponse: stateFields,
  ListKeysRequest: [[1, "namespace", "string"], [2, "agent_id", "string"]],
  ListKeysResponse: [[1, "keys", "string", "repeated"]],
  ScanPrefixRequest: [[1, "namespace", "string"], [2, "agent_id", "string"], [3, "prefix", "string"]],
  ScanPrefixResponse: [[1, "entries", "StateEntry", "repeated"]],
  ReplayRequest: [[1, "namespace", "string"], [2, "agent_id", "string"], [3, "start_ts", "uint64", "optional"], [4, "end_ts", "uint64", "optional"]],
  StateEntry: [[1, "key", "string"], [2, "value", "Struct"], [3, "version", "uint64"], [4, "commit_ts", "uint64"]],
  ReplayEvent: [[1, "txn_id", "string"], [2, "commit_ts", "uint64"], [3, "operations", "Operation", "repeated"]],
  Operation: [[1, "key", "string"], [2, "value", "Struct", "optional"], [3, "version", "uint64"]],
  StatehouseError: [[1, "code", "ErrorCode"], [2, "message", "string"], [3, "details", "map<string,string>"]],
};

const rpcs: [name: string, input: string, output: string, serverStreaming: boolean][] = [
  ["Health", "HealthRequest", "HealthResponse", false],
  ["Version", "VersionRequest", "VersionResponse", false],
  ["BeginTransaction", "BeginTransactionRequest", "BeginTransactionResponse", false],
  ["Write", "WriteRequest", "WriteResponse", false],
  ["Delete", "DeleteRequest", "DeleteResponse", false],
  ["Commit", "CommitRequest", "CommitResponse", false],
  ["Abort", "AbortRequest", "AbortResponse", false],
  ["GetState", "GetStateRequest", "GetStateResponse", false],
  ["GetStateAtVersion", "GetStateAtVersionRequest", "GetStateAtVersionResponse", false],
  ["ListKeys", "ListKeysRequest", "ListKeysResponse", false],
  ["ScanPrefix", "ScanPrefixRequest", "ScanPrefixResponse", false],
  ["Replay", "ReplayRequest", "ReplayEvent", true],
];

const errorCodes: [string, number][] = [
  ["UNKNOWN", 0], ["INVALID_REQUEST", 1], ["TXN_NOT_FOUND", 2], ["TXN_EXPIRED", 3], ["TXN_ALREADY_COMMITTED", 4],
  ["KEY_NOT_FOUND", 5], ["VERSION_NOT_FOUND", 6], ["STORAGE_ERROR", 7], ["INTERNAL_ERROR", 8],
];

function kindOf(field: DescField): string {
  switch (field.fieldKind) {
    case "scalar":
      return ScalarType[field.scalar].toLowerCase();
    case "message":
      return field.message.name;
    case "enum":
      return field.enum.name;
    case "list":
      return field.listKind === "scalar" ? ScalarType[field.scalar].toLowerCase() : field.listKind === "message" ? field.message.name : field.enum.name;
    case "map":
      return `map<${ScalarType[field.mapKey].toLowerCase()},${field.mapKind === "scalar" ? ScalarType[field.scalar].toLowerCase() : "?"}>`;
  }
}

function modifierOf(field: DescField): string | undefined {
  if (field.fieldKind === "list") return "repeated";
  if (field.proto.proto3Optional) return "optional";
  return undefined;
}

function message(name: string): DescMessage {
  const desc = file_statehouse_v1_statehouse.messages.find((m) => m.name === name);
  if (desc === undefined) throw new Error(`message ${name} is missing`);
  return desc;
}

describe("statehouse.v1 wire contract", () => {
  it("keeps package and service names", () => {
    expect(file_statehouse_v1_statehouse.proto.package).toBe("statehouse.v1");
    expect(StatehouseService.typeName).toBe("statehouse.v1.StatehouseService");
  });

  it.each(Object.entries(messages))("keeps every field of %s", (name, fields) => {
    const desc = message(name);
    for (const [number, fieldName, kind, modifier] of fields) {
      const field = desc.fields.find((f) => f.number === number);
      expect(field, `${name} field ${number}`).toBeDefined();
      if (field === undefined) continue;
      expect(field.name, `${name}.${number} name`).toBe(fieldName);
      expect(kindOf(field), `${name}.${fieldName} type`).toBe(kind === "Struct" ? "Struct" : kind);
      expect(modifierOf(field), `${name}.${fieldName} modifier`).toBe(modifier);
    }
  });

  it.each(rpcs)("keeps rpc %s(%s) returns %s", (name, input, output, streaming) => {
    const method = StatehouseService.methods.find((m) => m.name === name);
    expect(method, name).toBeDefined();
    expect(method?.input.name).toBe(input);
    expect(method?.output.name).toBe(output);
    expect(method?.methodKind).toBe(streaming ? "server_streaming" : "unary");
  });

  it("keeps the ErrorCode values", () => {
    const errorCode = file_statehouse_v1_statehouse.enums.find((e) => e.name === "ErrorCode");
    for (const [name, number] of errorCodes) {
      expect(errorCode?.values.find((v) => v.number === number)?.name, `ErrorCode ${number}`).toBe(name);
    }
  });
});
