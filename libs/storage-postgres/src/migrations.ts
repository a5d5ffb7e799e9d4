// Versioned schema migrations, applied at open. Each runs once, in order, inside one
// transaction that holds an exclusive lock on schema_migrations, so several daemons starting
// at once apply each migration exactly once and none serves a half-migrated schema.
// Append only: a released migration is never edited; a change is a new version.
import type pg from "pg";
import { identifier, tables, type Tables } from "./sql.ts";

export interface Migration {
  version: number;
  name: string;
  sql: (t: Tables) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "kv table and commit lock",
    sql: (t) => `
      CREATE TABLE ${t.kv} (key bytea PRIMARY KEY, value bytea NOT NULL);
      CREATE TABLE ${t.lock} (id integer PRIMARY KEY CHECK (id = 1), last_ts bigint NOT NULL);
      INSERT INTO ${t.lock} (id, last_ts) VALUES (1, 0);`,
  },
];

export interface MigrationResult {
  /** Versions applied by this call (empty when the schema was current). */
  applied: number[];
  version: number;
}

/** Brings `schema` to the newest version; refuses a schema newer than this code knows. */
export async function migrate(client: pg.ClientBase, schema: string): Promise<MigrationResult> {
  const t = tables(schema);
  // Both statements are idempotent; two daemons racing here may still collide in the catalog.
  await retryOnce(() => client.query(`CREATE SCHEMA IF NOT EXISTS ${identifier(schema)}`));
  await retryOnce(() =>
    client.query(`CREATE TABLE IF NOT EXISTS ${t.migrations} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`),
  );
  const applied: number[] = [];
  await client.query("BEGIN");
  try {
    await client.query(`LOCK TABLE ${t.migrations} IN EXCLUSIVE MODE`);
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${t.migrations} ORDER BY version`);
    const done = new Set(rows.map((row) => row.version));
    const newest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    const beyond = rows.find((row) => row.version > newest);
    if (beyond !== undefined) {
      throw new Error(`schema ${schema} is at migration ${beyond.version}, newer than this statehoused knows (${newest}): upgrade statehoused`);
    }
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql(t));
      await client.query(`INSERT INTO ${t.migrations} (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    await client.query("COMMIT");
    return { applied, version: newest };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** CREATE … IF NOT EXISTS racing another session fails with a unique violation once; the retry sees the object. */
async function retryOnce<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "23505" && code !== "42P06" && code !== "42P07") throw error;
    return run();
  }
}
