// Test helper: bundles `code` for browsers with esbuild (workspace sources,
// `browser` export condition) and lists the modules that went in, so a
// package can show it pulls in nothing Node-only.
import { build } from "esbuild";

export async function bundleForBrowser(code: string, resolveDir: string): Promise<{ text: string; inputs: string[] }> {
  const result = await build({
    stdin: { contents: code, loader: "ts", resolveDir },
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["@statehouse/source"],
    logLevel: "silent",
    metafile: true,
  });
  return { text: result.outputFiles[0]?.text ?? "", inputs: Object.keys(result.metafile.inputs) };
}
