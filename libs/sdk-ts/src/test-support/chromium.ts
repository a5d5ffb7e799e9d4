// Test helper: the page bundle (bundle-for-browser.ts); the headless Chromium
// is the shared one (@statehouse/test-services).
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForBrowser } from "./bundle-for-browser.js";

/** The page script: a scenario and a health check, on globalThis. */
export const PAGE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "../testdata/browser-page.ts");

/**
 * The page script bundled for the browser (a classic script: it only sets globals). Its text is the
 * bundle's entry: imported instead, it would be dropped, the package being `sideEffects: false`.
 */
export async function bundlePageScript(): Promise<string> {
  return (await bundleForBrowser(await readFile(PAGE_SCRIPT, "utf8"), dirname(PAGE_SCRIPT))).text;
}

