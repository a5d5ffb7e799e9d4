import { describe, expect, it } from "vitest";
import { parseLogLine, recoveryFromLogs } from "./log-lines.js";

describe("recoveryFromLogs", () => {
  it("reads snapshot, events replayed, commit_ts and address from JSON lines", () => {
    const lines = [
      '{"level":30,"msg":"opening storage","storage":"rocksdb","dataDir":"/d"}',
      '{"level":30,"msg":"storage ready","storage":"rocksdb","snapshotTs":"40","snapshotFile":"snap-40","eventsReplayed":2,"commitTs":"42","durationMs":3.5,"notes":["n"]}',
      '{"level":30,"msg":"snapshot written","commitTs":"50"}',
      "not json",
      '{"level":30,"msg":"listening","address":"127.0.0.1:5000"',
      '{"level":30,"msg":"listening","address":"127.0.0.1:5000"}',
    ].map((line) => parseLogLine(line));
    const facts = recoveryFromLogs(lines);
    expect(facts).toMatchObject({
      snapshotTs: 40n,
      snapshotFile: "snap-40",
      eventsReplayed: 2,
      commitTs: 42n,
      address: "127.0.0.1:5000",
      storage: "rocksdb",
      durationMs: 3.5,
      notes: ["n"],
    });
    expect(lines[3]?.json).toBeUndefined();
    expect(lines[4]?.json).toBeUndefined();
  });

  it("keeps null for 'no snapshot' and undefined for facts never logged", () => {
    const facts = recoveryFromLogs([parseLogLine('{"recovery":{"snapshot_ts":null,"events_replayed":0}}')]);
    expect(facts.snapshotTs).toBeNull();
    expect(facts.eventsReplayed).toBe(0);
    expect(facts.commitTs).toBeUndefined();
  });
});
