import { describe, expect, it } from "vitest";
import { randomId } from "./random-id.js";

describe("randomId", () => {
  it("is 32 lowercase hex characters, unique across refills of its byte pool", () => {
    const ids = Array.from({ length: 2000 }, () => randomId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Every hex digit shows up in every position over that many ids: the bytes are really used.
    for (let position = 0; position < 32; position++) {
      expect(new Set(ids.map((id) => id[position])).size).toBe(16);
    }
  });
});
