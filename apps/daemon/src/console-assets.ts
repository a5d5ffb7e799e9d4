// The web console (apps/console) on the daemon's own port: GET /console and everything
// under it. The files are the console's build output, read once at the first request and
// kept in memory with their gzip form; only the files found in the directory at that moment
// are served (no path from the URL ever reaches the filesystem). Any other path under
// /console answers index.html, so the console's deep links load. When the console was not
// built, /console answers 404 with the command that builds it; RPC is unaffected either way.
import { readdir, readFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { PACKAGE_DIR } from "./package-dir.js";
import type { HttpRequest, HttpResponse } from "./protocol-server.js";

export const CONSOLE_PATH = "/console";

/** Where `npx nx run console:build` writes: apps/console/dist of the checkout this daemon runs from. */
export const DEFAULT_CONSOLE_DIR = resolve(PACKAGE_DIR, "../console/dist");

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".map": "application/json",
};

// The console only talks to this origin (Connect over fetch): nothing else is allowed to load.
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

const TEXT = { "content-type": "text/plain; charset=utf-8" };

function reply(res: HttpResponse, status: number, headers: Record<string, string>, body?: string | Buffer): void {
  res.writeHead(status, headers);
  if (body === undefined) res.end();
  else res.end(body);
}

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

export interface ConsoleAssetsLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export class ConsoleAssets {
  readonly dir: string;
  readonly #log: ConsoleAssetsLogger;
  #assets: Promise<Map<string, Asset> | null> | null = null;

  constructor(dir: string | null, log: ConsoleAssetsLogger) {
    this.dir = dir ?? DEFAULT_CONSOLE_DIR;
    this.#log = log;
  }

  /** Serves the request when its path is /console or under it; false leaves it to the caller. */
  handle(req: HttpRequest, res: HttpResponse): boolean {
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    if (path !== CONSOLE_PATH && !path.startsWith(`${CONSOLE_PATH}/`)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      reply(res, 405, { allow: "GET, HEAD", ...TEXT }, "the console is read with GET\n");
      return true;
    }
    if (path === CONSOLE_PATH) {
      // Relative asset URLs resolve under /console/ only with the slash.
      reply(res, 308, { location: `${CONSOLE_PATH}/` });
      return true;
    }
    this.#load().then(
      (assets) => this.#send(req, res, path.slice(CONSOLE_PATH.length + 1), assets),
      (error: unknown) => {
        this.#log.warn({ err: error, dir: this.dir }, "cannot read the console's assets");
        this.#assets = null;
        reply(res, 500, TEXT, "the console's assets could not be read (see the daemon's log)\n");
      },
    );
    return true;
  }

  #send(req: HttpRequest, res: HttpResponse, name: string, assets: Map<string, Asset> | null): void {
    if (assets === null) {
      reply(res, 404, TEXT, `The web console is not built (no ${join(this.dir, "index.html")}).\nBuild it with: npx nx run console:build   (npm start does), then reload.\nThe daemon serves RPC either way.\n`);
      return;
    }
    // Files by their name; every other path is a deep link into the single page.
    const asset = assets.get(name) ?? (name.includes(".") && !name.includes("/") ? undefined : assets.get("index.html"));
    if (asset === undefined) {
      reply(res, 404, TEXT, "no such console file\n");
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    const body = gzip ? asset.gzip : asset.body;
    const headers = {
      ...SECURITY_HEADERS,
      "content-type": asset.type,
      "content-length": String(body.length),
      vary: "accept-encoding",
      ...(gzip ? { "content-encoding": "gzip" } : {}),
    };
    reply(res, 200, headers, req.method === "HEAD" ? undefined : body);
  }

  /** The built files, or null when the console is not built; read again after a failure, or when it was not built yet. */
  #load(): Promise<Map<string, Asset> | null> {
    const loading = (this.#assets ??= this.#read());
    void loading.then((assets) => {
      if (assets === null && this.#assets === loading) this.#assets = null;
    });
    return loading;
  }

  async #read(): Promise<Map<string, Asset> | null> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return null;
      throw error;
    });
    if (names === null || !names.includes("index.html")) return null;
    const assets = new Map<string, Asset>();
    for (const name of names) {
      const type = TYPES[extname(name)];
      if (type === undefined) continue;
      const body = await readFile(join(this.dir, name));
      assets.set(name, { type, body, gzip: gzipSync(body, { level: 9 }) });
    }
    this.#log.info({ dir: this.dir, files: assets.size }, `serving the web console at ${CONSOLE_PATH}/`);
    return assets;
  }
}
