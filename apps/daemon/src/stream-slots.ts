// Bounds the server-streaming calls (Replay, Watch, health Watch) open at
// once across the whole daemon: with RPC threads, every thread counts in one
// shared counter (a SharedArrayBuffer).
import { limitExceeded } from "./rpc-errors.js";

export class StreamSlots {
  readonly #max: number;
  readonly #onChange: ((open: number) => void) | undefined;
  /** Streams open in the whole daemon (shared by every RPC thread). */
  readonly #shared: Int32Array;
  /** Streams open on this thread. */
  #open = 0;

  /** `shared`: an Int32Array of one element over a SharedArrayBuffer that every RPC thread passes (default: this thread's own). */
  constructor(max: number, onChange?: (open: number) => void, shared?: Int32Array) {
    this.#max = max;
    this.#onChange = onChange;
    this.#shared = shared ?? new Int32Array(new SharedArrayBuffer(4));
  }

  /** A counter to pass to the StreamSlots of other threads. */
  get shared(): Int32Array {
    return this.#shared;
  }

  /** Streams open on this thread. */
  get open(): number {
    return this.#open;
  }

  /** Takes a slot or throws RESOURCE_EXHAUSTED naming max_streaming_calls; dispose to release. */
  acquire(): Disposable {
    if (Atomics.add(this.#shared, 0, 1) >= this.#max) {
      Atomics.sub(this.#shared, 0, 1);
      throw limitExceeded("max_streaming_calls", `too many open streams: the max_streaming_calls limit is ${this.#max} (STATEHOUSE_MAX_STREAMING_CALLS)`);
    }
    this.#open += 1;
    this.#onChange?.(this.#open);
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        Atomics.sub(this.#shared, 0, 1);
        this.#open -= 1;
        this.#onChange?.(this.#open);
      },
    };
  }
}
