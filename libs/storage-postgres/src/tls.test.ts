// TLS to the database: PostgreSQL with ssl=on and a certificate from a CA made here; the
// store connects with sslmode=verify-full and the CA file, and every connection to the
// database is encrypted (pg_stat_ssl). A server the given CA did not sign is refused.
import { execFileSync } from "node:child_process";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSharedEngine } from "@statehouse/engine";
import { ensurePostgresInstalled, startPostgres, type PostgresServer } from "@statehouse/test-services";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PostgresKv } from "./postgres-kv.ts";

let server: PostgresServer;
let workDir: string;
let tlsDir: string;

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function makeCa(dir: string, name: string): void {
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`));
}

function url(ca: string): string {
  return `postgres://${server.user}@localhost:${server.port}/${server.database}?sslmode=verify-full&sslrootcert=${join(tlsDir, ca)}`;
}

beforeAll(async () => {
  ensurePostgresInstalled((message) => console.log(`[postgres] ${message}`));
  workDir = await mkdtemp(join(tmpdir(), "statehouse-pg-tls-"));
  tlsDir = join(workDir, "tls");
  mkdirSync(tlsDir);
  makeCa(tlsDir, "ca");
  makeCa(tlsDir, "other-ca");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", join(tlsDir, "server.key"), "-out", join(tlsDir, "server.csr"));
  const ext = join(tlsDir, "ext.cnf");
  writeFileSync(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl("x509", "-req", "-in", join(tlsDir, "server.csr"), "-CA", join(tlsDir, "ca.crt"), "-CAkey", join(tlsDir, "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", join(tlsDir, "server.crt"));
  if (process.getuid?.() === 0) {
    // The server runs as the postgres user and insists on owning its key.
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    for (const file of ["server.key", "server.crt"]) chownSync(join(tlsDir, file), uid, gid);
  }
  server = await startPostgres(workDir, {
    settings: { ssl: "on", ssl_cert_file: join(tlsDir, "server.crt"), ssl_key_file: join(tlsDir, "server.key") },
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await rm(workDir, { recursive: true, force: true });
});

it("connects with sslmode=verify-full: the store's connections are all encrypted", async () => {
  const engine = await openSharedEngine(await PostgresKv.open({ connectionString: url("ca.crt"), schema: "tls" }));
  try {
    const { commitTs } = await engine.transact({ operations: [{ namespace: "n", agentId: "a", key: "k", value: { secret: true } }] });
    expect((await engine.get({ namespace: "n", agentId: "a", key: "k" })).commitTs).toBe(commitTs);
    const client = new pg.Client({ connectionString: url("ca.crt") });
    await client.connect();
    try {
      const { rows } = await client.query<{ total: string; plain: string }>(
        "SELECT count(*) AS total, count(*) FILTER (WHERE NOT s.ssl) AS plain FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
        [server.database],
      );
      expect(Number(rows[0]?.total)).toBeGreaterThanOrEqual(2); // the LISTEN connection, a pooled one, this one
      expect(Number(rows[0]?.plain)).toBe(0);
    } finally {
      await client.end();
    }
  } finally {
    await engine.close();
  }
});

it("refuses a server whose certificate the given CA did not sign", async () => {
  await expect(PostgresKv.open({ connectionString: url("other-ca.crt"), schema: "tls_refused" })).rejects.toThrow(/certificate/i);
});
