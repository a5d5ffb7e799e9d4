// The transport's own limit: a bare node:http2 server (in its own process, as
// the daemon is) answering every POST with a few bytes, and a node:http2
// client issuing requests over one session.
import type { ClientHttp2Session } from "node:http2";
import { rawSession } from "../clients/raw-rpc-client.js";
import { join } from "node:path";
import { ManagedProcess, waitFor } from "../peers/managed-process.js";
import { projectNode } from "../peers/statehouse-daemon.js";
import { readFileSync, existsSync } from "node:fs";

const SERVER_SOURCE = `
const http2 = require("node:http2");
const fs = require("node:fs");
const server = http2.createServer();
server.on("stream", (stream) => {
  stream.on("data", () => {});
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/octet-stream" });
    stream.end("ok");
  });
});
server.listen(0, "127.0.0.1", () => {
  fs.writeFileSync(process.argv[1] + ".tmp", String(server.address().port));
  fs.renameSync(process.argv[1] + ".tmp", process.argv[1]);
});
process.on("SIGTERM", () => process.exit(0));
`;

export interface Http2EchoServer {
  port: number;
  stop(): Promise<void>;
}

export async function startHttp2EchoServer(workDir: string): Promise<Http2EchoServer> {
  const portFile = join(workDir, "http2-echo.port");
  const child = new ManagedProcess({
    command: projectNode(),
    args: ["-e", SERVER_SOURCE, portFile],
    logFile: join(workDir, "http2-echo.log"),
  });
  const port = await waitFor("http2 echo server", child, () => (existsSync(portFile) ? Number(readFileSync(portFile, "utf8")) : undefined));
  return { port, stop: () => child.stop() };
}

/** One request/response on an open session (a POST with a 16-byte body, like a small RPC). */
export function http2Request(session: ClientHttp2Session, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": "/noop", "content-type": "application/octet-stream" });
    stream.on("error", reject);
    stream.on("data", () => undefined);
    stream.on("end", () => resolve());
    stream.end(body);
  });
}

export function http2Session(port: number): Promise<ClientHttp2Session> {
  return rawSession(`http://127.0.0.1:${port}`);
}
