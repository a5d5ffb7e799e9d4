// Test helper: one daemon for a test file (see testDaemonUrl), started in
// beforeAll and stopped in afterAll, with clients on it that are closed then.
import { afterAll, beforeAll } from "vitest";
import { Statehouse } from "../node/statehouse.js";
import type { StatehouseOptions } from "../core/types.js";
import type { DaemonOptions } from "@statehouse/test-services";
import { testDaemonUrl } from "./daemon.js";

export interface TestDaemon {
  /** `http://127.0.0.1:PORT` (only inside tests and hooks). */
  readonly url: string;
  /** A client on the daemon, closed after the file's tests. */
  client(options?: Omit<StatehouseOptions, "url">): Statehouse;
}

/** `options` (environment, data dir) apply to a daemon it starts, not to STATEHOUSE_TEST_URL's. */
export function useTestDaemon(options: DaemonOptions = {}): TestDaemon {
  let daemon: { url: string; dispose: () => Promise<void> } | undefined;
  const clients: Statehouse[] = [];
  beforeAll(async () => {
    daemon = await testDaemonUrl(options);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await daemon?.dispose();
  });
  return {
    get url() {
      if (daemon === undefined) throw new Error("the test daemon starts in beforeAll");
      return daemon.url;
    },
    client(options = {}) {
      const client = new Statehouse({ ...options, url: this.url });
      clients.push(client);
      return client;
    },
  };
}
