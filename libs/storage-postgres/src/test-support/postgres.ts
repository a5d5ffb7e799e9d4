// One PostgreSQL per test file (Debian's postgresql, fsync and synchronous_commit on, loopback,
// started by @statehouse/test-services as the bench starts it) and a fresh schema per store,
// dropped afterwards.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePostgresInstalled, startPostgres, type PostgresServer } from "@statehouse/test-services";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

export interface TestPostgres {
  readonly server: PostgresServer;
  readonly url: string;
  /** A schema name no other store in this run uses. */
  freshSchema(): string;
  dropSchema(schema: string): Promise<void>;
}

let counter = 0;

/** Starts PostgreSQL before the file's tests and stops it after; the returned object is usable inside tests. */
export function usePostgres(): TestPostgres {
  let server: PostgresServer | undefined;
  let workDir: string | undefined;
  const handle: TestPostgres = {
    get server(): PostgresServer {
      if (server === undefined) throw new Error("PostgreSQL is not started yet (use it inside tests)");
      return server;
    },
    get url(): string {
      const s = handle.server;
      return `postgres://${s.user}@${s.host}:${s.port}/${s.database}`;
    },
    freshSchema: () => `t${process.pid}_${++counter}`,
    dropSchema: async (schema) => {
      const client = new pg.Client({ connectionString: handle.url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
  beforeAll(async () => {
    ensurePostgresInstalled((message) => console.log(`[postgres] ${message}`));
    workDir = await mkdtemp(join(tmpdir(), "statehouse-pg-"));
    server = await startPostgres(workDir);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });
  return handle;
}
