import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The workspace's Node 24 (the system node may be older); falls back to the running one. */
export const NODE_BINARY = ((): string => {
  const candidate = fileURLToPath(new URL("../../../../node_modules/.bin/node", import.meta.url));
  return existsSync(candidate) ? candidate : process.execPath;
})();
