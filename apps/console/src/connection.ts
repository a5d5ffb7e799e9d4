// The console's one client: the TS SDK's browser entry over Connect, to the origin that
// served the page. An API key, once the daemon asked for one, lives in sessionStorage
// (gone with the tab) and is sent as `Authorization: Bearer` on every call.
import { ConnectionError, Statehouse, StatehouseError } from "@statehouse/sdk";

const KEY_ITEM = "statehouse.apiKey";

export function apiKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_ITEM);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  if (key === null || key === "") sessionStorage.removeItem(KEY_ITEM);
  else sessionStorage.setItem(KEY_ITEM, key);
}

/** fetch with the stored API key (read at each call, so a key entered later applies at once). */
const authorizedFetch: typeof fetch = (input, init) => {
  const key = apiKey();
  if (key === null) return fetch(input, init);
  const headers = new Headers(init?.headers);
  headers.set("authorization", `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};

export const client = new Statehouse({ url: location.origin, fetch: authorizedFetch });

export type ErrorKind = "down" | "unauthenticated" | "denied" | "compacted" | "not-found" | "other";

export interface ShownError {
  kind: ErrorKind;
  title: string;
  message: string;
}

/** What went wrong, in words for the page: the daemon down, access denied, history compacted... */
export function describeError(error: unknown): ShownError {
  if (error instanceof ConnectionError) {
    return { kind: "down", title: "The daemon is unreachable", message: `No answer from ${location.origin}: retrying. (${error.message})` };
  }
  if (error instanceof StatehouseError) {
    const code: string = error.code;
    if (code === "UNAUTHENTICATED" || error.status === "UNAUTHENTICATED") {
      return { kind: "unauthenticated", title: "An API key is needed", message: error.message };
    }
    if (code === "PERMISSION_DENIED" || error.status === "PERMISSION_DENIED") {
      const ns = error.details["namespace"];
      const role = error.details["role"];
      return {
        kind: "denied",
        title: "Access denied",
        message: ns === undefined ? error.message : `This API key lacks the ${role ?? "needed"} role on namespace "${ns}". (${error.message})`,
      };
    }
    if (code === "HISTORY_COMPACTED") {
      const horizon = error.details["horizon_commit_ts"];
      return {
        kind: "compacted",
        title: "History compacted",
        message: horizon === undefined ? error.message : `Events before commit_ts ${horizon} were removed by the namespace's retention. (${error.message})`,
      };
    }
    if (code === "KEY_NOT_FOUND" || code === "VERSION_NOT_FOUND") return { kind: "not-found", title: "Not found", message: error.message };
    return { kind: "other", title: `Error ${code}`, message: error.message };
  }
  return { kind: "other", title: "Error", message: error instanceof Error ? error.message : String(error) };
}
