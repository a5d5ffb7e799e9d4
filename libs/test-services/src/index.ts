export { ensureAptPackages } from "./apt.ts";
export type { AptNeed } from "./apt.ts";
export { freePort } from "./free-port.ts";
export { ManagedProcess, waitFor } from "./managed-process.ts";
export type { ManagedProcessOptions } from "./managed-process.ts";
export { ensurePostgresInstalled, startPostgres } from "./postgres-server.ts";
export type { PostgresServer } from "./postgres-server.ts";
