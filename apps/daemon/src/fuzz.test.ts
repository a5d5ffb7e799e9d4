// Fuzz: malformed, truncated, oversized and random messages as raw bytes to
// every RPC path, over HTTP/2 (gRPC, gRPC-Web, Connect) and HTTP/1.1
// (gRPC-Web, Connect binary and JSON). Each answer must be a well-formed
// protocol response; every input the schema cannot parse must get an error;
// RPC errors carry a StatehouseError detail; nothing is INTERNAL or UNKNOWN;
// and the daemon keeps serving. The oracle for "must fail" is protobuf-es
// parsing the same bytes locally with the daemon's limits.
import http from "node:http";
import http2 from "node:http2";
import { create, fromBinary, fromJsonString, ScalarType, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { GrpcHealth, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { envelope, h1Call, h2Call, outcomeOf, type Outcome, type ProtocolKind, type RawResponse } from "./test-support/raw-http.js";
import { GrpcJsDriver } from "./test-support/rpc-drivers.js";

const MAX_VALUE_BYTES = 16_384;
const MAX_REQUEST_BYTES = MAX_VALUE_BYTES + 65_536;
const MAX_JSON_DEPTH = 32;
const RECURSION_LIMIT = 2 * MAX_JSON_DEPTH + 16;
const RANDOM_PER_METHOD = 24;
const SEED = 0x5eed_2024;

const METHODS: DescMethod[] = [...StatehouseService.methods, ...GrpcHealth.methods];

/** xorshift32: reproducible randomness. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** A request with every field set, so truncations and flips hit real fields. */
const BIGINT_SCALARS: ReadonlySet<ScalarType> = new Set([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);

function sampleInit(desc: DescMessage, depth = 0): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const field of desc.fields) {
    if (field.fieldKind === "scalar") {
      const number = BIGINT_SCALARS.has(field.scalar) ? 1n : 1;
      init[field.localName] = field.scalar === ScalarType.STRING ? `fuzz-${field.name}` : field.scalar === ScalarType.BOOL ? false : number;
    } else if (field.fieldKind === "message") {
      if (field.message.typeName === "google.protobuf.Struct") init[field.localName] = { a: 1, b: ["x", true, null] };
      else if (depth < 2) init[field.localName] = sampleInit(field.message, depth + 1);
    } else if (field.fieldKind === "list" && field.listKind === "message" && depth < 2) {
      init[field.localName] = [sampleInit(field.message, depth + 1)];
    }
  }
  return init;
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < depth; i++) value = { n: value };
  return value;
}

interface Input {
  kind: string;
  bytes: Uint8Array;
  /** The schema cannot parse it (or the protocol framing is broken): the daemon must answer with an error. */
  mustFail: boolean;
}

function parses(method: DescMethod, bytes: Uint8Array): boolean {
  try {
    fromBinary(method.input, bytes, { recursionLimit: RECURSION_LIMIT });
    return true;
  } catch {
    return false;
  }
}

function parsesJson(method: DescMethod, bytes: Uint8Array): boolean {
  try {
    fromJsonString(method.input, new TextDecoder().decode(bytes), { ignoreUnknownFields: true, recursionLimit: RECURSION_LIMIT });
    return true;
  } catch {
    return false;
  }
}

function binaryInputs(method: DescMethod, random: () => number): Input[] {
  const valid = toBinary(method.input, create(method.input, sampleInit(method.input) as never));
  const raw: { kind: string; bytes: Uint8Array }[] = [
    { kind: "truncated-1", bytes: valid.subarray(0, Math.max(0, valid.length - 1)) },
    { kind: "truncated-half", bytes: valid.subarray(0, Math.floor(valid.length / 2)) },
    { kind: "invalid-wire-type", bytes: Uint8Array.of(0x0f, 0x01) },
    { kind: "open-group", bytes: Uint8Array.of(0x0b) },
    { kind: "varint-overflow", bytes: Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01) },
    { kind: "huge-length", bytes: Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f) },
  ];
  for (const field of method.input.fields) {
    if (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING) {
      raw.push({ kind: `bad-utf8-${field.name}`, bytes: Uint8Array.of((field.number << 3) | 2, 2, 0xc3, 0x28) });
      raw.push({ kind: `wrong-wire-type-${field.name}`, bytes: Uint8Array.of((field.number << 3) | 0, 1) });
    }
    if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.Struct") {
      const deep = create(method.input, { ...sampleInit(method.input), [field.localName]: nested(200) } as never);
      raw.push({ kind: "deep-struct", bytes: toBinary(method.input, deep) });
    }
  }
  for (let i = 0; i < RANDOM_PER_METHOD; i++) {
    const bytes = new Uint8Array(Math.floor(random() * 80));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    raw.push({ kind: "random", bytes });
    const flipped = Uint8Array.from(valid);
    for (let j = 0; j < 3 && flipped.length > 0; j++) flipped[Math.floor(random() * flipped.length)] = Math.floor(random() * 256);
    raw.push({ kind: "flipped", bytes: flipped });
  }
  return raw.map((r) => ({ ...r, mustFail: !parses(method, r.bytes) }));
}

