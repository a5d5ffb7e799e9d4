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
}
