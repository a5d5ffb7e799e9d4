import { openSharedEngine, type Engine, type EngineOptions } from "@statehouse/engine";
import { PostgresKv, type PostgresStoreOptions } from "./postgres-kv.ts";

/**
 * An engine on a PostgreSQL store that other engines (other statehoused processes) may share:
 * connects, migrates, opens. `engine` takes the engine's options (timeouts, limits, logger);
 * the data directory and snapshot options do not apply.
 */
export async function openPostgresEngine(store: PostgresStoreOptions, engine: Omit<EngineOptions, "dataDir" | "inMemory"> = {}): Promise<Engine> {
  const logger = engine.logger;
  const kv = await PostgresKv.open({ ...(logger === undefined ? {} : { logger }), ...store });
  return openSharedEngine(kv, engine);
}
