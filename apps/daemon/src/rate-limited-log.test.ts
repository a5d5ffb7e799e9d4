// Repeated identical errors are logged once per window, with the count of
// the ones not logged; different errors, and the same error after the
// window, are logged. The clock is the test's own.
import { expect, it } from "vitest";
import { RateLimitedLog } from "./rate-limited-log.js";

function setup(maxKinds?: number) {
  const lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const sink = {
    error: (obj: object, msg?: string) => lines.push({ level: "error", obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg?: string) => lines.push({ level: "warn", obj: obj as Record<string, unknown>, msg }),
  };
  const clock = { now: 0 };
  const log = new RateLimitedLog(sink, { windowMs: 10_000, now: () => clock.now, ...(maxKinds === undefined ? {} : { maxKinds }) });
  return { lines, clock, log };
}

it("logs the first of a run of identical errors and counts the rest into the next line", () => {
  const { lines, clock, log } = setup();
  for (let i = 0; i < 1000; i++) log.error({ err: new Error("disk on fire"), procedure: "Transact", attempt: i }, "storage error");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ level: "error", msg: "storage error", obj: { procedure: "Transact", attempt: 0 } });
  clock.now = 10_000;
  log.error({ err: new Error("disk on fire"), procedure: "Transact" }, "storage error");
  expect(lines).toHaveLength(2);
  expect(lines[1]?.obj["suppressed"]).toBe(999);
  expect(lines[1]?.msg).toBe("storage error (999 more like it in the last 10 s were not logged)");
});

it("logs errors that differ in message, error, code, string field or level", () => {
  const { lines, log } = setup();
  const disk = Object.assign(new Error("EIO"), { code: "EIO" });
  log.error({ err: disk, procedure: "Transact" }, "storage error");
  log.error({ err: disk, procedure: "GetState" }, "storage error");
  log.error({ err: Object.assign(new Error("EIO"), { code: "ENOSPC" }), procedure: "Transact" }, "storage error");
  log.error({ err: new Error("other"), procedure: "Transact" }, "storage error");
  log.error({ err: disk, procedure: "Transact" }, "internal error in handler");
  log.warn({ err: disk, procedure: "Transact" }, "storage error");
  log.warn({ remote: "10.0.0.1", open: 5 }, "connection refused");
  log.warn({ remote: "10.0.0.2", open: 5 }, "connection refused");
  log.warn({ remote: "10.0.0.1", open: 6 }, "connection refused");
  expect(lines.map((l) => `${l.level} ${l.msg ?? ""} ${String(l.obj["procedure"] ?? l.obj["remote"])}`)).toEqual([
    "error storage error Transact",
    "error storage error GetState",
    "error storage error Transact",
    "error storage error Transact",
    "error internal error in handler Transact",
    "warn storage error Transact",
    "warn connection refused 10.0.0.1",
    "warn connection refused 10.0.0.2",
  ]);
});

it("reports what is still suppressed on flush, and when a kind is forgotten for lack of room", () => {
  const { lines, log } = setup(2);
  log.error({ procedure: "A" }, "boom");
  log.error({ procedure: "A" }, "boom");
  log.error({ procedure: "B" }, "boom");
  log.error({ procedure: "C" }, "boom"); // forgets A, reporting its one suppressed line
  expect(lines.map((l) => [l.obj["procedure"], l.obj["suppressed"]])).toEqual([
    ["A", undefined],
    ["B", undefined],
    ["A", 1],
    ["C", undefined],
  ]);
  log.error({ procedure: "C" }, "boom");
  log.flush();
  expect(lines.at(-1)?.obj).toMatchObject({ procedure: "C", suppressed: 1 });
  log.flush();
  expect(lines).toHaveLength(5);
});
