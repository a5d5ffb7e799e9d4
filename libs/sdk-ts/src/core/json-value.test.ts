import { describe, expect, it } from "vitest";
import { StatehouseError } from "./errors.js";
import { validateValue } from "./json-value.js";

describe("validateValue", () => {
  it("accepts plain JSON objects and returns a deep copy", () => {
    const value = { a: [1, { b: null }], s: "ü", t: true, o: Object.create(null) as object };
    const copy = validateValue(value, 1000);
    expect(copy).toEqual(value);
    expect(copy).not.toBe(value);
    expect(copy["a"]).not.toBe(value.a);
  });

  it("accepts a value that is shared (not circular) twice", () => {
    const shared = { x: 1 };
    expect(validateValue({ a: shared, b: shared }, 1000)).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it.each([
    ["null", null],
    ["an array", [1]],
    ["a string", "s"],
    ["a Date", new Date(0)],
    ["a class instance", new (class Thing {})()],
    ["a nested function", { f: () => 1 }],
    ["a nested undefined", { u: undefined }],
    ["a nested bigint", { b: 1n }],
    ["Infinity", { n: Number.POSITIVE_INFINITY }],
    ["a symbol key", { [Symbol("s")]: 1 }],
  ])("rejects %s with TypeError", (_label, value) => {
    expect(() => validateValue(value, 1000)).toThrow(TypeError);
  });

  it("rejects circular values with TypeError", () => {
    const value: Record<string, unknown> = { list: [] };
    (value["list"] as unknown[]).push(value);
    expect(() => validateValue(value, 1000)).toThrow(/circular/);
  });

  it("measures size as UTF-8 bytes of the JSON text", () => {
    const value = { s: "é".repeat(10) }; // {"s":"..."} = 8 + 20 bytes
    expect(validateValue(value, 28)).toEqual(value);
    const error = (() => {
      try {
        validateValue(value, 27);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(StatehouseError);
    expect(error).toMatchObject({ code: "LIMIT_EXCEEDED", details: { limit: "max_value_bytes", max: "27", actual: "28" } });
  });
});
