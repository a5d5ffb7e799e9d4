// Connection-level defences, each against a real socket held open by a
// misbehaving client: the HTTP/1.1 request timeout, HTTP/2 streams whose
// request never finishes (slowloris bodies, on the fast path and on
// connect-node), HTTP/2 sessions that never start a stream, the per-connection
// stream cap and the per-address connection cap. A long server stream is not
// cut by the request timeout.
import http2 from "node:http2";
import net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { createConnectTransport } from "@connectrpc/connect-node";
import { StatehouseService, TransactRequestSchema } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { envelope } from "./test-support/raw-http.js";
import { ConnectDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const REQUEST_TIMEOUT_MS = 300;
const PER_ADDRESS = 6;
const STREAMS = 4;

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await DaemonProcess.start({
    env: {
      STATEHOUSE_USE_MEMORY: "1",
      STATEHOUSE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      STATEHOUSE_HEADER_TIMEOUT_MS: "300",
      // Quiet connections in these tests never wait that long; a session without a stream does.
      STATEHOUSE_IDLE_TIMEOUT_MS: "1000",
      STATEHOUSE_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS),
      STATEHOUSE_MAX_CONCURRENT_STREAMS: String(STREAMS),
    },
  });
});

afterAll(async () => {
  await daemon.dispose();
});

function connectRaw(): net.Socket {
  const [host, port] = daemon.address.split(":");
  return net.connect({ host: host ?? "", port: Number(port) });
}

/** Everything the server sends until it closes the connection. */
function untilClosed(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.on("error", () => undefined);
  return new Promise((resolve) => socket.once("close", () => resolve(Buffer.concat(chunks))));
}

