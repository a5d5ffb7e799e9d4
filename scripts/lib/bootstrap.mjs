// Brings a fresh checkout to a runnable state with no manual step. Plain ESM
// that also runs on an old system Node: it installs the npm dependencies
// (which include Node 24 itself, from the npm registry's `node` package), then
// re-executes the calling script under that Node.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root, venvBin, venvDir } from "./python.mjs";

export { root };
const binDir = join(root, "node_modules", ".bin");
export const nodeBin = join(binDir, "node");

function log(message) {
  console.log(`[statehouse] ${message}`);
}

function hashFile(file) {
  return createHash("sha256").update(readFileSync(join(root, file))).digest("hex");
}

/**
 * Installs the npm dependencies when node_modules is missing (`npm ci`) or older than
 * package-lock.json (`npm install`, which never wipes a tree that may be in use).
 */
export function ensureNodeModules() {
  const hidden = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(nodeBin) && existsSync(hidden) && statSync(hidden).mtimeMs >= statSync(lock).mtimeMs) return;
  const fresh = !existsSync(join(root, "node_modules"));
  log(`installing npm dependencies (npm ${fresh ? "ci" : "install"})…`);
  execFileSync("npm", [fresh ? "ci" : "install", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
}

/** Re-executes this script under the project's own Node 24 unless already on it. */
export function reexecUnderProjectNode(script) {
  if (process.versions.node.split(".")[0] === "24") return;
  const result = spawnSync(nodeBin, [script, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}

// The Python packages of this repo, installed editable with their dev tools into .venv (one pip call,
// so the integrations resolve `statehouse` to sdks/python).
// e2e/powerloss: the FUSE filesystem of the power-loss suite (mfusepy; libfuse 3 from ensureFuse).
const PYTHON_PACKAGES = ["sdks/python", "sdks/langgraph-checkpoint-statehouse", "sdks/openai-agents-statehouse", "e2e/powerloss"];

/** Creates .venv and installs the Python packages (editable) with their dev tools when a pyproject.toml changed. */
export function ensurePythonVenv() {
  const stamp = join(venvDir, ".statehouse-install-stamp");
  const want = createHash("sha256")
    .update(PYTHON_PACKAGES.map((dir) => `${dir}:${hashFile(`${dir}/pyproject.toml`)}`).join("\n"))
    .digest("hex");
  if (existsSync(venvBin("python")) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) return;
  if (!existsSync(venvBin("python"))) {
    log("creating the Python virtualenv in .venv…");
    execFileSync("python3", ["-m", "venv", venvDir], { cwd: root, stdio: "inherit" });
  }
  log(`installing the Python packages and their dev tools into .venv (${PYTHON_PACKAGES.join(", ")})…`);
  const editable = PYTHON_PACKAGES.flatMap((dir) => ["-e", `${dir}[dev]`]);
  execFileSync(venvBin("python"), ["-m", "pip", "install", "--disable-pip-version-check", "-q", ...editable], { cwd: root, stdio: "inherit" });
  writeFileSync(stamp, want);
}

/** Installs Debian's chromium for the browser tests when it is missing (needs root). */
function aptGet(args) {
  const [command, ...rest] = process.getuid?.() === 0 ? ["apt-get", ...args] : ["sudo", "apt-get", ...args];
  execFileSync(command, rest, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
}

export function ensureChromium() {
  if (existsSync("/usr/bin/chromium")) return;
  log("installing Debian's chromium for the browser tests (apt-get)…");
  aptGet(["update", "-q"]);
  aptGet(["install", "-y", "-q", "--no-install-recommends", "chromium", "fonts-liberation"]);
}

/** certutil (NSS tools): the SDK's browser test adds its test CA to headless Chromium's NSS database with it. */
export function ensureCertutil() {
  if (existsSync("/usr/bin/certutil")) return;
  log("installing Debian's libnss3-tools (certutil) for the browser TLS test (apt-get)…");
  aptGet(["update", "-q"]);
  aptGet(["install", "-y", "-q", "--no-install-recommends", "libnss3-tools"]);
}

/** The openssl CLI: the daemon's TLS tests make a throwaway CA with it at test time. */
export function ensureOpenssl() {
  if (existsSync("/usr/bin/openssl")) return;
  log("installing Debian's openssl for the TLS tests (apt-get)…");
  aptGet(["update", "-q"]);
  aptGet(["install", "-y", "-q", "--no-install-recommends", "openssl"]);
}

/** Installs Debian's fuse3 (libfuse3 and fusermount3) for the power-loss suite when it is missing (needs root). */
export function ensureFuse() {
  if (existsSync("/usr/bin/fusermount3") && ["/usr/lib/x86_64-linux-gnu/libfuse3.so.3", "/usr/lib/aarch64-linux-gnu/libfuse3.so.3"].some(existsSync)) return;
  log("installing Debian's fuse3 for the power-loss suite (apt-get)…");
  aptGet(["update", "-q"]);
  aptGet(["install", "-y", "-q", "--no-install-recommends", "fuse3"]);
}

/** Runs the workspace's nx with caching on and no cloud, streaming output. */
export function nx(args, env = {}) {
  const result = spawnSync(join(binDir, "nx"), [...args, "--output-style=stream"], {
    cwd: root,
    stdio: "inherit",
    env: {
      ...process.env,
      // Every `node` that nx's commands start is the project's Node 24.
      PATH: `${binDir}:${process.env.PATH ?? ""}`,
      NX_NO_CLOUD: "true",
      NX_DAEMON: "false",
      NX_TUI: "false",
      ...env,
    },
  });
  return result.status ?? 1;
}
