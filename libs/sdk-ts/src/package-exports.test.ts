// The package's two entry points: chosen by export conditions, same names.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import * as browserEntry from "./browser.js";
import * as nodeEntry from "./index.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  exports: Record<string, Record<string, unknown>>;
};

it("both entry points export the same names", () => {
  expect(Object.keys(browserEntry).sort()).toEqual(Object.keys(nodeEntry).sort());
  expect(Object.keys(nodeEntry).sort()).toEqual([
    "AuthenticationError",
    "ConflictError",
    "ConnectionError",
    "NotFoundError",
    "PermissionDeniedError",
    "Statehouse",
    "StatehouseClient",
    "StatehouseError",
    "Transaction",
    "TransactionError",
  ]);
  expect(browserEntry.Statehouse).not.toBe(nodeEntry.Statehouse);
  expect(browserEntry.StatehouseError).toBe(nodeEntry.StatehouseError);
});

it("exports: workspace sources first, then browser, then Node", () => {
  const root = pkg.exports["."] ?? {};
  expect(Object.keys(root)).toEqual(["@statehouse/source", "browser", "types", "default"]);
  expect(root["@statehouse/source"]).toEqual({ browser: "./src/browser.ts", default: "./src/index.ts" });
  expect(root["browser"]).toEqual({ types: "./dist/browser.d.ts", default: "./dist/browser.js" });
  expect(root["default"]).toBe("./dist/index.js");
  expect(Object.keys(pkg.exports["./browser"] ?? {})[0]).toBe("@statehouse/source");
});
