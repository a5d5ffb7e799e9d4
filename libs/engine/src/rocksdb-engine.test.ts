import { openEngine } from "./open-engine.ts";
import { runEngineContract } from "./test-support/engine-contract.ts";
import { withTempDir } from "./test-support/temp-dir.ts";

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
