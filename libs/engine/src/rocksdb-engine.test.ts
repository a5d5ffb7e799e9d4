import { openEngine } from "./open-engine.js";
import { runEngineContract } from "./test-support/engine-contract.js";
import { withTempDir } from "./test-support/temp-dir.js";

runEngineContract({
  name: "rocksdb",
  supports: { persistence: true },
  factory: async (options = {}) => {
    const { dir, remove } = await withTempDir();
    const harness = {
      engine: await openEngine({ ...options, dataDir: dir }),
      reopen: async () => {
        await harness.engine.close();
        harness.engine = await openEngine({ ...options, dataDir: dir });
        return harness.engine;
      },
      dispose: async () => {
        await harness.engine.close();
        await remove();
      },
    };
    return harness;
  },
});
