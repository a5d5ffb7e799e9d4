// @statehouse/sdk for browsers: connect-web transports over fetch (Connect by
// default, gRPC-Web selectable). Chosen by the "browser" export condition (or
// "@statehouse/sdk/browser"); exports the same names as the Node entry.
export { Statehouse } from "./browser/statehouse.js";
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
