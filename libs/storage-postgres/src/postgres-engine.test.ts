// The engine contract suite, unchanged, on a real PostgreSQL.
import { openSharedEngine, type EngineOptions } from "@statehouse/engine";
import { runEngineContract } from "@statehouse/engine/contract";
import { PostgresKv } from "./postgres-kv.ts";
import { usePostgres } from "./test-support/postgres.ts";

const postgres = usePostgres();

runEngineContract({
  name: "postgres",
  supports: { persistence: true, retention: false },
  factory: async (options: Partial<EngineOptions> = {}) => {
    const schema = postgres.freshSchema();
    const open = async () => openSharedEngine(await PostgresKv.open({ connectionString: postgres.url, schema }), options);
    const harness = {
      engine: await open(),
      reopen: async () => {
        await harness.engine.close();
        harness.engine = await open();
        return harness.engine;
      },
      dispose: async () => {
        await harness.engine.close();
        await postgres.dropSchema(schema);
      },
    };
    return harness;
  },
});
