import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";
import { acceleratedClock } from "./test-clock.js";

describe("acceleratedClock (STATEHOUSE_TEST_CLOCK_RATE)", () => {
  it("starts at the real time and runs `rate` times faster", () => {
    let real = 1_000_000;
    const clock = acceleratedClock(60, () => real);
    expect(clock()).toBe(1_000_000);
    real += 1000;
    expect(clock()).toBe(1_060_000);
    real += 500;
    expect(clock()).toBe(1_090_000);
  });

  it("rate 1 is the real clock", () => {
    let real = 5;
    const clock = acceleratedClock(1, () => real);
    real = 17;
    expect(clock()).toBe(17);
  });

  it("refuses a rate that is not a positive integer", () => {
    expect(() => acceleratedClock(0)).toThrow(TypeError);
    expect(() => acceleratedClock(1.5)).toThrow(TypeError);
  });

  it("is off by default and parsed from the environment", () => {
    expect(resolveConfig({ env: {} }).testClockRate).toBeNull();
    expect(resolveConfig({ env: { STATEHOUSE_TEST_CLOCK_RATE: "60" } }).testClockRate).toBe(60);
    expect(() => resolveConfig({ env: { STATEHOUSE_TEST_CLOCK_RATE: "0" } })).toThrow(/STATEHOUSE_TEST_CLOCK_RATE/);
  });
});
