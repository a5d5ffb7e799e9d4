// Runs RPCs for a client: applies cancellation (the caller's signal and the
// client's close), maps every failure through mapError, and fails over between
// the client's addresses: a call that fails with a ConnectionError moves on to
// the next address, each address at most once per call. Every unary call is a
// read or a Transact carrying an idempotency key, so resending it through
// another daemon applies a commit at most once. Backoff retries stay in
// StatehouseClient (transact, withTransaction).
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { StatehouseService } from "@statehouse/api";
import { ConnectionError, StatehouseError } from "./errors.js";
import { mapError } from "./map-error.js";
import type { CallOptions } from "./types.js";

/** The generated Connect client of statehouse.v1.StatehouseService. */
export type StatehouseRpc = Client<typeof StatehouseService>;

/** Per-call options passed to the generated client. */
export interface RpcCallOptions {
  signal: AbortSignal;
}

/** Internal: executes calls on the transports of one or more addresses. Not part of the public API. */
export class RpcRunner {
  readonly #rpcs: StatehouseRpc[];
  /** Index of the address calls go to, until a connection failure moves it on. */
  #current = 0;
  readonly #closed = new AbortController();
  /** False once the daemon answered UNIMPLEMENTED to a batched stream (an older statehouse.v1 daemon). */
  #batches = true;

  /** @param transports - one per address, in the order they are tried (at least one) */
  constructor(transports: readonly Transport[]) {
    if (transports.length === 0) throw new TypeError("at least one address is needed");
    this.#rpcs = transports.map((transport) => createClient(StatehouseService, transport));
  }

  /** Index of the address calls go to now (moves on after a connection failure). */
  get currentAddress(): number {
    return this.#current;
  }

  /**
   * After `error` on address `index`: true when the call should be tried on the
   * next address (a connection failure, and addresses left this call). Moves
   * the client on unless another call already did.
   */
  #failOver(error: Error, index: number, tried: number): boolean {
    if (!(error instanceof ConnectionError) || this.closed) return false;
    if (this.#current === index) this.#current = (index + 1) % this.#rpcs.length;
    return tried < this.#rpcs.length;
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
    for (let tried = 1; ; tried++) {
      const index = this.#current;
      try {
        return await call(this.#rpcs[index] as StatehouseRpc, { signal: this.#signal(callerSignal) });
      } catch (error) {
        const mapped = this.#map(error, callerSignal);
        if (!this.#failOver(mapped, index, tried)) throw mapped;
      }
    }
  }

  /**
   * Runs one server-streaming call lazily (on first iteration) and converts
   * each message. Leaving the loop early cancels the server stream. A stream
   * that fails before its first message is opened on the next address; one
   * that breaks later throws (the caller resumes from its last commit_ts) and
   * the client's next call goes to the next address.
   */
  async *stream<M, T>(
    options: CallOptions | undefined,
    open: (rpc: StatehouseRpc, callOptions: RpcCallOptions) => AsyncIterable<M>,
    convert: (message: M) => T,
  ): AsyncGenerator<T, void, undefined> {
    const callerSignal = options?.signal;
    for (let tried = 1; ; tried++) {
      const index = this.#current;
      const own = new AbortController();
      let received = false;
      try {
        for await (const message of open(this.#rpcs[index] as StatehouseRpc, { signal: this.#signal(callerSignal, own.signal) })) {
          received = true;
          yield convert(message);
        }
        return;
      } catch (error) {
        const mapped = this.#map(error, callerSignal);
        if (!this.#failOver(mapped, index, tried) || received) throw mapped;
      } finally {
        own.abort();
      }
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
