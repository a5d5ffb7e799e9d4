// @statehouse/sdk for Node: connect-node transports (Connect over HTTP/2 by
// default, gRPC selectable). Browsers get ./browser.ts via the "browser"
// export condition; both export the same names.
export { Statehouse } from "./node/statehouse.js";
export { StatehouseClient } from "./core/statehouse-client.js";
export { Transaction } from "./core/transaction.js";
export type { TransactionState } from "./core/transaction.js";
export {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  NotFoundError,
  PermissionDeniedError,
  StatehouseError,
  TransactionError,
} from "./core/errors.js";
export type {
  NotFoundErrorCode,
  StatehouseErrorCode,
  StatehouseErrorOptions,
  TransactionErrorCode,
} from "./core/errors.js";
export type {
  AgentSummary,
  BeginTransactionOptions,
  CallOptions,
  ClientOptions,
  DaemonStatus,
  JsonObject,
  JsonValue,
  ListAgentsOptions,
  ListKeysOptions,
  ListNamespacesOptions,
  NamespaceOptions,
  Operation,
  PageOptions,
  ReplayEvent,
  ReplayOptions,
  StateEntry,
  StatehouseOptions,
  StateResult,
  TransactOperation,
  TransactOptions,
  TransactOutcome,
  TransactionOutcome,
  Uint64Input,
  VersionInfo,
  WatchOptions,
  WithTransactionOptions,
} from "./core/types.js";
