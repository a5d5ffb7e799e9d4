// statehouse.v1.BackupService: streams a consistent copy of the whole store
// (engine.backup(): one RocksDB snapshot) while the daemon keeps serving writes.
// `statehousectl backup --to DIR` writes it to files; `statehoused restore` loads them.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { BackupService } from "@statehouse/api";
import type { DaemonMetrics } from "./daemon-metrics.js";
import type { EngineCalls } from "./rpc-threads/engine-proxy.js";
import type { Logger } from "./logger.js";
import { abortReason, invalidRequest, toRpcError, type ErrorLogger } from "./rpc-errors.js";
import type { StreamSlots } from "./stream-slots.js";

/** Default and largest bytes (keys plus values) of one BackupEntries message: inside gRPC's default 4 MiB receive limit. */
export const DEFAULT_BACKUP_CHUNK_BYTES = 1024 * 1024;
export const MAX_BACKUP_CHUNK_BYTES = 3 * 1024 * 1024;

export interface BackupServiceDeps {
  engine: Pick<EngineCalls, "backup">;
  metrics: DaemonMetrics;
  /** Start and end of each backup (info). */
  log: Logger;
  /** Failed calls (rate-limited). */
  errorLog: ErrorLogger;
  streams: StreamSlots;
  version: string;
}

export function createBackupService(deps: BackupServiceDeps): ServiceImpl<typeof BackupService> {
  const { engine, metrics, log, errorLog, streams } = deps;
  return {
    async *backup(req, ctx: HandlerContext) {
      metrics.rpcRequest("Backup");
      if (req.chunkBytes > MAX_BACKUP_CHUNK_BYTES) {
        throw invalidRequest("chunk_bytes", `chunk_bytes must be at most ${MAX_BACKUP_CHUNK_BYTES} (3 MiB), got ${req.chunkBytes}`);
      }
      const chunkBytes = req.chunkBytes === 0 ? DEFAULT_BACKUP_CHUNK_BYTES : req.chunkBytes;
      const started = performance.now();
      let entries = 0;
      let bytes = 0;
      try {
        using _slot = streams.acquire();
        const backup = await engine.backup({ chunkBytes });
        try {
          log.info({ commitTs: backup.commitTs.toString(), estimatedEntries: backup.estimatedEntries }, `backup started at commit_ts ${backup.commitTs}`);
          yield {
            part: {
              case: "header",
              value: { commitTs: backup.commitTs, storeFormat: backup.storeFormat, estimatedEntries: BigInt(backup.estimatedEntries), daemonVersion: deps.version },
            },
          };
          for await (const chunk of backup.chunks()) {
            if (ctx.signal.aborted) break;
            for (const [key, value] of chunk) bytes += key.length + value.length;
            entries += chunk.length;
            yield { part: { case: "entries", value: { entries: chunk.map(([key, value]) => ({ key, value })) } } };
          }
          if (!ctx.signal.aborted) {
            yield { part: { case: "trailer", value: { entries: BigInt(entries), bytes: BigInt(bytes) } } };
            log.info(
              { commitTs: backup.commitTs.toString(), entries, bytes, durationMs: Math.round(performance.now() - started) },
              `backup at commit_ts ${backup.commitTs} streamed: ${entries} entries, ${bytes} bytes`,
            );
          }
        } finally {
          backup.close();
        }
      } catch (error) {
        if (!ctx.signal.aborted) throw toRpcError(error, errorLog, "Backup");
      }
      if (ctx.signal.aborted) {
        log.warn({ entries, bytes }, "backup stream ended by the client or shutdown before its trailer");
        throw abortReason(ctx.signal);
      }
    },
  };
}
