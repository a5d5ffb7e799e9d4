// The engine seen from an RPC thread: the same calls as Engine, each answered
// by the engine's thread over a MessagePort (port-channel.ts batches the calls
// of one event-loop turn into one message). The engine's synchronous calls
// (begin, stageWrite, stats, ...) become promises here.
import type { MessagePort } from "node:worker_threads";
import type { AgentEvent, Engine, KvEntry, ReplayOptions, StoreBackup, WatchOptions } from "@statehouse/engine";
import { ChannelClient, ChannelServer, type StreamHandler, type UnaryHandler } from "./port-channel.js";

/** The engine's unary calls an RPC thread may make (replay, watch and backup are streams; close stays on the engine's thread). */
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

type AsyncMethod<K extends keyof Engine> = Engine[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
type EitherMethod<K extends keyof Engine> = Engine[K] extends (...args: infer A) => infer R ? (...args: A) => R | Promise<Awaited<R>> : never;

/**
 * What the RPC services use of the engine: the engine itself (its synchronous
 * calls answer at once) or an EngineProxy (every call is a promise). Callers await each call.
 */
export type EngineCalls = { [K in EngineCallName]: EitherMethod<K> } & Pick<Engine, "replay" | "watch" | "recovery" | "backup">;

/** The engine of an RPC thread: every call asynchronous. */
export type EngineProxy = { [K in EngineCallName]: AsyncMethod<K> } & Pick<Engine, "replay" | "watch" | "recovery" | "backup"> & { readonly channel: ChannelClient };

/** A backup over the channel: its header first, then its chunks. */
type BackupHeader = Pick<StoreBackup, "commitTs" | "storeFormat" | "estimatedEntries">;

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
    backup: async function* (signal, options) {
      const backup = await engine.backup(options as { chunkBytes?: number });
      try {
        yield { commitTs: backup.commitTs, storeFormat: backup.storeFormat, estimatedEntries: backup.estimatedEntries } satisfies BackupHeader;
        for await (const chunk of backup.chunks()) {
          if (signal.aborted) return;
          yield chunk;
        }
      } finally {
        backup.close();
      }
    },
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
export function engineProxy(port: MessagePort, recovery: Engine["recovery"], options: { window?: number } = {}): EngineProxy {
  const channel = new ChannelClient(port, options);
  const proxy: Record<string, unknown> = { channel, recovery };
  for (const name of ENGINE_CALLS) proxy[name] = (...args: unknown[]) => channel.call(name, args);
  proxy["replay"] = (namespace: string, agentId: string, replayOptions?: ReplayOptions) => {
    const [rest, signal] = withoutSignal(replayOptions);
    return channel.stream("replay", [namespace, agentId, rest], signal) as AsyncIterable<AgentEvent>;
  };
  proxy["watch"] = (namespace: string, agentId: string, watchOptions?: WatchOptions) => {
    const [rest, signal] = withoutSignal(watchOptions);
    return channel.stream("watch", [namespace, agentId, rest], signal) as AsyncIterable<AgentEvent>;
  };
  proxy["backup"] = async (backupOptions?: { chunkBytes?: number }): Promise<StoreBackup> => {
    const controller = new AbortController();
    const iterator = channel.stream("backup", [backupOptions ?? {}], controller.signal)[Symbol.asyncIterator]();
    const first = await iterator.next();
    if (first.done === true) throw new Error("backup stream ended before its header");
    const header = first.value as BackupHeader;
    return {
      ...header,
      async *chunks() {
        for (;;) {
          const next = await iterator.next();
          if (next.done === true) return;
          yield next.value as KvEntry[];
        }
      },
      close() {
        controller.abort();
        void iterator.return?.();
      },
    };
  };
  return proxy as EngineProxy;
}
