// ENOSPC on a real (tiny) filesystem: an 8 MiB tmpfs mounted for the test (needs root, as in CI
// here). Set STATEHOUSE_ENOSPC_TEST=off to leave it out on machines where mounting is impossible.
import { execFileSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineError } from "./engine-error.ts";
import { openEngine } from "./open-engine.ts";
import { collect } from "./test-support/engine-contract.ts";
import { withTempDir } from "./test-support/temp-dir.ts";

const enabled = process.env["STATEHOUSE_ENOSPC_TEST"] !== "off";

describe.runIf(enabled)("disk full (tmpfs)", () => {
  it("fails commits with STORAGE_FULL, stays readable and consistent, and commits again once space frees", async () => {
    const { dir: mountPoint, remove } = await withTempDir();
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint]);
    try {
      const filler = join(mountPoint, "filler");
      await writeFile(filler, Buffer.alloc(3 * 1024 * 1024));
      const dataDir = join(mountPoint, "data");
      await mkdir(dataDir);
      const engine = await openEngine({ dataDir, snapshotInterval: 10 });
      const ref = (i: number): { namespace: string; agentId: string; key: string } => ({ namespace: "default", agentId: "big", key: `k${i % 10}` });
      const big = { blob: "x".repeat(20_000) };
      let acked = 0;
      let failure: unknown;
      for (let i = 0; i < 2000 && failure === undefined; i++) {
        try {
          await engine.transact({ operations: [{ ...ref(i), value: { ...big, i } }] });
          acked++;
        } catch (error) {
          failure = error;
        }
      }
      expect(failure).toBeInstanceOf(EngineError);
      expect((failure as EngineError).code).toBe("STORAGE_FULL");
      expect(acked).toBeGreaterThan(0);

      // Still readable and consistent: the failed commit left nothing behind.
      expect(engine.commitTs()).toBe(BigInt(acked));
      const last = await engine.get(ref(acked - 1));
      expect(last).toMatchObject({ exists: true, commitTs: BigInt(acked) });
      expect((last.value as { i: number }).i).toBe(acked - 1);
      expect(await collect(engine.replay("default", "big"))).toHaveLength(acked);
      // Still full: refused again, without damage.
      await expect(engine.transact({ operations: [{ ...ref(0), value: big }] })).rejects.toMatchObject({ code: "STORAGE_FULL" });
      expect(engine.commitTs()).toBe(BigInt(acked));

      await rm(filler);
      const after = await engine.transact({ operations: [{ ...ref(0), value: { small: true } }] });
      expect(after.commitTs).toBe(BigInt(acked + 1));
      expect(await engine.get(ref(0))).toMatchObject({ value: { small: true }, commitTs: BigInt(acked + 1) });
      await engine.close();

      const reopened = await openEngine({ dataDir });
      expect(reopened.commitTs()).toBe(BigInt(acked + 1));
      const events = await collect(reopened.replay("default", "big"));
      expect(events.map((e) => e.commitTs)).toEqual(Array.from({ length: acked + 1 }, (_, i) => BigInt(i + 1)));
      const versions = new Map<string, bigint>();
      for (const event of events) {
        for (const op of event.operations) {
          expect(op.version).toBe((versions.get(op.key) ?? 0n) + 1n);
          versions.set(op.key, op.version);
        }
      }
      await reopened.close();
    } finally {
      execFileSync("umount", ["-l", mountPoint]);
      await remove();
    }
  });
});
