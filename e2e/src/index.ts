// @statehouse/e2e: the crash-test harness (daemon life, SDK drivers,
// verification). The suites themselves are src/suites/*.e2e.ts.
export { DaemonExitedError, DaemonHarness, DaemonRun } from "./harness/daemon-harness.js";
export type { DaemonHarnessOptions, DaemonRunOptions, ExitInfo, ReadyInfo } from "./harness/daemon-harness.js";
export { DriverCallError, DriverProcess, SDKS } from "./harness/driver-process.js";
export type { CallOutcome, DriverOptions, SdkName } from "./harness/driver-process.js";
export { Oracle } from "./harness/oracle.js";
export { parseLogLine, recoveryFromLogs } from "./harness/log-lines.js";
export type { LogLine, RecoveryFacts } from "./harness/log-lines.js";
export { compareWithState, foldEvents } from "./check/agent-history.js";
export type { FoldResult, FoldedKey } from "./check/agent-history.js";
export { CommitLedger, effectiveOps } from "./check/commit-ledger.js";
export type { LedgerReport, TxnRecord, TxnStatus } from "./check/commit-ledger.js";
export { checkLinearizable } from "./check/linearizability.js";
export type { CommitOp, HistoryOp, KeyVersion, LinearizabilityReport, ReadOp } from "./check/linearizability.js";
export type * from "./drivers/protocol.js";
export { formatTotals, runKillCampaign } from "./campaign/kill-campaign.js";
export type { CampaignTotals, Distribution, KillCampaignOptions } from "./campaign/kill-campaign.js";
export { mountTmpfs } from "./harness/tmpfs.js";
export type { Tmpfs } from "./harness/tmpfs.js";
