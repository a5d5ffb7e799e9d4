// The first admin key. `statehoused auth bootstrap` prints it on stdout; at
// the first start with --auth required and no admin key, the daemon writes it
// to <data dir>/auth/initial-admin-key (mode 0600) and logs only that path,
// or, with in-memory storage (no data dir), prints it once on stderr. The
// secret never goes to the log.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiKeyStore } from "./api-key-store.js";

export const INITIAL_KEY_FILE = "initial-admin-key";

export interface BootstrapLogger {
  warn(obj: object, msg?: string): void;
}

/** Creates an admin key on "*" and hands its token over as described above. */
export function bootstrapAdminKey(store: ApiKeyStore, log: BootstrapLogger, stderr: NodeJS.WritableStream = process.stderr): void {
  const { key, token } = store.create({ name: "initial-admin", grants: [{ namespacePattern: "*", role: "admin" }] });
  if (store.dir === null) {
    stderr.write(`statehoused: --auth required and no admin key: created admin key ${key.keyId} (shown once, not logged; in-memory storage forgets it):\n${token}\n`);
    log.warn({ keyId: key.keyId }, "created the first admin API key; its secret was printed on stderr, once");
    return;
  }
  const file = join(store.dir, INITIAL_KEY_FILE);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  log.warn({ keyId: key.keyId, file }, `created the first admin API key; its secret is in ${file} (mode 0600): move it somewhere safe and delete the file`);
}
