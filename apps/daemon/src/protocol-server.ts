// One TCP port for every protocol. Node's cleartext http2 server never falls
// back to HTTP/1.1, so a net.Server reads the first bytes of each connection:
// the 24-byte HTTP/2 client preface sends it to the http2 server (gRPC,
// gRPC-Web and Connect over h2c), anything else to the http server (Connect
// and gRPC-Web over HTTP/1.1). Silent connections are closed after the header
// timeout; at most 24 bytes are ever buffered by the sniffer.
//
// With TLS (tls option) every connection is TLS instead: a tls.Server that
// never listens itself does the handshake, and ALPN picks the server ("h2":
// HTTP/2, "http/1.1" or none: HTTP/1.1). setSecureContext() swaps the
// certificate for new handshakes; open connections keep theirs.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { PeerIdentity } from "./auth/access-gate.js";
import { isKeyId } from "./auth/api-key-token.js";
import { LocalConnectionCounts, type ConnectionCounts } from "./connection-counts.js";

import type { connectNodeAdapter } from "@connectrpc/connect-node";

/** The request handler shape connect-node uses for both http and http2. */
export type HttpHandler = ReturnType<typeof connectNodeAdapter>;
export type HttpRequest = Parameters<HttpHandler>[0];
export type HttpResponse = Parameters<HttpHandler>[1];

export interface ServerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface ProtocolServerOptions {
  handler: HttpHandler;
  log: ServerLogger;
  maxConcurrentStreams: number;
  maxConnections: number;
  /** TCP connections open at once from one remote address; more are closed on accept. */
  maxConnectionsPerAddress: number;
  /** Connections without a call in flight close after this; an HTTP/2 session must open its first stream within it. */
  idleTimeoutMs: number;
  /** A new connection's preface / HTTP/1.1 request headers must arrive within this. */
  headerTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this: HTTP/1.1 requests and every HTTP/2 stream. */
  requestTimeoutMs: number;
  /** Called with the number of open TCP connections whenever it changes. */
  onConnections?: (open: number) => void;
  /**
   * Takes an HTTP/2 stream before the compatibility API sees it (the fast
   * path) and returns true, or returns false to leave it to `handler`.
   */
  streamHandler?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
  /** Serve TLS only: certificate, key and (mTLS) the client CA. */
  tls?: TlsMaterial;
  /** Listen with SO_REUSEPORT: several RPC threads serve one port, the kernel spreads the connections. */
  reusePort?: boolean;
  /** Where connections are counted for the caps (RPC threads share one; default: this server's own). */
  connectionCounts?: ConnectionCounts;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Client certificates are requested and verified against this CA; one that chains to it stands for the key its subject CN names. */
  clientCa: Buffer | null;
}

const PEER = Symbol("statehouse peer identity");

function identify(socket: tls.TLSSocket): PeerIdentity | null {
  const cert = socket.getPeerCertificate();
  if (Object.keys(cert).length === 0) return null;
  const cn = cert.subject?.CN;
  const commonName = Array.isArray(cn) ? cn[0] : cn;
  const error = socket.authorizationError;
  return {
    authorized: socket.authorized,
    keyId: commonName !== undefined && isKeyId(commonName) ? commonName : null,
    error: error === null || error === undefined ? null : String(error),
  };
}

/**
 * The client certificate identity of the connection a request came on: an
 * http socket, or an HTTP/2 session's socket (a proxy that forwards this read).
 */
export function peerIdentityOf(socket: object | null | undefined): PeerIdentity | null {
  if (socket === null || socket === undefined) return null;
  return ((socket as Record<symbol, PeerIdentity | null | undefined>)[PEER] ?? null);
}

