// Snapshot files: durable checkpoints of the store, O(1) each whatever the data size.
//
// The latest state lives in RocksDB, written in the same atomic batch as the events, so a
// snapshot does not copy it: it records that everything up to commit_ts S was durable and
// which event S was (its checksum). Recovery loads the newest valid one, refuses to start
// when the log no longer reaches S or holds another event S (acknowledged commits are
// missing: a rollback), and verifies the events after S against the indexes.
//
// File: <dir>/snapshot-<commit_ts, 20 digits>.snap, written as .tmp, fsynced, renamed, dir fsynced.
//   32 bytes: "SHSNAP02" | u64 commitTs | u64 createdAtMs | u32 crc32(event S as stored) | u32 crc32(bytes 0..27)
// Format 1 files ("SHSNAP01" + u64 commitTs, then a copy of the state table) from earlier
// releases are read by their header only: they still mark commit_ts S as durable.
import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Failpoints } from "./failpoints.ts";
import { decodeU64, encodeU64 } from "./key-encoding.ts";

const MAGIC_V2 = Buffer.from("SHSNAP02", "latin1");
const MAGIC_V1 = Buffer.from("SHSNAP01", "latin1");
const SIZE = 32;
const FILE_PATTERN = /^snapshot-(\d{20})\.snap$/;

export interface SnapshotInfo {
  commitTs: number;
  file: string;
}

export type SnapshotCheck =
  | { ok: true; commitTs: number; createdAtMs: number; /** crc32 of event S as stored; null for format-1 files. */ eventCrc: number | null }
  | { ok: false; reason: string };

export class SnapshotStore {
  readonly dir: string;
  private readonly kept: number;
  private readonly failpoints: Failpoints;

  constructor(dir: string, kept: number, failpoints: Failpoints) {
    this.dir = dir;
    this.kept = kept;
    this.failpoints = failpoints;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (name.endsWith(".tmp")) await rm(join(this.dir, name), { force: true });
    }
  }

  /** Snapshot files, newest first. */
  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const name of await readdir(this.dir)) {
      const match = FILE_PATTERN.exec(name);
      if (match?.[1] !== undefined) out.push({ commitTs: Number(match[1]), file: join(this.dir, name) });
    }
    return out.sort((a, b) => b.commitTs - a.commitTs);
  }

  /** Writes the checkpoint of commit_ts S (whose stored event has checksum eventCrc) and keeps the newest `kept`. */
  async write(commitTs: number, eventCrc: number, createdAtMs = Date.now()): Promise<SnapshotInfo> {
    const file = join(this.dir, `snapshot-${String(commitTs).padStart(20, "0")}.snap`);
    const tmp = `${file}.tmp`;
    const body = Buffer.alloc(SIZE);
    MAGIC_V2.copy(body, 0);
    encodeU64(commitTs).copy(body, 8);
    encodeU64(createdAtMs).copy(body, 16);
    body.writeUInt32BE(eventCrc, 24);
    body.writeUInt32BE(crc32(body.subarray(0, 28)), 28);
    const handle = await open(tmp, "w");
    let completed = false;
    try {
      await handle.write(body, 0, SIZE, 0);
      this.failpoints.hit("snapshot:mid-write");
      await handle.sync();
      await handle.close();
      await rename(tmp, file);
      await syncDir(this.dir);
      completed = true;
    } finally {
      if (!completed) {
        await handle.close().catch(() => undefined);
        await rm(tmp, { force: true });
      }
    }
    await this.prune();
    return { commitTs, file };
  }

  /** Reads and checks a snapshot's header (32 bytes, whatever the format). */
  async check(info: SnapshotInfo): Promise<SnapshotCheck> {
    let head: Buffer;
    try {
      const handle = await open(info.file, "r");
      try {
        head = Buffer.alloc(SIZE);
        const { bytesRead } = await handle.read(head, 0, SIZE, 0);
        head = head.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
    if (head.length < 16) return { ok: false, reason: "truncated header" };
    const magic = head.subarray(0, 8);
    if (!magic.equals(MAGIC_V2) && !magic.equals(MAGIC_V1)) return { ok: false, reason: "bad header magic" };
    if (decodeU64(head, 8) !== info.commitTs) return { ok: false, reason: "commit_ts differs from its file name" };
    if (magic.equals(MAGIC_V1)) return { ok: true, commitTs: info.commitTs, createdAtMs: head.length >= 24 ? decodeU64(head, 16) : 0, eventCrc: null };
    if (head.length < SIZE) return { ok: false, reason: "truncated header" };
    if (crc32(head.subarray(0, 28)) !== head.readUInt32BE(28)) return { ok: false, reason: "checksum mismatch" };
    return { ok: true, commitTs: info.commitTs, createdAtMs: decodeU64(head, 16), eventCrc: head.readUInt32BE(24) };
  }

  async remove(info: SnapshotInfo): Promise<void> {
    await rm(info.file, { force: true });
    await syncDir(this.dir);
  }

  private async prune(): Promise<void> {
    const all = await this.list();
    for (const old of all.slice(this.kept)) await rm(old.file, { force: true });
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
