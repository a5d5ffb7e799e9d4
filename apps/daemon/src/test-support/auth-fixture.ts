// Test helper: a daemon started with --auth required, its first admin key
// (read from the file the first start writes), and keys made through
// AuthService.CreateApiKey. Not part of the build.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { AuthService, Role, type ApiKeyLimits } from "@statehouse/api";
import { DaemonProcess, type DaemonOptions } from "@statehouse/test-services";
import { allDrivers, GrpcJsDriver, type DriverAuth, type RpcDriver } from "./rpc-drivers.js";

export interface TestKey {
  keyId: string;
  token: string;
}

const ROLES = { read: Role.READ, write: Role.WRITE, admin: Role.ADMIN } as const;
export type GrantSpec = readonly [pattern: string, role: keyof typeof ROLES];

export class AuthFixture {
  readonly daemon: DaemonProcess;
  readonly admin: TestKey;
  readonly adminRpc: RpcDriver;
  readonly #drivers: RpcDriver[] = [];

  private constructor(daemon: DaemonProcess, admin: TestKey, adminRpc: RpcDriver) {
    this.daemon = daemon;
    this.admin = admin;
    this.adminRpc = adminRpc;
  }

  /** Starts a daemon with --auth required (plus `options`) and reads its first admin key. */
  static async start(options: Omit<DaemonOptions, "tls"> & { tls?: DriverAuth["tls"] } = {}): Promise<AuthFixture> {
    const { tls, ...daemonOptions } = options;
    const daemon = await DaemonProcess.start({ ...daemonOptions, tls: tls !== undefined, args: ["--auth", "required", ...(options.args ?? [])] });
    const token = (await readFile(join(daemon.dataDir, "auth", "initial-admin-key"), "utf8")).trim();
    const admin = { keyId: token.slice(4, 20), token };
    const adminRpc = new GrpcJsDriver(daemon.address, {}, { token, ...(tls === undefined ? {} : { tls }) });
    return new AuthFixture(daemon, admin, adminRpc);
  }

  async createKey(grants: readonly GrantSpec[], limits: MessageInitShape<GenMessage<ApiKeyLimits>> = {}, name = "test"): Promise<TestKey> {
    const res = await this.adminRpc.unary(AuthService.method.createApiKey, { name, grants: grants.map(([namespacePattern, role]) => ({ namespacePattern, role: ROLES[role] })), limits });
    if (res.key === undefined) throw new Error("CreateApiKey returned no key");
    return { keyId: res.key.keyId, token: res.secret };
  }

  /** Every driver, sending `token` (closed by dispose). */
  drivers(auth: DriverAuth): RpcDriver[] {
    const drivers = allDrivers(this.daemon.address, auth);
    this.#drivers.push(...drivers);
    return drivers;
  }

  async dispose(): Promise<void> {
    for (const d of this.#drivers) d.close();
    this.adminRpc.close();
    await this.daemon.dispose();
  }
}
