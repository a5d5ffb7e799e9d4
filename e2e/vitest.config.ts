// Unit tests of the harness and the checkers (no daemon): `nx run e2e:test`.
// The crash suites run with vitest.e2e.config.ts (`nx run e2e:e2e`).
import { sharedConfig } from "../vitest.shared.js";

export default sharedConfig();
