// The connect-node side of the access gate: requestGate authenticates a call
// from its headers (and TLS client certificate) before its body is read; the
// interceptor, which connect applies to every route, authorizes the parsed
// request against the access table and does the per-key bookkeeping.
import type { ContextValues, HandlerContext, Interceptor } from "@connectrpc/connect";
import { createContextKey, createContextValues } from "@connectrpc/connect";
import type { AccessGate, Credentials, PeerIdentity, Principal } from "./access-gate.js";

interface CallSource {
  peer: PeerIdentity | null;
  remote: string | undefined;
}

const SOURCE = createContextKey<CallSource>({ peer: null, remote: undefined }, { description: "statehouse call source" });
const PRINCIPAL = createContextKey<Principal | null>(null, { description: "statehouse principal" });

/** The caller of a call the gate let through (handlers: WhoAmI, listings filtered by readable namespaces). */
export function principalOf(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(PRINCIPAL);
  if (principal === null) throw new TypeError("principalOf: the call was not authenticated by the access gate");
  return principal;
}

/** connect-node's contextValues option: where a call came from. */
export function callSourceValues(peer: PeerIdentity | null, remote: string | undefined): ContextValues {
  return createContextValues().set(SOURCE, { peer, remote });
}

function procedurePath(ctx: { service: { typeName: string }; method: { name: string } }): string {
  return `/${ctx.service.typeName}/${ctx.method.name}`;
}

/** For requestGate: authenticates the call or throws UNAUTHENTICATED. */
export function authenticateCall(gate: AccessGate, ctx: HandlerContext): void {
  if (!gate.enforcing) {
    ctx.values.set(PRINCIPAL, gate.authenticate("", { authorization: undefined, peer: null }));
    return;
  }
  const source = ctx.values.get(SOURCE);
  const credentials: Credentials = { authorization: ctx.requestHeader.get("authorization") ?? undefined, peer: source.peer, remote: source.remote };
  ctx.values.set(PRINCIPAL, gate.authenticate(procedurePath(ctx), credentials));
}

async function* prepend<T>(first: T, rest: AsyncIterator<T>): AsyncIterable<T> {
  yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    yield next.value;
  }
}

/** Authorizes every call connect-node routes (deny by default: see rpc-access.ts). */
export function authInterceptor(gate: AccessGate): Interceptor {
  return (next) => async (req) => {
    if (!gate.enforcing) return next(req);
    const path = procedurePath(req);
    const principal = req.contextValues.get(PRINCIPAL);
    if (principal === null) throw new TypeError(`${path}: the call was not authenticated by the access gate`);
    if (!req.stream) return gate.unary(path, principal, req.message, () => next(req), (res) => res.message);
    // Server streams: the one request message is read here so the namespaces it names are checked before the handler runs.
    const input = req.message[Symbol.asyncIterator]();
    const first = await input.next();
    if (first.done === true) return next(req);
    gate.authorize(path, principal, first.value);
    const res = await next({ ...req, message: prepend(first.value, input) });
    if (!res.stream) return res;
    return { ...res, message: gate.stream(path, principal, () => res.message) };
  };
}