function jsonInputs(method: DescMethod, random: () => number): Input[] {
  const texts: [string, string | Uint8Array][] = [
    ["empty", ""],
    ["open-brace", "{"],
    ["array", "[]"],
    ["null", "null"],
    ["number", "42"],
    ["wrong-type", '{"agentId": 5, "namespace": {"x": 1}}'],
    ["unknown-field", '{"noSuchField": 1}'],
    ["deep-array", "[".repeat(100_000)],
    ["deep-object", `{"value": ${JSON.stringify(nested(500))}}`],
    ["bad-bigint", '{"timeoutMs": "abc", "startTs": "-1", "version": 1.5}'],
    ["bad-utf8", Uint8Array.from([...Buffer.from('{"agentId": "'), 0xc3, 0x28, ...Buffer.from('"}')])],
    ["lone-surrogate", '{"agentId": "\\ud800", "key": "k", "namespace": "n"}'],
  ];
  const alphabet = '{}[]":,0123456789abcnulltrue \\';
  for (let i = 0; i < RANDOM_PER_METHOD; i++) {
    let text = "";
    const n = Math.floor(random() * 40);
    for (let j = 0; j < n; j++) text += alphabet[Math.floor(random() * alphabet.length)];
    texts.push(["random", text]);
  }
  return texts.map(([kind, t]) => {
    const bytes = typeof t === "string" ? Buffer.from(t, "utf8") : t;
    return { kind, bytes, mustFail: !parsesJson(method, bytes) };
  });
}

interface Protocol {
  name: string;
  transport: "h1" | "h2";
  format: "binary" | "json";
  kind(method: DescMethod): ProtocolKind;
  headers(method: DescMethod): Record<string, string>;
  /** Frames one message for this protocol/method. */
  frame(method: DescMethod, bytes: Uint8Array): Uint8Array;
}

const isStream = (m: DescMethod): boolean => m.methodKind !== "unary";
const grpcHeaders = { "content-type": "application/grpc+proto", te: "trailers", "grpc-timeout": "1S" };
const grpcWebHeaders = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "grpc-timeout": "1S" };
const connectHeaders = (m: DescMethod, json: boolean): Record<string, string> => ({
  "content-type": isStream(m) ? `application/connect+${json ? "json" : "proto"}` : `application/${json ? "json" : "proto"}`,
  "connect-protocol-version": "1",
  "connect-timeout-ms": "1000",
});
const connectFrame = (m: DescMethod, b: Uint8Array): Uint8Array => (isStream(m) ? envelope(b) : b);

const PROTOCOLS: Protocol[] = [
  { name: "grpc-h2", transport: "h2", format: "binary", kind: () => "grpc", headers: () => grpcHeaders, frame: (_m, b) => envelope(b) },
  { name: "grpc-web-h1", transport: "h1", format: "binary", kind: () => "grpc-web", headers: () => grpcWebHeaders, frame: (_m, b) => envelope(b) },
  { name: "grpc-web-h2", transport: "h2", format: "binary", kind: () => "grpc-web", headers: () => grpcWebHeaders, frame: (_m, b) => envelope(b) },
  { name: "connect-proto-h1", transport: "h1", format: "binary", kind: (m) => (isStream(m) ? "connect-stream" : "connect-unary"), headers: (m) => connectHeaders(m, false), frame: connectFrame },
  { name: "connect-proto-h2", transport: "h2", format: "binary", kind: (m) => (isStream(m) ? "connect-stream" : "connect-unary"), headers: (m) => connectHeaders(m, false), frame: connectFrame },
  { name: "connect-json-h1", transport: "h1", format: "json", kind: (m) => (isStream(m) ? "connect-stream" : "connect-unary"), headers: (m) => connectHeaders(m, true), frame: connectFrame },
];

/** Framing-level abuse, for protocols with envelopes (and oversized bodies for all). */
function framingInputs(protocol: Protocol, method: DescMethod): { kind: string; body: Uint8Array; expect: "error" | "resource-exhausted" }[] {
  const valid = toBinary(method.input, create(method.input, sampleInit(method.input) as never));
  const oversized = Buffer.alloc(MAX_REQUEST_BYTES + 1024, 0x61);
  const cases: { kind: string; body: Uint8Array; expect: "error" | "resource-exhausted" }[] = [];
  const enveloped = protocol.kind(method) !== "connect-unary";
  if (enveloped) {
    cases.push({ kind: "no-message", body: new Uint8Array(0), expect: "error" });
    cases.push({ kind: "two-messages", body: Buffer.concat([envelope(valid), envelope(valid)]), expect: "error" });
    cases.push({ kind: "truncated-envelope", body: envelope(valid, 0, valid.length + 10), expect: "error" });
    cases.push({ kind: "compressed-without-encoding", body: envelope(valid, 1), expect: "error" });
    cases.push({ kind: "declared-4GiB", body: envelope(valid, 0, 0xffff_ffff), expect: "resource-exhausted" });
    cases.push({ kind: "oversized", body: envelope(oversized), expect: "resource-exhausted" });
  } else {
    cases.push({ kind: "oversized", body: oversized, expect: "resource-exhausted" });
  }
  return cases;
}

