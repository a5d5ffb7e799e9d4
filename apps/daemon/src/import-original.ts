// `statehoused import-original --from DIR [--data-dir DIR]`: imports an original Statehouse
// 0.1.x daemon's data directory (its RocksDB in DIR/rocksdb) into this daemon's store, keeping
// every event's commit_ts, versions and txn id, then verifies that the state of every record
// and the history of every agent match the source, and records that it did. Safe to re-run,
// and an interrupted run resumes (the engine's importEvents).
import { existsSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { hasOriginalStore, importEvents, openEngine, openOriginalStore, type Engine, type ImportOptions, type OriginalStore } from "@statehouse/engine";

/** Written into the data dir once an import is verified: the daemon then starts on a dir that also holds the original's rocksdb/. */
export const IMPORT_MARKER = "original-import.json";

export interface ImportReport {
  from: string;
  dataDir: string;
  /** The store's commit_ts after the import. */
  commitTs: number;
  /** Events in the source. */
  events: number;
  imported: number;
  alreadyPresent: number;
  gapsFilled: number;
  /** Records whose latest state was compared. */
  records: number;
  /** (namespace, agent) pairs whose history was compared. */
  agents: number;
}

/** Why the daemon must not start on `dataDir` (an original database that was never imported), or null. */
export function foreignDataProblem(dataDir: string): string | null {
  const dir = resolve(dataDir);
  if (!hasOriginalStore(dir) || existsSync(join(dir, IMPORT_MARKER))) return null;
  return (
    `${dir} holds an original Statehouse 0.1.x database (rocksdb/) that was not imported: this daemon would start empty beside it. ` +
    `Import it first: statehoused import-original --from ${dir} --data-dir ${dir}`
  );
}

function mismatch(what: string): Error {
  return new Error(`verification failed: ${what}`);
}

async function verify(source: OriginalStore, engine: Engine): Promise<{ events: number; records: number; agents: number }> {
  let records = 0;
  for await (const record of source.records()) {
    const ref = { namespace: record.namespace, agentId: record.agentId, key: record.key };
    const state = await engine.get(ref);
    const expected = { exists: !record.deleted, version: BigInt(record.version), commitTs: BigInt(record.commitTs), value: record.deleted ? null : record.value };
    const actual = { exists: state.exists, version: state.version, commitTs: state.commitTs, value: state.value };
    if (!isDeepStrictEqual(actual, expected)) throw mismatch(`${record.namespace}/${record.agentId}/${record.key}: the source has ${JSON.stringify({ ...expected, version: record.version, commitTs: record.commitTs })}`);
    records++;
  }
  let events = 0;
  const agents = new Set<string>();
  for await (const event of source.events()) {
    events++;
    const byAgent = new Map<string, { namespace: string; agentId: string; operations: { key: string; value: unknown; version: bigint }[] }>();
    for (const op of event.operations) {
      const id = JSON.stringify([op.namespace, op.agentId]);
      const slice = byAgent.get(id) ?? { namespace: op.namespace, agentId: op.agentId, operations: [] };
      slice.operations.push({ key: op.key, value: op.value, version: BigInt(op.version) });
      byAgent.set(id, slice);
    }
    for (const [id, slice] of byAgent) {
      agents.add(id);
      const ts = BigInt(event.commitTs);
      const found = [];
      for await (const e of engine.replay(slice.namespace, slice.agentId, { startTs: ts, endTs: ts })) found.push(e);
      const got = found.map((e) => ({ txnId: e.txnId, operations: e.operations }));
      if (!isDeepStrictEqual(got, [{ txnId: event.txnId, operations: slice.operations }])) {
        throw mismatch(`event ${event.commitTs} (txn ${event.txnId}) of ${slice.namespace}/${slice.agentId} differs in the replay`);
      }
    }
  }
  return { events, records, agents: agents.size };
}

/** Imports `from` into `dataDir` (they may be the same directory), verifies, and writes the marker. */
export async function importOriginal(from: string, dataDir: string, options: ImportOptions = {}): Promise<ImportReport> {
  const source = await openOriginalStore(from);
  try {
    const progress = await importEvents(dataDir, source.events(), options);
    const engine = await openEngine({ dataDir });
    let checked;
    try {
      checked = await verify(source, engine);
    } finally {
      await engine.close();
    }
    const report: ImportReport = { from: resolve(from), dataDir: resolve(dataDir), ...progress, ...checked };
    const marker = join(resolve(dataDir), IMPORT_MARKER);
    await writeFile(`${marker}.tmp`, `${JSON.stringify({ ...report, verifiedAt: new Date().toISOString() }, null, 2)}\n`);
    await rename(`${marker}.tmp`, marker);
    return report;
  } finally {
    await source.close();
  }
}

/** The report as the command prints it. */
export function describeReport(report: ImportReport): string {
  return [
    `imported ${report.imported} events from ${report.from} into ${report.dataDir} (${report.alreadyPresent} already there, ${report.gapsFilled} empty events filling commit_ts gaps)`,
    `verified: ${report.records} records and the history of ${report.agents} agents (${report.events} events) match the source`,
    `commit_ts ${report.commitTs}`,
  ].join("\n");
}
