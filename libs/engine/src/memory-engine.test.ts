import { openEngine } from "./open-engine.ts";
import { runEngineContract } from "./test-support/engine-contract.ts";

runEngineContract({
  name: "memory",
  supports: { persistence: false },
  factory: async (options = {}) => {
    const engine = await openEngine({ ...options, inMemory: true });
    return {
      engine,
      reopen: () => {
        throw new TypeError("the memory backend does not persist");
      },
      dispose: async () => {
        await engine.close();
      },
    };
  },
});
