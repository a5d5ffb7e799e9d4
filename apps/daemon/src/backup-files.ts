// The on-disk form of a backup, as `statehousectl backup --to DIR` writes it and
// `statehoused restore --from DIR` reads it (daemon README, "Backup and restore"):
//
//   DIR/data-000001.shb, data-000002.shb, ...   "SHBKDAT1", then records: u32 BE key length, key,
//                                               u32 BE value length, value (the store's entries in key order)
//   DIR/manifest.json                           written LAST (tmp, fsync, rename, fsync DIR) once every
//                                               data file is fsynced: format, commitTs, storeFormat, counts,
//                                               and each file's entries, bytes and SHA-256
//
// A directory without manifest.json is an incomplete backup (killed midway) and is refused.
import { createHash } from "node:crypto";
import { open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export const BACKUP_FORMAT = "statehouse-backup/1";
export const MANIFEST_FILE = "manifest.json";
export const DATA_MAGIC = Buffer.from("SHBKDAT1", "latin1");
const DATA_FILE = /^data-\d{6}\.shb$/;
const READ_BYTES = 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

export interface BackupFileInfo {
  name: string;
  entries: number;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: string;
  commitTs: bigint;
  storeFormat: string;
  daemonVersion: string;
  createdAt: string;
  entries: number;
  bytes: number;
  files: BackupFileInfo[];
}

/** A backup directory that cannot be restored: incomplete, damaged or not a backup. */
export class BackupFileError extends Error {
  override readonly name = "BackupFileError";
}

/** Reads and checks DIR/manifest.json and that the data files it lists are the ones present. */
export async function readManifest(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    const partial = (await readdir(dir).catch(() => [])).some((name) => DATA_FILE.test(name) || name.endsWith(".tmp"));
    throw new BackupFileError(
      partial
        ? `${dir} holds backup data but no ${MANIFEST_FILE}: the backup is incomplete (it was interrupted before it finished); refusing to restore it`
        : `${dir} is not a backup (no ${MANIFEST_FILE})`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BackupFileError(`${join(dir, MANIFEST_FILE)} is not valid JSON: ${(error as Error).message}`);
  }
  const m = raw as Record<string, unknown>;
  if (m["format"] !== BACKUP_FORMAT) throw new BackupFileError(`${join(dir, MANIFEST_FILE)}: unsupported backup format ${JSON.stringify(m["format"])} (this restore reads ${BACKUP_FORMAT})`);
  const str = (key: string): string => {
    const value = m[key];
    if (typeof value !== "string") throw new BackupFileError(`${MANIFEST_FILE}: "${key}" must be a string`);
    return value;
  };
  const count = (value: unknown, what: string): number => {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw new BackupFileError(`${MANIFEST_FILE}: "${what}" must be a non-negative integer`);
    return value;
  };
  const commitTs = str("commitTs");
  if (!/^\d+$/.test(commitTs)) throw new BackupFileError(`${MANIFEST_FILE}: "commitTs" must be a decimal integer`);
  if (!Array.isArray(m["files"])) throw new BackupFileError(`${MANIFEST_FILE}: "files" must be a list`);
  const files = (m["files"] as unknown[]).map((f, i): BackupFileInfo => {
    const file = f as Record<string, unknown>;
    const name = file["name"];
    const sha256 = file["sha256"];
    if (typeof name !== "string" || !DATA_FILE.test(name)) throw new BackupFileError(`${MANIFEST_FILE}: files[${i}].name must look like data-000001.shb`);
    if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) throw new BackupFileError(`${MANIFEST_FILE}: files[${i}].sha256 must be 64 hex digits`);
    return { name, sha256, entries: count(file["entries"], `files[${i}].entries`), bytes: count(file["bytes"], `files[${i}].bytes`) };
  });
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    commitTs: BigInt(commitTs),
    storeFormat: str("storeFormat"),
    daemonVersion: typeof m["daemonVersion"] === "string" ? m["daemonVersion"] : "unknown",
    createdAt: typeof m["createdAt"] === "string" ? m["createdAt"] : "unknown",
    entries: count(m["entries"], "entries"),
    bytes: count(m["bytes"], "bytes"),
    files,
  };
  if (files.reduce((n, f) => n + f.entries, 0) !== manifest.entries) throw new BackupFileError(`${MANIFEST_FILE}: the files' entries do not add up to "entries"`);
  const listed = new Set(files.map((f) => f.name));
  for (const name of await readdir(dir)) {
    if (DATA_FILE.test(name) && !listed.has(name)) throw new BackupFileError(`${dir}/${name} is not listed in ${MANIFEST_FILE}: not the backup the manifest describes`);
  }
  return manifest;
}

