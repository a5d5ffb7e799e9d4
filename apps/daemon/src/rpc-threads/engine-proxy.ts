// The engine seen from an RPC thread: the same calls as Engine, each answered
// by the engine's thread over a MessagePort (port-channel.ts batches the calls
// of one event-loop turn into one message). The engine's synchronous calls
// (begin, stageWrite, stats, ...) become promises here.
import type { MessagePort } from "node:worker_threads";
import type { AgentEvent, Engine, ReplayOptions, WatchOptions } from "@statehouse/engine";
import { ChannelClient, ChannelServer, type StreamHandler, type UnaryHandler } from "./port-channel.js";

/** The engine calls an RPC thread may make (backup and close stay on the engine's thread). */
export const ENGINE_CALLS = [
  "begin",
  "stageWrite",
  "stageDelete",
  "commit",
  "read",
  "abort",
  "transact",
  "get",
  "getAtVersion",
  "getAsOf",
  "getAgentAsOf",
  "listKeys",
  "scanPrefix",
  "listKeysPage",
  "scanPrefixPage",
  "getAgentAsOfPage",
  "listNamespaces",
  "listAgents",
  "purgeIdempotencyKeys",
  "retention",
  "listRetention",
  "setRetentionPolicy",
  "purge",
  "compactHistory",
  "commitTs",
  "stats",
] as const satisfies readonly (keyof Engine)[];

export type EngineCallName = (typeof ENGINE_CALLS)[number];

type Method<K extends keyof Engine> = Engine[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;

/** An engine whose every call is asynchronous: the engine itself, or an EngineProxy. */
export type EngineCalls = { [K in EngineCallName]: Method<K> } & Pick<Engine, "replay" | "watch">;

/**
 * Serves `engine` on `port` (on the engine's thread). Streams end when the
 * caller cancels them or when `closeStreams` is called.
 */
export function serveEngine(engine: Engine, port: MessagePort): ChannelServer {
  const unary: Record<string, UnaryHandler> = {};
  for (const name of ENGINE_CALLS) {
    const fn = engine[name] as (...args: unknown[]) => unknown;
    unary[name] = (...args) => fn.apply(engine, args);
  }
  const streams: Record<string, StreamHandler> = {
    replay: (signal, namespace, agentId, options) => engine.replay(namespace as string, agentId as string, { ...(options as ReplayOptions), signal }),
    watch: (signal, namespace, agentId, options) => engine.watch(namespace as string, agentId as string, { ...(options as WatchOptions), signal }),
  };
  return new ChannelServer(port, { unary, streams });
}

/** Options without their signal (it cannot cross threads; the proxy cancels the stream instead). */
function withoutSignal<T extends { signal?: AbortSignal }>(options: T | undefined): [Omit<T, "signal">, AbortSignal | undefined] {
  if (options === undefined) return [{} as Omit<T, "signal">, undefined];
  const { signal, ...rest } = options;
  return [rest, signal];
}

/** Builds the engine proxy of an RPC thread over `port` (the other end is served by serveEngine). */
export function engineProxy(port: MessagePort, options: { window?: number } = {}): EngineCalls & { readonly channel: ChannelClient } {
  const channel = new ChannelClient(port, options);
  const proxy: Record<string, unknown> = { channel };
  for (const name of ENGINE_CALLS) proxy[name] = (...args: unknown[]) => channel.call(name, args);
  proxy["replay"] = (namespace: string, agentId: string, replayOptions?: ReplayOptions) => {
    const [rest, signal] = withoutSignal(replayOptions);
    return channel.stream("replay", [namespace, agentId, rest], signal) as AsyncIterable<AgentEvent>;
  };
  proxy["watch"] = (namespace: string, agentId: string, watchOptions?: WatchOptions) => {
    const [rest, signal] = withoutSignal(watchOptions);
    return channel.stream("watch", [namespace, agentId, rest], signal) as AsyncIterable<AgentEvent>;
  };
  return proxy as EngineCalls & { readonly channel: ChannelClient };
}
