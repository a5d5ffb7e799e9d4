// Every process the harness starts is registered here and SIGKILLed when the
// test process exits, whatever the way it exits, so no daemon or driver
// outlives a suite.
import type { ChildProcess } from "node:child_process";

const children = new Set<ChildProcess>();
let hooked = false;

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const running of children) running.kill("SIGKILL");
    });
  }
}
