// One lint config for every TS project. Module boundaries are enforced with
// nx tags (see each project.json):
//   scope:engine  -> may import nothing from the workspace (and no RPC code)
//   scope:api     -> generated statehouse.v1 code; imports nothing
//   scope:sdk     -> may import only scope:api (never the engine)
//   scope:storage -> a storage backend for the engine (PostgreSQL): scope:engine only (and scope:testing in tests)
//   scope:testing -> services tests, the bench and e2e start (the daemon, PostgreSQL, Chromium); imports
//                    nothing, and outside bench/ and e2e/ only tests (*.test.ts, test-support/) import it
//   scope:daemon  -> may import scope:engine, scope:storage and scope:api (and scope:testing in tests)
//   scope:integration -> framework integrations: only scope:sdk (no engine, no RPC code)
//   scope:console -> may import only scope:sdk (the daemon is reached through the SDK)
//   type:e2e, type:bench -> may import everything
import nx from "@nx/eslint-plugin";

const rpcPackages = ["@connectrpc/*", "@bufbuild/*", "@grpc/*", "@statehouse/api"];
// scope:testing (libs/test-services) is for tests: no shipped source of an app or lib imports it.
const testOnly = { group: ["@statehouse/test-services"], message: "@statehouse/test-services (the test daemon, PostgreSQL, Chromium) is for tests, test-support/, bench/ and e2e/ only." };

export default [
  ...nx.configs["flat/base"],
  ...nx.configs["flat/typescript"],
  {
    ignores: ["**/dist/**", "**/node_modules/**", "**/src/gen/**", "**/.venv/**", "sdks/**", "**/vite.config.*.timestamp*", "**/testdata/**"],
  },
  {
    files: ["**/*.ts", "**/*.tsx", "**/*.mts", "**/*.mjs"],
    rules: {
      "@nx/enforce-module-boundaries": [
        "error",
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: "scope:engine", onlyDependOnLibsWithTags: [], bannedExternalImports: rpcPackages },
            { sourceTag: "scope:api", onlyDependOnLibsWithTags: [] },
            { sourceTag: "scope:sdk", onlyDependOnLibsWithTags: ["scope:api", "scope:testing"], bannedExternalImports: ["@nxtedition/rocksdb", "@statehouse/engine"] },
            { sourceTag: "scope:storage", onlyDependOnLibsWithTags: ["scope:engine", "scope:testing"], bannedExternalImports: rpcPackages },
            { sourceTag: "scope:testing", onlyDependOnLibsWithTags: [] },
            { sourceTag: "scope:daemon", onlyDependOnLibsWithTags: ["scope:engine", "scope:storage", "scope:api", "scope:testing"] },
            { sourceTag: "scope:integration", onlyDependOnLibsWithTags: ["scope:sdk"], bannedExternalImports: [...rpcPackages, "@nxtedition/rocksdb", "@statehouse/engine"] },
            // The console talks to the daemon only through the SDK (its browser entry).
            { sourceTag: "scope:console", onlyDependOnLibsWithTags: ["scope:sdk"], bannedExternalImports: ["@statehouse/engine", "@statehouse/api", "@connectrpc/*", "@bufbuild/*"] },
            { sourceTag: "type:e2e", onlyDependOnLibsWithTags: ["*"] },
            { sourceTag: "type:bench", onlyDependOnLibsWithTags: ["*"] },
          ],
        },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["apps/*/src/**/*.ts", "libs/*/src/**/*.ts"],
    ignores: ["**/*.test.ts", "**/test-support/**", "libs/test-services/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [testOnly] }],
    },
  },
  {
    // The framework integrations run wherever the client they are given runs.
    files: ["libs/langgraph-checkpoint/src/**/*.ts", "libs/openai-agents-session/src/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["node:*"], message: "Integrations import no Node built-ins (they run in browsers too)." }, testOnly] }],
    },
  },
  {
    // The browser entry of the SDK must not pull in anything Node-only.
    files: ["libs/sdk-ts/src/browser.ts", "libs/sdk-ts/src/browser/**/*.ts", "libs/sdk-ts/src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "The browser entry must not import Node built-ins." },
            { group: ["@connectrpc/connect-node"], message: "The browser entry uses @connectrpc/connect-web." },
            testOnly,
          ],
        },
      ],
    },
  },
];
