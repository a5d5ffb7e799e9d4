// Test helper: the daemon tests use (the shared launcher, @statehouse/test-services) and a unique
// agent id per test. Not part of the package build.
import { DaemonProcess, type DaemonOptions } from "@statehouse/test-services";

/**
 * The daemon most tests use: STATEHOUSE_TEST_URL when set (an already running
 * daemon), else a fresh process. `dispose` stops only what it started.
 */
export async function testDaemonUrl(options: DaemonOptions = {}): Promise<{ url: string; dispose: () => Promise<void> }> {
  const external = process.env["STATEHOUSE_TEST_URL"];
  if (external !== undefined && external !== "") {
    return { url: external, dispose: () => Promise.resolve() };
  }
  const daemon = await DaemonProcess.start(options);
  return { url: daemon.url, dispose: () => daemon.dispose() };
}

/** A unique agent id, so tests never see each other's data (also on a shared daemon). */
export function uniqueAgent(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
