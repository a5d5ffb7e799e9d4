// The test-only accelerated clock behind STATEHOUSE_TEST_CLOCK_RATE (the soak bench's
// injectable clock): from the moment it is made, time runs `rate` times faster than the real
// clock, so retention by duration, the idempotency window and every commit time can be
// exercised within minutes. It never goes back while the real clock does not.

/** A clock that starts at `now()` and advances `rate` ms per real ms. */
export function acceleratedClock(rate: number, now: () => number = Date.now): () => number {
  if (!Number.isSafeInteger(rate) || rate < 1) throw new TypeError(`rate must be a positive integer, got ${rate}`);
  const start = now();
  return () => start + (now() - start) * rate;
}