export interface BoundAddress {
  host: string;
  port: number;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** `host:port`, IPv6 hosts in brackets. */
export function formatAddress(address: BoundAddress): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export class ProtocolServer {
  readonly #options: ProtocolServerOptions;
  readonly #h2: http2.Http2Server;
  readonly #h1: http.Server;
  readonly #tls: tls.Server | null;
  readonly #listeners: net.Server[] = [];
  readonly #sockets = new Set<net.Socket>();
  /** Connections whose protocol is not known yet. */
  readonly #sniffing = new Set<net.Socket>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /** Open connections in all and per remote address (the caps). */
  readonly #counts: ConnectionCounts;
  /** HTTP/2 streams whose request has not fully arrived yet, with their deadline. */
  readonly #receiving = new Map<http2.ServerHttp2Stream, number>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #drainWaiters = new Set<() => void>();
  #inFlight = 0;
  #draining = false;

  constructor(options: ProtocolServerOptions) {
    this.#options = options;
    this.#counts = options.connectionCounts ?? new LocalConnectionCounts();
    const handler = this.#wrap(options.handler);
    const h2Options: http2.ServerOptions = { settings: { maxConcurrentStreams: options.maxConcurrentStreams } };
    const h2Handler = handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
    if (options.streamHandler === undefined) {
      this.#h2 = http2.createServer(h2Options, h2Handler);
    } else {
      // The listening server has no 'request' listener, so Node's compatibility
      // layer does not run for its streams; the ones the stream handler leaves
      // are handed to a second server object that only runs that layer.
      const streamHandler = options.streamHandler;
      const compat = http2.createServer(h2Options, h2Handler);
      this.#h2 = http2.createServer(h2Options);
      this.#h2.on("stream", (stream, headers, flags, rawHeaders) => {
        if (!streamHandler(stream, headers)) {
          compat.emit("stream", stream, headers, flags, rawHeaders);
          return;
        }
        this.#inFlight += 1;
        stream.once("close", () => {
          this.#inFlight -= 1;
          this.#checkDrained();
        });
      });
    }
    this.#h2.on("session", (session) => this.#trackSession(session));
    this.#h2.on("sessionError", (error) => options.log.debug({ err: error }, "http2 session error"));
    this.#h1 = http.createServer(
      {
        headersTimeout: Math.min(options.headerTimeoutMs, options.requestTimeoutMs),
        // Bounds receiving the request only: a server stream (Watch) may answer for as long as it likes.
        requestTimeout: options.requestTimeoutMs,
        keepAliveTimeout: options.idleTimeoutMs,
        connectionsCheckingInterval: Math.min(options.headerTimeoutMs, options.requestTimeoutMs, 30_000),
      },
      handler as http.RequestListener,
    );
    // The http server never listens itself (the sniffer hands it sockets), so the
    // checker behind headersTimeout / requestTimeout, which Node starts on
    // 'listening', is started here.
    this.#h1.emit("listening");
    // One sweep for every HTTP/2 stream still receiving its request (slowloris bodies).
    this.#sweeper = setInterval(() => this.#sweepSlowRequests(), Math.max(50, Math.min(1000, options.requestTimeoutMs / 4)));
    this.#sweeper.unref();
    this.#tls = options.tls === undefined ? null : this.#createTls(options.tls);
    this.#h1.on("clientError", (error, socket) => {
      options.log.debug({ err: error }, "http/1.1 client error");
      const code = (error as NodeJS.ErrnoException).code;
      const status = code === "ERR_HTTP_REQUEST_TIMEOUT" || code === "ERR_HTTP_HEADERS_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
      if (socket.writable && !(socket as net.Socket).writableEnded) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      socket.destroy();
    });
  }

  #createTls(material: TlsMaterial): tls.Server {
    // Whether client certificates are asked for is fixed at start (a reload cannot change it).
    const requestCert = material.clientCa !== null;
    const server = tls.createServer({
      ...this.#secureOptions(material),
      ALPNProtocols: ["h2", "http/1.1"],
      handshakeTimeout: this.#options.headerTimeoutMs,
    });
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      (socket as unknown as Record<symbol, PeerIdentity | null>)[PEER] = requestCert ? identify(socket) : null;
      socket.on("error", (error) => this.#options.log.debug({ err: error }, "tls socket error"));
      if (socket.alpnProtocol === "h2") {
        this.#h2.emit("connection", socket);
      } else {
        this.#h1.emit("connection", socket);
      }
    });
    server.on("tlsClientError", (error, socket) => {
      this.#options.log.debug({ err: error }, "tls handshake failed");
      socket.destroy();
    });
    return server;
  }

  #secureOptions(material: TlsMaterial): tls.SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
    return {
      cert: material.cert,
      key: material.key,
      ...(material.clientCa === null ? {} : { ca: material.clientCa }),
      // Unverified certificates are let through to answer UNAUTHENTICATED per call, naming why.
      requestCert: material.clientCa !== null,
      rejectUnauthorized: false,
    };
  }

  /** New certificate, key and client CA for new handshakes (SIGHUP); open connections are not touched. */
  setSecureContext(material: TlsMaterial): void {
    if (this.#tls === null) throw new TypeError("setSecureContext: this server does not serve TLS");
    const { requestCert: _r, rejectUnauthorized: _u, ...context } = this.#secureOptions(material);
    this.#tls.setSecureContext(context);
  }

  /** Calls in progress (HTTP requests not yet closed). */
  get inFlight(): number {
    return this.#inFlight;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Binds every host on one port (port 0: the first host picks it, the others follow). */
  async listen(hosts: readonly string[], port: number): Promise<BoundAddress[]> {
    const bound: BoundAddress[] = [];
    let actualPort = port;
    for (const [i, host] of hosts.entries()) {
      try {
        const server = await this.#bind(host, actualPort);
        const address = server.address() as net.AddressInfo;
        actualPort = address.port;
        bound.push({ host, port: address.port });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // "localhost" on a machine without IPv6 (or without IPv4): serve what exists.
        if (i > 0 && (code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT")) {
          this.#options.log.warn({ host, code }, "loopback address not available; not listening on it");
          continue;
        }
        await this.close();
        throw error;
      }
    }
    return bound;
  }

  #bind(host: string, port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.#onConnection(socket));
      server.maxConnections = this.#options.maxConnections;
      server.once("error", reject);
      server.listen({ host, port, ipv6Only: host.includes(":"), ...(this.#options.reusePort === true ? { reusePort: true } : {}) }, () => {
        server.off("error", reject);
        server.on("error", (error) => this.#options.log.warn({ err: error }, "listener error"));
        this.#listeners.push(server);
        resolve(server);
      });
    });
  }

  #onConnection(socket: net.Socket): void {
    const remote = socket.remoteAddress ?? "";
    const { total, fromRemote } = this.#counts.opened(remote);
    this.#sockets.add(socket);
    this.#options.onConnections?.(this.#sockets.size);
    socket.on("error", (error) => this.#options.log.debug({ err: error }, "socket error"));
    socket.once("close", () => {
      this.#counts.closed(remote);
      this.#sockets.delete(socket);
      this.#options.onConnections?.(this.#sockets.size);
      this.#checkDrained();
    });
    if (this.#draining) {
      socket.destroy();
      return;
    }
    // One thread's listener refuses beyond max_connections itself; RPC threads check the shared total here.
    if (total > this.#options.maxConnections) {
      this.#options.log.warn({ open: total - 1, limit: this.#options.maxConnections }, "connection refused: max_connections reached (STATEHOUSE_MAX_CONNECTIONS)");
      socket.destroy();
      return;
    }
    if (fromRemote > this.#options.maxConnectionsPerAddress) {
      this.#options.log.warn(
        { remote, open: fromRemote - 1, limit: this.#options.maxConnectionsPerAddress },
        "connection refused: too many connections from this address (STATEHOUSE_MAX_CONNECTIONS_PER_ADDRESS)",
      );
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    if (this.#tls !== null) {
      this.#tls.emit("connection", socket);
      return;
    }
    this.#sniffing.add(socket);
    socket.once("close", () => this.#sniffing.delete(socket));
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), this.#options.headerTimeoutMs);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && head.length < H2_PREFACE.length) return;
      clearTimeout(timer);
      this.#sniffing.delete(socket);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.pause();
      socket.unshift(head);
      if (isH2) {
        this.#h2.emit("connection", socket);
      } else {
        this.#h1.emit("connection", socket);
        // The http server does not resume a socket that was already read from.
        socket.resume();
      }
    };
    const onEnd = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
  }

  #trackSession(session: http2.ServerHttp2Session): void {
    this.#sessions.add(session);
    let streams = 0;
    // A session must open its first stream within the idle timeout however much
    // else it sends: PINGs or SETTINGS dribbled by a slowloris client would keep
    // the activity-based idle timer below from ever firing.
    const firstStream = setTimeout(() => {
      this.#options.log.debug({}, "http2 session opened no stream within the idle timeout; closing it");
      session.destroy();
    }, this.#options.idleTimeoutMs);
    session.on("stream", (stream) => {
      clearTimeout(firstStream);
      streams += 1;
      if (stream.state.remoteClose === 0) this.#receiving.set(stream, Date.now() + this.#options.requestTimeoutMs);
      stream.once("close", () => {
        streams -= 1;
        this.#receiving.delete(stream);
      });
    });
    // Idle = no stream open for idleTimeoutMs; quiet Watch streams keep it open.
    session.setTimeout(this.#options.idleTimeoutMs, () => {
      if (streams === 0) session.close();
    });
    session.on("error", (error) => this.#options.log.debug({ err: error }, "http2 session error"));
    session.once("close", () => {
      clearTimeout(firstStream);
      this.#sessions.delete(session);
    });
    if (this.#draining) session.close();
  }

  #wrap(handler: HttpHandler): HttpHandler {
    return (req, res) => {
      this.#inFlight += 1;
      res.once("close", () => {
        this.#inFlight -= 1;
        if (this.#draining && "req" in res && res.req instanceof http.IncomingMessage) res.req.socket.destroySoon();
        this.#checkDrained();
      });
      if (this.#draining && req.httpVersionMajor === 1) res.setHeader("connection", "close");
      handler(req, res);
    };
  }

  /** Resets HTTP/2 streams whose request did not fully arrive within the request timeout. */
  #sweepSlowRequests(): void {
    const now = Date.now();
    for (const [stream, deadline] of this.#receiving) {
      if (stream.state.remoteClose !== 0 || stream.closed) {
        this.#receiving.delete(stream);
      } else if (deadline <= now) {
        this.#receiving.delete(stream);
        this.#options.log.debug({}, "http2 request not received within the request timeout; resetting the stream");
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    }
  }

  #checkDrained(): void {
    if (this.#inFlight === 0) {
      for (const resolve of this.#drainWaiters) resolve();
      this.#drainWaiters.clear();
    }
  }

  /**
   * Stops accepting connections, sends GOAWAY on every HTTP/2 session, closes
   * idle HTTP/1.1 connections and asks the busy ones to close after their
   * response. In-flight calls continue.
   */
  beginShutdown(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const listener of this.#listeners) listener.close();
    for (const session of this.#sessions) session.close();
    this.#h1.closeIdleConnections();
  }

  /** Resolves true when no call is in flight, false when `timeoutMs` passed first. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#drainWaiters.delete(done);
        resolve(this.#inFlight === 0);
      };
      const timer = setTimeout(done, timeoutMs);
      this.#drainWaiters.add(done);
    });
  }

  /**
   * Stops listening, lets connections close by themselves (GOAWAY sent, last
   * responses flushed) for up to `lingerMs`, then destroys what is left.
   */
  async close(lingerMs = 2000): Promise<void> {
    this.beginShutdown();
    clearInterval(this.#sweeper);
    for (const socket of this.#sniffing) socket.destroy();
    this.#h1.closeIdleConnections();
    if (this.#sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, lingerMs);
        const check = setInterval(() => {
          if (this.#sockets.size === 0) finish();
        }, 20);
        function finish(): void {
          clearTimeout(timer);
          clearInterval(check);
          resolve();
        }
      });
    }
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(this.#listeners.map((l) => new Promise<void>((resolve) => (l.listening ? l.close(() => resolve()) : resolve()))));
  }
}
