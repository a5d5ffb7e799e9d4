// `statehoused restore --from DIR`: checks a backup directory (backup-files.ts) and
// restores it with the engine's restoreStore (which verifies the restored store with
// recovery before it replaces anything).
import { restoreStore, type RestoreReport } from "@statehouse/engine";
import { readEntries, readManifest, type BackupManifest } from "./backup-files.js";

export interface RestoreBackupOptions {
  replace?: boolean;
  acceptRollback?: boolean;
  onProgress?: (progress: { entries: number; total: number; bytes: number }) => void;
}

export async function restoreBackup(from: string, dataDir: string, options: RestoreBackupOptions = {}): Promise<{ manifest: BackupManifest; report: RestoreReport }> {
  const manifest = await readManifest(from);
  const report = await restoreStore({
    dataDir,
    entries: readEntries(from, manifest),
    commitTs: manifest.commitTs,
    storeFormat: manifest.storeFormat,
    replace: options.replace === true,
    recoveryMode: options.acceptRollback === true ? "accept-rollback" : "auto",
    onProgress: (p) => options.onProgress?.({ ...p, total: manifest.entries }),
  });
  if (report.entries !== manifest.entries) {
    // readEntries checks every file's count; this is the sum over them, checked again.
    throw new Error(`restored ${report.entries} entries, the manifest lists ${manifest.entries}`);
  }
  return { manifest, report };
}

export function describeRestore(from: string, { manifest, report }: { manifest: BackupManifest; report: RestoreReport }): string {
  const lines = [`restored ${from} (backup of ${manifest.createdAt}) into ${report.dataDir}: commit_ts ${report.commitTs}, ${report.entries} entries, ${report.bytes} bytes`];
  if (report.replacedCommitTs !== null) lines.push(`replaced a store at commit_ts ${report.replacedCommitTs}; its db/ is kept at ${report.replacedDbKeptAt} (delete it once you are sure)`);
  for (const note of report.recovery.notes) lines.push(`recovery: ${note}`);
  return lines.join("\n");
}
