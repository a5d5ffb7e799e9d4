// The package in a browser build: bundled with the SDK's browser entry by
// esbuild (platform "browser"), nothing Node-only goes in.
import { bundleForBrowser } from "@statehouse/sdk/test-support";
import { expect, it } from "vitest";

it("bundles for browsers with the SDK's browser entry and no Node built-ins", async () => {
  const { inputs } = await bundleForBrowser(
    `import { Statehouse } from "@statehouse/sdk";
     import { StatehouseSaver, StatehouseStore } from "@statehouse/langgraph-checkpoint";
     const client = new Statehouse({ url: "http://localhost:50051" });
     export const saver = new StatehouseSaver(client);
     export const store = new StatehouseStore(client);`,
    import.meta.dirname,
  );
  expect(inputs).toEqual(expect.arrayContaining([expect.stringMatching(/(^|\/)src\/statehouse-saver\.ts$/), expect.stringMatching(/sdk-ts\/src\/browser\.ts$/)]));
  expect(inputs.filter((input) => /^node:|connect-node|sdk-ts\/src\/node\//.test(input))).toEqual([]);
});
