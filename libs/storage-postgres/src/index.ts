export { PostgresKv } from "./postgres-kv.ts";
export type { PostgresStoreOptions } from "./postgres-kv.ts";
export { MIGRATIONS } from "./migrations.ts";
export type { Migration, MigrationResult } from "./migrations.ts";
export { openPostgresEngine } from "./open-postgres-engine.ts";
