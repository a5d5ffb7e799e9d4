// Test helper: the real daemon with TLS (a CA made at test time), API keys
// required (--auth required) and mTLS (--tls-client-ca), its first admin key
// (the file the first start writes), and keys made through AuthService.
// Not part of the package build.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, Role } from "@statehouse/api";
import { DaemonProcess } from "@statehouse/test-services";
import { TestCa } from "./test-ca.js";

const ROLES = { read: Role.READ, write: Role.WRITE, admin: Role.ADMIN } as const;

/** A key as CreateApiKey returned it. */
export interface TestKey {
  keyId: string;
  secret: string;
}

export class SecureDaemon {
  readonly daemon: DaemonProcess;
  readonly ca: TestCa;
  /** The first admin key (admin on "*"). */
  readonly admin: string;

  private constructor(daemon: DaemonProcess, ca: TestCa, admin: string) {
    this.daemon = daemon;
    this.ca = ca;
    this.admin = admin;
  }

  /**
   * Starts it; `env` adds to the daemon's environment (e.g. STATEHOUSE_CORS_ORIGINS); `ca` (default: a
   * new one, disposed with the daemon) signs its certificate.
   */
  static async start(env: Record<string, string> = {}, ca: TestCa = TestCa.create()): Promise<SecureDaemon> {
    const server = ca.server();
    const daemon = await DaemonProcess.start({
      tls: true,
      env: {
        STATEHOUSE_AUTH: "required",
        STATEHOUSE_TLS_CERT: server.certFile,
        STATEHOUSE_TLS_KEY: server.keyFile,
        STATEHOUSE_TLS_CLIENT_CA: ca.caFile,
        ...env,
      },
    });
    const admin = (await readFile(join(daemon.dataDir, "auth", "initial-admin-key"), "utf8")).trim();
    return new SecureDaemon(daemon, ca, admin);
  }

  get url(): string {
    return this.daemon.url;
  }

  /** A new key with `role` on `namespace`. */
  async createKey(namespace: string, role: keyof typeof ROLES): Promise<TestKey> {
    const transport = createConnectTransport({
      baseUrl: this.url,
      httpVersion: "1.1",
      nodeOptions: { ca: this.ca.caPem, headers: { authorization: `Bearer ${this.admin}` } },
    });
    const response = await createClient(AuthService, transport).createApiKey({
      name: `test ${namespace} ${role}`,
      grants: [{ namespacePattern: namespace, role: ROLES[role] }],
    });
    if (response.key === undefined) throw new Error("CreateApiKey returned no key");
    return { keyId: response.key.keyId, secret: response.secret };
  }

  async dispose(): Promise<void> {
    await this.daemon.dispose();
    this.ca.dispose();
  }
}
