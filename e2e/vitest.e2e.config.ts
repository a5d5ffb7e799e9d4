// The crash suites against the real daemon: `nx run e2e:e2e`. One file at a
// time (the machine has 2 cores and every suite runs a daemon plus drivers).
import { sharedConfig } from "../vitest.shared.js";

export default sharedConfig({
  include: ["src/**/*.e2e.ts"],
  fileParallelism: false,
  testTimeout: 120_000,
  hookTimeout: 120_000,
});