describe("HTTP/1.1", () => {
  it("answers 408 and closes a connection whose request body stops arriving", async () => {
    const socket = connectRaw();
    const closed = untilClosed(socket);
    socket.write("POST /statehouse.v1.StatehouseService/GetState HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
    expect((await closed).toString("latin1")).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("does not cut a server stream (Watch) that lasts longer than the request timeout", async () => {
    const rpc = new ConnectDriver("connect-http1.1", createConnectTransport({ baseUrl: daemon.url, httpVersion: "1.1" }));
    const controller = new AbortController();
    const events = rpc.stream(S.watch, { namespace: "h", agentId: "long" }, { signal: controller.signal })[Symbol.asyncIterator]();
    const first = events.next();
    await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS * 4));
    await rpc.unary(S.transact, { operations: [{ namespace: "h", agentId: "long", key: "k", value: { n: 1 } }] });
    expect((await first).value?.operations[0]?.key).toBe("k");
    controller.abort();
    await events.return?.();
  });
});

describe("HTTP/2", () => {
  const grpc = { ":method": "POST", "content-type": "application/grpc", te: "trailers" };

  it.each([
    ["the fast path (Transact)", "/statehouse.v1.StatehouseService/Transact"],
    ["connect-node (ListKeys)", "/statehouse.v1.StatehouseService/ListKeys"],
  ])("resets a stream on %s whose request never finishes, keeping the connection", async (_name, path) => {
    const session = http2.connect(daemon.url);
    session.on("error", () => undefined);
    const stream = session.request({ ...grpc, ":path": path });
    stream.on("error", () => undefined);
    stream.write(envelope(toBinary(TransactRequestSchema, create(TransactRequestSchema, {}))).subarray(0, 3));
    const rstCode = await new Promise<number>((resolve) => stream.once("close", () => resolve(stream.rstCode)));
    expect(rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    // Other calls on the same connection are unaffected.
    const health = session.request({ ...grpc, ":path": "/statehouse.v1.StatehouseService/Health" });
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => health.once("trailers", resolve));
    health.on("data", () => undefined);
    health.end(envelope(new Uint8Array(0)));
    expect((await trailers)["grpc-status"]).toBe("0");
    session.close();
  });

  it("closes a session that never starts a stream within the idle timeout, however many PINGs it sends", async () => {
    const socket = connectRaw();
    const closed = untilClosed(socket);
    socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    socket.write(frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0)));
    // Activity every 100 ms keeps the idle timer from firing; the first-stream deadline does not care.
    const pinger = setInterval(() => socket.write(frame(FRAME_PING, 0, 0, Buffer.alloc(8))), 100);
    const frames = parseFrames(await closed);
    clearInterval(pinger);
    expect(frames[0]?.type).toBe(FRAME_SETTINGS);
    expect(frames.filter((f) => f.type === FRAME_PING && (f.flags & 1) === 1).length).toBeGreaterThan(0);
  });

  it(`refuses streams beyond max_concurrent_streams (${STREAMS}) on one connection, even from a client that ignores SETTINGS`, async () => {
    const socket = connectRaw();
    socket.on("error", () => undefined);
    const opened = 2 * STREAMS;
    const refused: number[] = [];
    let received = Buffer.alloc(0);
    const allRefused = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        refused.length = 0;
        for (const f of parseFrames(received)) {
          if (f.type === FRAME_RST_STREAM && f.payload.readUInt32BE(0) === http2.constants.NGHTTP2_REFUSED_STREAM) refused.push(f.streamId);
        }
        if (refused.length >= opened - STREAMS) resolve();
      });
      socket.once("close", () => resolve());
    });
    socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    socket.write(frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0)));
    const headerBlock = Buffer.concat([
      Buffer.from([0x83, 0x86]), // :method POST, :scheme http (HPACK static table)
      literal(4, "/statehouse.v1.StatehouseService/Health"), // :path
      literal(1, "x"), // :authority
      literal(31, "application/grpc"), // content-type
    ]);
    for (let i = 0; i < opened; i++) socket.write(frame(FRAME_HEADERS, FLAG_END_HEADERS, 1 + 2 * i, headerBlock));
    await allRefused;
    expect(refused).toEqual(Array.from({ length: opened - STREAMS }, (_, i) => 1 + 2 * (STREAMS + i)));
    socket.destroy();
  });

  it(`closes connections beyond max_connections_per_address (${PER_ADDRESS}) from one address, and takes new ones once some close`, async () => {
    // A daemon of its own: no connection of another test counts against the cap.
    const own = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1", STATEHOUSE_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS) } });
    const sessions: http2.ClientHttp2Session[] = [];
    const call = (session: http2.ClientHttp2Session): Promise<string | undefined> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ...grpc, ":path": "/statehouse.v1.StatehouseService/Health" });
        stream.on("data", () => undefined);
        stream.once("trailers", (t) => resolve(t["grpc-status"] as string | undefined));
        stream.once("close", () => resolve(undefined));
        stream.once("error", reject);
        stream.end(envelope(new Uint8Array(0)));
      });
    for (let i = 0; i < PER_ADDRESS; i++) {
      const session = http2.connect(own.url);
      session.on("error", () => undefined);
      sessions.push(session);
      expect(await call(session)).toBe("0");
    }
    const [host, port] = own.address.split(":");
    const received = await untilClosed(net.connect({ host: host ?? "", port: Number(port) }));
    expect(received.length).toBe(0);
    // Refused by the cap (also with RPC threads, whose connections it counts together), not closed by a timeout.
    const refused = (): boolean => own.logs().some((l) => String(l["msg"]).startsWith("connection refused: too many connections from this address"));
    for (let i = 0; i < 100 && !refused(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(refused()).toBe(true);
    sessions.pop()?.close();
    // The freed slot is taken again (the server may see the close a moment later).
    let status: string | undefined;
    for (let attempt = 0; attempt < 50 && status === undefined; attempt++) {
      const session = http2.connect(own.url);
      session.on("error", () => undefined);
      status = await call(session).catch(() => undefined);
      if (status === undefined) await new Promise((r) => setTimeout(r, 20));
      sessions.push(session);
    }
    expect(status).toBe("0");
    for (const session of sessions) session.destroy();
    await own.dispose();
  });
});

const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FLAG_END_HEADERS = 0x4;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK literal header field without indexing, its name from the static table. */
function literal(nameIndex: number, value: string): Buffer {
  const name = nameIndex < 15 ? Buffer.from([nameIndex]) : Buffer.from([0x0f, nameIndex - 15]);
  return Buffer.concat([name, Buffer.from([value.length]), Buffer.from(value, "latin1")]);
}

function parseFrames(bytes: Buffer): { type: number; flags: number; streamId: number; payload: Buffer }[] {
  const frames = [];
  let at = 0;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({ type: bytes[at + 3] ?? 0, flags: bytes[at + 4] ?? 0, streamId: bytes.readUInt32BE(at + 5) & 0x7fff_ffff, payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}
