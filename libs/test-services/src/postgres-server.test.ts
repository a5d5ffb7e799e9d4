// The launcher itself: PostgreSQL starts on a free loopback port with fsync and
// synchronous_commit on, and started again on the same directory after a SIGKILL of the
// postmaster it recovers every committed row (PostgreSQL's own crash recovery).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { ensurePostgresInstalled, startPostgres, type PostgresServer } from "./postgres-server.ts";

let workDir: string | undefined;
let server: PostgresServer | undefined;

afterAll(async () => {
  await server?.stop();
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

async function query<T extends pg.QueryResultRow>(s: PostgresServer, text: string): Promise<T[]> {
  const client = new pg.Client({ host: s.host, port: s.port, user: s.user, database: s.database });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

it("starts durable on loopback, and after SIGKILL of the postmaster restarts with every committed row", async () => {
  ensurePostgresInstalled((message) => console.log(`[postgres] ${message}`));
  workDir = await mkdtemp(join(tmpdir(), "statehouse-pg-launcher-"));
  server = await startPostgres(workDir);
  const settings = await query<{ name: string; setting: string }>(
    server,
    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'listen_addresses') ORDER BY name",
  );
  expect(settings).toEqual([
    { name: "fsync", setting: "on" },
    { name: "listen_addresses", setting: "127.0.0.1" },
    { name: "synchronous_commit", setting: "on" },
  ]);
  await query(server, "CREATE TABLE t (n integer)");
  await query(server, "INSERT INTO t SELECT generate_series(1, 1000)");
  const port = server.port;
  server.process.child.kill("SIGKILL");
  await new Promise((resolve) => server?.process.child.once("exit", resolve));
  server = await startPostgres(workDir, { port });
  expect(server.port).toBe(port);
  expect(await query<{ n: string }>(server, "SELECT count(*) AS n FROM t")).toEqual([{ n: "1000" }]);
}, 120_000);
