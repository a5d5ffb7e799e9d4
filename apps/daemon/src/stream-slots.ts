// Bounds the server-streaming calls (Replay, Watch, health Watch) open at
// once across the whole daemon.
import { limitExceeded } from "./rpc-errors.js";

export class StreamSlots {
  readonly #max: number;
  readonly #onChange: ((open: number) => void) | undefined;
  #open = 0;

  constructor(max: number, onChange?: (open: number) => void) {
    this.#max = max;
    this.#onChange = onChange;
  }

  get open(): number {
    return this.#open;
  }

  /** Takes a slot or throws RESOURCE_EXHAUSTED naming max_streaming_calls; dispose to release. */
  acquire(): Disposable {
    if (this.#open >= this.#max) {
      throw limitExceeded("max_streaming_calls", `too many open streams: the max_streaming_calls limit is ${this.#max} (STATEHOUSE_MAX_STREAMING_CALLS)`);
    }
    this.#open += 1;
    this.#onChange?.(this.#open);
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        this.#open -= 1;
        this.#onChange?.(this.#open);
      },
    };
  }
}
