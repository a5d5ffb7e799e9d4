// Snapshot files: the whole latest-state table as of one commit_ts, written in the
// background from a storage iterator (a consistent view taken when the snapshot starts).
//
// File: <dir>/snapshot-<commit_ts, 20 digits>.snap, written as .tmp, fsynced, renamed, dir fsynced.
//   header  32 bytes: "SHSNAP01" | u64 commitTs | u64 createdAtMs | u64 reserved (0)
//   records         : u32 keyLength | key | u32 valueLength | value      (state-table entries, key order)
//   trailer 20 bytes: "SHSNEND1" | u64 recordCount | u32 crc32(header + records)
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Failpoints } from "./failpoints.ts";
import { decodeU64, encodeU64 } from "./key-encoding.ts";
import type { KvEntry, KvIterator } from "./storage/ordered-kv.ts";

const HEADER_MAGIC = Buffer.from("SHSNAP01", "latin1");
const TRAILER_MAGIC = Buffer.from("SHSNEND1", "latin1");
const HEADER_SIZE = 32;
const TRAILER_SIZE = 20;
const FLUSH_BYTES = 1 << 20;
const FILE_PATTERN = /^snapshot-(\d{20})\.snap$/;

export interface SnapshotInfo {
  commitTs: number;
  file: string;
}

export interface SnapshotWriteResult extends SnapshotInfo {
  records: number;
  bytes: number;
}

export type SnapshotCheck = { ok: true; records: number } | { ok: false; reason: string };

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

  /** Streams every entry of `iterator` into a new snapshot at commitTs (a temporary file until complete). */
  async write(commitTs: number, iterator: KvIterator): Promise<SnapshotWriteResult> {
    const file = join(this.dir, `snapshot-${String(commitTs).padStart(20, "0")}.snap`);
    const tmp = `${file}.tmp`;
    const handle = await open(tmp, "w");
    let completed = false;
    try {
      const header = Buffer.concat([HEADER_MAGIC, encodeU64(commitTs), encodeU64(Date.now()), encodeU64(0)]);
      let crc = crc32(header);
      let records = 0;
      let bytes = header.length;
      await writeAll(handle, header);
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (): Promise<void> => {
        const chunk = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        crc = crc32(chunk, crc);
        bytes += chunk.length;
        await writeAll(handle, chunk);
        this.failpoints.hit("snapshot:mid-write");
      };
      for (;;) {
        const rows = await iterator.next(1000);
        if (rows.length === 0) break;
        for (const row of rows) {
          const framed = frame(row);
          pending.push(framed);
          pendingBytes += framed.length;
          records++;
        }
        if (pendingBytes >= FLUSH_BYTES) await flush();
      }
      await flush();
      const countBuffer = encodeU64(records);
      const crcBuffer = Buffer.allocUnsafe(4);
      crcBuffer.writeUInt32BE(crc, 0);
      await writeAll(handle, Buffer.concat([TRAILER_MAGIC, countBuffer, crcBuffer]));
      await handle.sync();
      await handle.close();
      await rename(tmp, file);
      await syncDir(this.dir);
      completed = true;
      await this.prune();
      return { commitTs, file, records, bytes: bytes + TRAILER_SIZE };
    } finally {
      iterator.close();
      if (!completed) {
        await handle.close().catch(() => undefined);
        await rm(tmp, { force: true });
      }
    }
  }

  /** Reads the whole file and checks magic, commit_ts, record framing and checksum. */
  async check(info: SnapshotInfo): Promise<SnapshotCheck> {
    try {
      let records = 0;
      for await (const batch of this.read(info)) records += batch.length;
      return { ok: true, records };
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
  }

  /**
   * Yields the entries in batches. The checksum can only be known at the end: a caller
   * that applies entries while reading must treat everything as void if this throws.
   */
  async *read(info: SnapshotInfo): AsyncGenerator<KvEntry[]> {
    const stream = createReadStream(info.file, { highWaterMark: FLUSH_BYTES });
    let buffer: Buffer = Buffer.alloc(0);
    let crc = 0;
    let headerSeen = false;
    let records = 0;
    const fail = (what: string): never => {
      throw new Error(`snapshot ${info.file}: ${what}`);
    };
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (!headerSeen) {
        if (buffer.length < HEADER_SIZE) continue;
        if (!buffer.subarray(0, 8).equals(HEADER_MAGIC)) fail("bad header magic");
        if (decodeU64(buffer, 8) !== info.commitTs) fail("commit_ts differs from its file name");
        crc = crc32(buffer.subarray(0, HEADER_SIZE));
        buffer = buffer.subarray(HEADER_SIZE);
        headerSeen = true;
      }
      // Keep at least a trailer's worth of bytes: they may be the trailer.
      const entries: KvEntry[] = [];
      let offset = 0;
      for (;;) {
        if (buffer.length - offset < 4 + TRAILER_SIZE) break;
        const keyLength = buffer.readUInt32BE(offset);
        if (buffer.length - offset < 8 + keyLength + TRAILER_SIZE) break;
        const valueLength = buffer.readUInt32BE(offset + 4 + keyLength);
        const end = offset + 8 + keyLength + valueLength;
        if (buffer.length - end < TRAILER_SIZE) break;
        entries.push([
          Buffer.from(buffer.subarray(offset + 4, offset + 4 + keyLength)),
          Buffer.from(buffer.subarray(offset + 8 + keyLength, end)),
        ]);
        offset = end;
      }
      crc = crc32(buffer.subarray(0, offset), crc);
      buffer = buffer.subarray(offset);
      records += entries.length;
      if (entries.length > 0) yield entries;
    }
    if (!headerSeen) fail("truncated header");
    if (buffer.length !== TRAILER_SIZE || !buffer.subarray(0, 8).equals(TRAILER_MAGIC)) fail("truncated or bad trailer");
    if (decodeU64(buffer, 8) !== records) fail("record count mismatch");
    if (buffer.readUInt32BE(16) !== crc) fail("checksum mismatch");
  }

  private async prune(): Promise<void> {
    const all = await this.list();
    for (const old of all.slice(this.kept)) await rm(old.file, { force: true });
  }
}

function frame([key, value]: KvEntry): Buffer {
  const out = Buffer.allocUnsafe(8 + key.length + value.length);
  out.writeUInt32BE(key.length, 0);
  key.copy(out, 4);
  out.writeUInt32BE(value.length, 4 + key.length);
  value.copy(out, 8 + key.length);
  return out;
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
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
