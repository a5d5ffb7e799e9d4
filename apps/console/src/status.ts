// Console-wide state: is the daemon reachable, does it want an API key, and a generation
// number that every view reloads on (bumped when the daemon is back after an outage, or
// when a key was entered), so the page recovers without a reload.
import { useEffect, useState } from "preact/hooks";
import { client, describeError, type ShownError } from "./connection.js";

export interface ConsoleState {
  /** Since when the daemon does not answer; null while it does. */
  downSince: Date | null;
  lastError: string;
  needKey: boolean;
  generation: number;
}

let state: ConsoleState = { downSince: null, lastError: "", needKey: false, generation: 0 };
const listeners = new Set<() => void>();

function update(next: Partial<ConsoleState>): void {
  state = { ...state, ...next };
  for (const listener of listeners) listener();
}

export function useConsoleState(): ConsoleState {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = (): void => setTick((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return state;
}

/** Every failed call lands here: an outage or a missing key changes the whole console. */
export function reportError(error: ShownError): void {
  if (error.kind === "down" && state.downSince === null) update({ downSince: new Date(), lastError: error.message });
  if (error.kind === "unauthenticated" && !state.needKey) update({ needKey: true });
}

export function reportSuccess(): void {
  if (state.downSince !== null) update({ downSince: null, generation: state.generation + 1 });
}

/** After a key was entered (or removed): every view loads again. */
export function reload(): void {
  update({ needKey: false, generation: state.generation + 1 });
}

const UP_POLL_MS = 5000;
const DOWN_POLL_MS = 1000;

/** Checks the daemon every few seconds (every second while it is down) until stopped. */
export function startMonitor(): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const check = async (): Promise<void> => {
    try {
      await client.health({ signal: AbortSignal.timeout(3000) });
      reportSuccess();
    } catch (error) {
      reportError(describeError(error));
    }
    if (!stopped) timer = setTimeout(() => void check(), state.downSince === null ? UP_POLL_MS : DOWN_POLL_MS);
  };
  void check();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
