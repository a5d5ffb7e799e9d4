// The official conformance suite of LangGraph.js checkpointers,
// @langchain/langgraph-checkpoint-validation, against a real statehoused
// (port 0, temp data dir). Each checkpointer the suite creates gets a fresh
// Statehouse namespace, so instances never see each other's threads.
import { deltaChannelHistoryTests, specTest, type CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { Statehouse } from "@statehouse/sdk";
import { testDaemonUrl } from "@statehouse/sdk/test-support";
import { StatehouseSaver } from "./index.js";

let daemon: { url: string; dispose: () => Promise<void> } | undefined;

const initializer: CheckpointSaverTestInitializer<StatehouseSaver> = {
  checkpointerName: "@statehouse/langgraph-checkpoint",
  beforeAllTimeout: 60_000,
  async beforeAll() {
    daemon = await testDaemonUrl();
  },
  async afterAll() {
    await daemon?.dispose();
  },
  createCheckpointer() {
    if (daemon === undefined) throw new Error("daemon not started");
    const namespace = `lg-validation-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    return new StatehouseSaver(new Statehouse({ url: daemon.url, namespace }));
  },
  async destroyCheckpointer(saver) {
    await saver.client.close();
  },
};

specTest(initializer);
// Opt-in in the package (not part of specTest); it checks the parent walk
// that rebuilds DeltaChannel state from the stored writes.
deltaChannelHistoryTests(initializer);
