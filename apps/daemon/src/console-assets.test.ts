// /console on the daemon's port: the console's built files (from STATEHOUSE_CONSOLE_DIR),
// deep links answered with index.html, gzip, security headers; and a daemon whose console
// was never built still starts and serves RPC, /console saying how to build it.
import http from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { GrpcJsDriver } from "./test-support/rpc-drivers.js";

function request(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "statehouse-console-dir-"));
  await writeFile(join(dir, "index.html"), '<!doctype html><div id="app"></div><script type="module" src="/console/console.js"></script>');
  await writeFile(join(dir, "console.js"), `console.log(${JSON.stringify("x".repeat(5000))});`);
  await writeFile(join(dir, "secret.txt"), "not a console file type");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a built console", () => {
  let daemon: DaemonProcess;
  beforeAll(async () => {
    daemon = await DaemonProcess.start({ env: { STATEHOUSE_CONSOLE_DIR: dir } });
  });
  afterAll(async () => {
    await daemon.dispose();
  });

  it("serves index.html for /console/ and for every deep link, with a same-origin CSP", async () => {
    const redirect = await request(`${daemon.url}/console`);
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe("/console/");
    for (const path of ["/console/", "/console/timeline?ns=a&agent=b", "/console/some/deeper/link"]) {
      const res = await request(`${daemon.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(res.body.toString()).toContain('<div id="app">');
      expect(res.headers["content-security-policy"]).toContain("connect-src 'self'");
      expect(res.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
    }
  });

  it("serves the built files, gzipped when asked, and nothing else from the directory", async () => {
    const plain = await request(`${daemon.url}/console/console.js`);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const gz = await request(`${daemon.url}/console/console.js`, { headers: { "accept-encoding": "gzip, br" } });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.body.length).toBeLessThan(plain.body.length / 10);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    expect((await request(`${daemon.url}/console/secret.txt`)).status).toBe(404);
    expect((await request(`${daemon.url}/console/missing.js`)).status).toBe(404);
    const traversal = await request(`${daemon.url}/console/..%2f..%2fpackage.json`);
    expect(traversal.body.toString()).not.toContain('"name"');
    expect((await request(`${daemon.url}/console/`, { method: "POST" })).status).toBe(405);
    const head = await request(`${daemon.url}/console/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });
});

describe("a console that was never built", () => {
  it("leaves the daemon serving RPC; /console says how to build it", async () => {
    const daemon = await DaemonProcess.start({ env: { STATEHOUSE_CONSOLE_DIR: join(dir, "nowhere") } });
    const rpc = new GrpcJsDriver(daemon.address);
    try {
      const res = await request(`${daemon.url}/console/`);
      expect(res.status).toBe(404);
      expect(res.body.toString()).toContain("npx nx run console:build");
      expect(await rpc.unary(StatehouseService.method.health, {})).toMatchObject({ status: "ok" });
      expect((await request(`${daemon.url}/healthz`)).status).toBe(200);
    } finally {
      rpc.close();
      await daemon.dispose();
    }
  });
});
