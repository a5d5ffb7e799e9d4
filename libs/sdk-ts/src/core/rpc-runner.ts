// Runs RPCs for a client: applies cancellation (the caller's signal and the
// client's close) and maps every failure through mapError.
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { StatehouseService } from "@statehouse/api";
import { StatehouseError } from "./errors.js";
import { mapError } from "./map-error.js";
import type { CallOptions } from "./types.js";

/** The generated Connect client of statehouse.v1.StatehouseService. */
export type StatehouseRpc = Client<typeof StatehouseService>;

/** Per-call options passed to the generated client. */
export interface RpcCallOptions {
  signal: AbortSignal;
}

/** Internal: executes calls on one transport. Not part of the public API. */
export class RpcRunner {
  readonly #rpc: StatehouseRpc;
  readonly #closed = new AbortController();
  /** False once the daemon answered UNIMPLEMENTED to a batched stream (an older statehouse.v1 daemon). */
  #batches = true;

  constructor(transport: Transport) {
    this.#rpc = createClient(StatehouseService, transport);
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed.signal.aborted;
  }

  /** Cancels every call in flight; later calls fail with `CLOSED`. */
  close(): void {
    this.#closed.abort(new StatehouseError("CLOSED", "the client was closed"));
  }

  #signal(callerSignal: AbortSignal | undefined, own?: AbortSignal): AbortSignal {
    if (this.closed) {
      throw new StatehouseError("CLOSED", "the client was closed");
    }
    const signals = [this.#closed.signal];
    if (callerSignal !== undefined) {
      signals.push(callerSignal);
    }
    if (own !== undefined) {
      signals.push(own);
    }
    return AbortSignal.any(signals);
  }

  #map(error: unknown, callerSignal: AbortSignal | undefined): Error {
    return mapError(error, { callerSignal, clientClosed: this.closed });
  }

  /** Runs one unary call. */
  async unary<T>(options: CallOptions | undefined, call: (rpc: StatehouseRpc, callOptions: RpcCallOptions) => Promise<T>): Promise<T> {
    const callerSignal = options?.signal;
    try {
      return await call(this.#rpc, { signal: this.#signal(callerSignal) });
    } catch (error) {
      throw this.#map(error, callerSignal);
    }
  }

  /**
   * Runs one server-streaming call lazily (on first iteration) and converts
   * each message. Leaving the loop early cancels the server stream.
   */
  async *stream<M, T>(
    options: CallOptions | undefined,
    open: (rpc: StatehouseRpc, callOptions: RpcCallOptions) => AsyncIterable<M>,
    convert: (message: M) => T,
  ): AsyncGenerator<T, void, undefined> {
    const callerSignal = options?.signal;
    const own = new AbortController();
    try {
      for await (const message of open(this.#rpc, { signal: this.#signal(callerSignal, own.signal) })) {
        yield convert(message);
      }
    } catch (error) {
      throw this.#map(error, callerSignal);
    } finally {
      own.abort();
    }
  }

  /**
   * Runs a batched server stream (ReplayBatches, WatchBatches) and yields its
   * events one at a time. When the daemon answers UNIMPLEMENTED before any
   * batch (it predates the batched RPCs), runs the per-event stream instead,
   * and keeps using it for this client's later streams.
   */
  async *batchedStream<B extends { events: M[] }, M, T>(
    options: CallOptions | undefined,
    openBatches: (rpc: StatehouseRpc, callOptions: RpcCallOptions) => AsyncIterable<B>,
    openSingle: (rpc: StatehouseRpc, callOptions: RpcCallOptions) => AsyncIterable<M>,
    convert: (message: M) => T,
  ): AsyncGenerator<T, void, undefined> {
    if (this.#batches) {
      let received = false;
      try {
        for await (const batch of this.stream(options, openBatches, (b: B) => b)) {
          received = true;
          for (const message of batch.events) yield convert(message);
        }
        return;
      } catch (error) {
        if (received || !(error instanceof StatehouseError) || error.status !== "UNIMPLEMENTED") throw error;
        this.#batches = false;
      }
    }
    yield* this.stream(options, openSingle, convert);
  }
}