/**
 * The backup's entries in file order, in chunks of about 1 MiB, each file's size, entry count and
 * SHA-256 checked against the manifest when it ends (a mismatch throws BackupFileError).
 */
export async function* readEntries(dir: string, manifest: BackupManifest): AsyncGenerator<[Buffer, Buffer][]> {
  for (const file of manifest.files) yield* readDataFile(join(dir, file.name), file);
}

async function* readDataFile(path: string, info: BackupFileInfo): AsyncGenerator<[Buffer, Buffer][]> {
  const handle = await open(path, "r").catch((error: unknown) => {
    throw new BackupFileError(`${path}: ${(error as Error).message} (listed in the manifest)`);
  });
  const hash = createHash("sha256");
  let size = 0;
  let entries = 0;
  let pending = Buffer.alloc(0);
  let sawMagic = false;
  let chunk: [Buffer, Buffer][] = [];
  let chunkBytes = 0;
  try {
    for (;;) {
      const buffer = Buffer.allocUnsafe(READ_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, null);
      if (bytesRead === 0) break;
      const data = buffer.subarray(0, bytesRead);
      hash.update(data);
      size += bytesRead;
      pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
      let offset = 0;
      if (!sawMagic) {
        if (pending.length < DATA_MAGIC.length) continue;
        if (!pending.subarray(0, DATA_MAGIC.length).equals(DATA_MAGIC)) throw new BackupFileError(`${path} is not a backup data file (bad magic)`);
        sawMagic = true;
        offset = DATA_MAGIC.length;
      }
      for (;;) {
        if (pending.length - offset < 4) break;
        const keyLength = pending.readUInt32BE(offset);
        if (pending.length - offset < 8 + keyLength) break;
        const valueLength = pending.readUInt32BE(offset + 4 + keyLength);
        const end = offset + 8 + keyLength + valueLength;
        if (pending.length < end) break;
        // Copies: the read buffer is reused for the next records' bytes.
        const key = Buffer.from(pending.subarray(offset + 4, offset + 4 + keyLength));
        const value = Buffer.from(pending.subarray(offset + 8 + keyLength, end));
        chunk.push([key, value]);
        chunkBytes += key.length + value.length;
        entries++;
        offset = end;
        if (chunkBytes >= CHUNK_BYTES) {
          yield chunk;
          chunk = [];
          chunkBytes = 0;
        }
      }
      pending = pending.subarray(offset);
    }
  } finally {
    await handle.close();
  }
  if (!sawMagic || pending.length > 0) throw new BackupFileError(`${path} ends in the middle of a record (truncated)`);
  if (size !== info.bytes) throw new BackupFileError(`${path} has ${size} bytes, the manifest says ${info.bytes}`);
  if (entries !== info.entries) throw new BackupFileError(`${path} holds ${entries} entries, the manifest says ${info.entries}`);
  const digest = hash.digest("hex");
  if (digest !== info.sha256) throw new BackupFileError(`${path} has SHA-256 ${digest}, the manifest says ${info.sha256}: the file is damaged`);
  if (chunk.length > 0) yield chunk;
}
