// Debian's etcd (package etcd-server) started directly — not via systemd — on
// two random loopback ports with a temp data dir. Durability is etcd's
// default: every write is fsynced to its WAL before the answer.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { EtcdClient } from "../clients/etcd-client.js";
import { ensureAptPackages } from "./apt.js";
import { freePort } from "./free-port.js";
import { ManagedProcess, waitFor } from "./managed-process.js";

export const ETCD_BINARY = "/usr/bin/etcd";

export interface EtcdServer {
  /** host:port of the client URL (gRPC). */
  address: string;
  version: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export function ensureEtcdInstalled(log: (message: string) => void): void {
  ensureAptPackages([{ pkg: "etcd-server", provides: () => existsSync(ETCD_BINARY) }], log);
}

export async function startEtcd(workDir: string): Promise<EtcdServer> {
  const dataDir = join(workDir, "etcd-data");
  mkdirSync(dataDir, { recursive: true });
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const process = new ManagedProcess({
    command: ETCD_BINARY,
    args: [
      "--name", "bench",
      "--data-dir", dataDir,
      "--listen-client-urls", clientUrl,
      "--advertise-client-urls", clientUrl,
      "--listen-peer-urls", peerUrl,
      "--initial-advertise-peer-urls", peerUrl,
      "--initial-cluster", `bench=${peerUrl}`,
      "--initial-cluster-state", "new",
      "--quota-backend-bytes", String(8 * 1024 ** 3),
      "--logger", "zap",
      "--log-level", "warn",
    ],
    env: { PATH: globalThis.process.env["PATH"] ?? "/usr/bin:/bin", HOME: workDir },
    logFile: join(workDir, "etcd.log"),
  });
  const address = `127.0.0.1:${clientPort}`;
  const probe = new EtcdClient(address);
  try {
    await waitFor("etcd", process, async () => {
      try {
        await probe.status();
        return true;
      } catch {
        return undefined;
      }
    }, 60_000, 50);
  } finally {
    probe.close();
  }
  return {
    address,
    version: etcdVersion(),
    process,
    stop: () => process.stop(),
  };
}

function etcdVersion(): string {
  try {
    // "etcd Version: 3.4.23\n..."
    const out = execFileSync(ETCD_BINARY, ["--version"], { encoding: "utf8" });
    return /Version:\s*(\S+)/.exec(out)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}
