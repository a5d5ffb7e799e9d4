// The API key a client sends: validated once, then added to every call as
// `Authorization: Bearer <key>` by a Connect interceptor (the same header for
// Connect, gRPC and gRPC-Web).
import type { Interceptor } from "@connectrpc/connect";

/** Far longer than any key the daemon issues: a longer value is a mistake (a file's content, say). */
export const MAX_API_KEY_CHARS = 4096;

/** The environment variable the Node entry reads when no `apiKey` is given. */
export const API_KEY_ENV = "STATEHOUSE_API_KEY";

/**
 * Checks an API key: 1 to {@link MAX_API_KEY_CHARS} printable ASCII characters
 * without spaces (what `statehousectl auth create-key` prints), so it can never
 * break or inject into the header it travels in.
 *
 * @param source - what to name in the error (`apiKey`, `STATEHOUSE_API_KEY`)
 * @throws TypeError for anything else
 */
export function checkApiKey(apiKey: unknown, source: string): string {
  if (typeof apiKey !== "string") {
    throw new TypeError(`${source} must be a string, got ${typeof apiKey}`);
  }
  if (apiKey.length === 0 || apiKey.length > MAX_API_KEY_CHARS || !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new TypeError(
      `${source} must be 1 to ${MAX_API_KEY_CHARS} printable ASCII characters without spaces (an API key as statehousectl auth create-key prints it)`,
    );
  }
  return apiKey;
}

/** The interceptors of a client: one that sends the key, or none. */
export function credentialInterceptors(apiKey: string | undefined): Interceptor[] {
  if (apiKey === undefined) return [];
  const value = `Bearer ${apiKey}`;
  return [
    (next) => (request) => {
      request.header.set("authorization", value);
      return next(request);
    },
  ];
}
