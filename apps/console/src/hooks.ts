// Loading data from the daemon and URL state, shared by the views.
import { useCallback, useEffect, useState } from "preact/hooks";
import { useLocation, useSearch } from "wouter-preact";
import { describeError, type ShownError } from "./connection.js";
import { reportError, reportSuccess, useConsoleState } from "./status.js";

export interface Loaded<T> {
  data: T | undefined;
  error: ShownError | undefined;
  loading: boolean;
}

/**
 * Runs `load` when `deps` change and again after an outage or a new API key (the console's
 * generation); the previous run is aborted. Failures are shown by the caller and reported
 * to the console (daemon down, key needed).
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const { generation } = useConsoleState();
  const [result, setResult] = useState<Loaded<T>>({ data: undefined, error: undefined, loading: true });
  useEffect(() => {
    const controller = new AbortController();
    setResult((r) => ({ ...r, loading: true }));
    load(controller.signal).then(
      (data) => {
        if (controller.signal.aborted) return;
        reportSuccess();
        setResult({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        const shown = describeError(error);
        reportError(shown);
        setResult({ data: undefined, error: shown, loading: false });
      },
    );
    return () => controller.abort();
  }, [...deps, generation]);
  return result;
}

/**
 * The page's query parameters, read from the real location (so any character in a name
 * survives), and a setter that replaces them (`push` adds a history entry instead).
 */
export function useQuery(): [URLSearchParams, (changes: Record<string, string | null>, push?: boolean) => void] {
  useSearch();
  const [location, navigate] = useLocation();
  const params = new URLSearchParams(window.location.search);
  const set = useCallback(
    (changes: Record<string, string | null>, push = false) => {
      const next = new URLSearchParams(window.location.search);
      for (const [name, value] of Object.entries(changes)) {
        if (value === null || value === "") next.delete(name);
        else next.set(name, value);
      }
      const query = next.toString();
      navigate(`${location}${query === "" ? "" : `?${query}`}`, { replace: !push });
    },
    [location, navigate],
  );
  return [params, set];
}

/** A link target inside the console: path plus query parameters. */
export function href(path: string, params: Record<string, string | bigint | number | undefined | null> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  const text = query.toString();
  return text === "" ? path : `${path}?${text}`;
}

/**
 * Keyboard navigation of a list: ArrowDown/j and ArrowUp/k move, Home/End jump, Enter
 * opens. Returns the active index and the keydown handler for the list's container.
 */
export function useListNav(count: number, open: (index: number) => void, initial = 0): [number, (event: KeyboardEvent) => void, (index: number) => void] {
  const [active, setActive] = useState(initial);
  const clamped = Math.max(0, Math.min(active, count - 1));
  const onKeyDown = (event: KeyboardEvent): void => {
    const moves: Record<string, number> = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, PageDown: 20, PageUp: -20 };
    const move = moves[event.key];
    if (move !== undefined) {
      event.preventDefault();
      setActive(Math.max(0, Math.min(count - 1, clamped + move)));
    } else if (event.key === "Home") {
      event.preventDefault();
      setActive(0);
    } else if (event.key === "End") {
      event.preventDefault();
      setActive(count - 1);
    } else if (event.key === "Enter" && count > 0) {
      event.preventDefault();
      open(clamped);
    }
  };
  return [clamped, onKeyDown, setActive];
}

export function formatTime(date: Date | null): string {
  return date === null ? "—" : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}