let daemon: DaemonProcess;
let session: http2.ClientHttp2Session;
let agent: http.Agent;

beforeAll(async () => {
  daemon = await DaemonProcess.start({
    env: { STATEHOUSE_MAX_VALUE_BYTES: String(MAX_VALUE_BYTES), STATEHOUSE_MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES), STATEHOUSE_MAX_JSON_DEPTH: String(MAX_JSON_DEPTH) },
  });
  session = http2.connect(daemon.url);
  agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
});

afterAll(async () => {
  session.close();
  agent.destroy();
  await daemon.dispose();
});

function send(protocol: Protocol, method: DescMethod, body: Uint8Array, headers = protocol.headers(method)): Promise<RawResponse> {
  const path = `/${method.parent.typeName}/${method.name}`;
  return protocol.transport === "h2" ? h2Call(session, path, headers, body) : h1Call(agent, daemon.url, path, headers, body);
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

it("answers every malformed, truncated, oversized and random request with a proper error and keeps serving", async () => {
  const random = rng(SEED);
  interface Case {
    protocol: Protocol;
    method: DescMethod;
    kind: string;
    body: Uint8Array;
    expect: "error" | "resource-exhausted" | "any";
    headers?: Record<string, string>;
  }
  const cases: Case[] = [];
  for (const protocol of PROTOCOLS) {
    for (const method of METHODS) {
      const inputs = protocol.format === "json" ? jsonInputs(method, random) : binaryInputs(method, random);
      for (const input of inputs) cases.push({ protocol, method, kind: input.kind, body: protocol.frame(method, input.bytes), expect: input.mustFail ? "error" : "any" });
      for (const f of framingInputs(protocol, method)) cases.push({ protocol, method, kind: f.kind, body: f.body, expect: f.expect });
      cases.push({ protocol, method, kind: "wrong-content-type", body: new Uint8Array(0), expect: "error", headers: { ...protocol.headers(method), "content-type": "text/plain" } });
    }
  }

  const failures: string[] = [];
  const tally = new Map<string, number>();
  let healthChecks = 0;
  const rpc = new GrpcJsDriver(daemon.address);
  await pool(cases, 16, async (c) => {
    const label = `${c.protocol.name} ${c.method.name} ${c.kind}`;
    let outcome: Outcome;
    try {
      outcome = outcomeOf(c.protocol.kind(c.method), await send(c.protocol, c.method, c.body, c.headers));
    } catch (error) {
      failures.push(`${label}: no answer: ${String(error)}`);
      return;
    }
    tally.set(outcome.code, (tally.get(outcome.code) ?? 0) + 1);
    const rpcLevel = !outcome.code.startsWith("http-");
    if (outcome.malformed !== undefined) failures.push(`${label}: malformed answer: ${outcome.malformed}`);
    if (c.expect !== "any" && !outcome.error) failures.push(`${label}: accepted`);
    if (c.expect === "resource-exhausted" && !["8", "resource_exhausted"].includes(outcome.code)) failures.push(`${label}: ${outcome.code}, expected RESOURCE_EXHAUSTED`);
    if (outcome.error && rpcLevel && !outcome.detail) failures.push(`${label}: ${outcome.code} without a StatehouseError detail`);
    if (["13", "2", "internal", "unknown"].includes(outcome.code)) failures.push(`${label}: ${outcome.code}`);
    if (cases.indexOf(c) % 200 === 0) {
      expect((await rpc.unary(StatehouseService.method.health, {})).status).toBe("ok");
      healthChecks += 1;
    }
  });

  console.log(
    `fuzz: ${cases.length} requests to ${METHODS.length} RPC paths over ${PROTOCOLS.length} protocol/transport pairs (seed ${SEED}); ` +
      `answers by code: ${JSON.stringify(Object.fromEntries([...tally].sort()))}; ${healthChecks} health checks in between`,
  );
  expect(failures.slice(0, 20)).toEqual([]);
  expect((await rpc.unary(StatehouseService.method.health, {})).status).toBe("ok");
  rpc.close();
  expect(daemon.child.exitCode).toBeNull();
  expect(daemon.output).not.toContain("internal error in handler");
  expect(daemon.output).not.toContain('"level":60');
});
