// Test helpers other workspace packages use (`@statehouse/sdk/test-support`,
// resolved from sources only; not part of the package build).
export { DaemonProcess } from "@statehouse/test-services";
export type { DaemonExit, DaemonOptions } from "@statehouse/test-services";
export { testDaemonUrl, uniqueAgent } from "./daemon.js";
export { runReadmeBlock } from "./run-readme-block.js";
export { useTestDaemon } from "./use-test-daemon.js";
export type { TestDaemon } from "./use-test-daemon.js";
export { bundleForBrowser } from "./bundle-for-browser.js";
export { servePage, useBrowserPage } from "./use-browser-page.js";
