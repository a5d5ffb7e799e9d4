import { expect, test } from "vitest";
import { unitProcessTuning } from "./statehouse-daemon.js";

test("the daemon starts with the systemd unit's Node flags and non-STATEHOUSE environment", () => {
  const shipped = unitProcessTuning();
  expect(shipped.nodeFlags).toContain("--max-semi-space-size=4");
  expect(shipped.env).toEqual({ MALLOC_ARENA_MAX: "1" });
  const unit = ["ExecStart=/opt/x/node_modules/.bin/node --a=1 --b /opt/x/apps/daemon/dist/bundle/statehoused.js", "Environment=STATEHOUSE_DATA_DIR=/d", "Environment=FOO=bar baz"].join("\n");
  expect(unitProcessTuning(unit)).toEqual({ nodeFlags: ["--a=1", "--b"], env: { FOO: "bar baz" } });
  expect(unitProcessTuning("ExecStart=/opt/x/node /opt/x/apps/daemon/dist/bundle/statehoused.js").nodeFlags).toEqual([]);
  expect(() => unitProcessTuning("ExecStart=/usr/bin/true")).toThrow(/ExecStart/);
});
