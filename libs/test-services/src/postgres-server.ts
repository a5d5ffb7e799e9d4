// Debian's PostgreSQL (package postgresql) run directly: initdb into a temp
// dir, then `postgres` on a random loopback port with fsync=on and
// synchronous_commit=on (every COMMIT waits for its WAL flush). As root the
// server must run as the `postgres` user: initdb through `runuser`, the server
// through `setpriv` (which execs in place, so the pid we hold is postgres
// itself and SIGINT reaches it directly).
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { ensureAptPackages } from "./apt.ts";
import { freePort } from "./free-port.ts";
import { ManagedProcess, waitFor } from "./managed-process.ts";

export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  database: string;
  version: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<major>/bin, or null when not installed. */
function postgresBinDir(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const majors = readdirSync(base)
    .filter((name) => existsSync(join(base, name, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? null : join(base, majors[0], "bin");
}

export function ensurePostgresInstalled(log: (message: string) => void): void {
  ensureAptPackages([{ pkg: "postgresql", provides: () => postgresBinDir() !== null }], log);
}

export interface StartPostgresOptions {
  /** Extra server settings (`-c name=value`), e.g. ssl=on with its files. */
  settings?: Readonly<Record<string, string>>;
  /** Port to listen on (a restart on the same data keeps its port); default a free one. */
  port?: number;
}

/**
 * Starts PostgreSQL on `workDir/pg-data`, running initdb first when the directory holds no
 * cluster yet; started again on an existing one (after a SIGKILL, say) it runs PostgreSQL's
 * own crash recovery.
 */
export async function startPostgres(workDir: string, options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const asRoot = process.getuid?.() === 0;
  const dataDir = join(workDir, "pg-data");
  const socketDir = join(workDir, "pg-socket");
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(socketDir, { recursive: true });
  let uid = process.getuid?.() ?? 0;
  let gid = process.getgid?.() ?? 0;
  if (asRoot) {
    uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chmodSync(workDir, 0o755); // postgres must be able to reach its dirs inside
    chownSync(dataDir, uid, gid);
    chownSync(socketDir, uid, gid);
  }
  chmodSync(dataDir, 0o700);
  const user = "bench";
  const asPostgres = (command: string, args: string[]): [string, string[]] =>
    asRoot ? ["setpriv", ["--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--", command, ...args]] : [command, args];

  const [initCmd, initArgs] = asRoot
    ? ["runuser", ["-u", "postgres", "--", join(bin, "initdb"), "-D", dataDir, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]]
    : [join(bin, "initdb"), ["-D", dataDir, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]];
  if (!existsSync(join(dataDir, "PG_VERSION"))) execFileSync(initCmd, initArgs, { stdio: ["ignore", "ignore", "pipe"], cwd: "/" });

  const port = options.port ?? (await freePort());
  const extra = Object.entries(options.settings ?? {}).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
  const [command, args] = asPostgres(join(bin, "postgres"), [
    "-D", dataDir,
    "-p", String(port),
    "-c", "listen_addresses=127.0.0.1",
    "-c", `unix_socket_directories=${socketDir}`,
    "-c", "fsync=on",
    "-c", "synchronous_commit=on",
    "-c", "full_page_writes=on",
    "-c", "max_connections=200",
    ...extra,
  ]);
  const server = new ManagedProcess({ command, args, cwd: "/", logFile: join(workDir, "postgres.log") });
  const config = { host: "127.0.0.1", port, user, database: "postgres" };
  const version = await waitFor("postgres", server, async () => {
    const client = new pg.Client(config);
    try {
      await client.connect();
      const result = await client.query<{ server_version: string }>("SHOW server_version");
      return result.rows[0]?.server_version ?? "unknown";
    } catch {
      return undefined;
    } finally {
      await client.end().catch(() => undefined);
    }
  }, 60_000, 100);
  return { ...config, version, process: server, stop: () => server.stop("SIGINT") };
}
