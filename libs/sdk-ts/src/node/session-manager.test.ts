// The Node entry's HTTP/2 session manager against the real daemon over real
// TLS sockets (a CA made at test time): a response that is wholly in, its
// HTTP/2 stream closed, before anyone reads its body. Over TLS a client often
// handles a call's whole response in one pass, before connect-node starts
// reading the body; Node 24.20+ (nodejs/node#65677) then ended that body with
// ERR_STREAM_PREMATURE_CLOSE although every byte was buffered, which the
// security bench's 64 clients saw as `ConnectionError ... [unknown] Premature
// close` (issue 15). Here the test waits for that state instead of hoping
// the load produces it.
import { setTimeout as sleep } from "node:timers/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetStateRequestSchema, GetStateResponseSchema } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Statehouse } from "../index.js";
import { DaemonProcess } from "@statehouse/test-services";
import { uniqueAgent } from "../test-support/daemon.js";
import { TestCa } from "../test-support/test-ca.js";
import { SessionManager } from "./session-manager.js";

let ca: TestCa;
let daemon: DaemonProcess;
const agent = uniqueAgent("session-manager");

beforeAll(async () => {
  ca = TestCa.create();
  const server = ca.server();
  daemon = await DaemonProcess.start({ tls: true, env: { STATEHOUSE_TLS_CERT: server.certFile, STATEHOUSE_TLS_KEY: server.keyFile } });
  await using client = new Statehouse({ url: daemon.url, namespace: "default", ca: ca.caPem });
  await client.transact([{ agentId: agent, key: "k", value: { n: 1 } }]);
}, 60_000);

afterAll(async () => {
  await daemon?.dispose();
  ca?.dispose();
});

/** A Connect unary GetState of `agent`/k on `manager`'s session, the request sent whole. */
async function getState(manager: SessionManager) {
  const stream = await manager.request(
    "POST",
    "/statehouse.v1.StatehouseService/GetState",
    { "content-type": "application/proto", "connect-protocol-version": "1" },
    {},
  );
  stream.end(toBinary(GetStateRequestSchema, create(GetStateRequestSchema, { namespace: "default", agentId: agent, key: "k" })));
  return stream;
}

describe("SessionManager over TLS", () => {
  it("reads a body whose HTTP/2 stream closed before the read began", async () => {
    const manager = new SessionManager(daemon.url, undefined, { ca: Buffer.from(ca.caPem) });
    try {
      for (let call = 0; call < 5; call++) {
        const stream = await getState(manager);
        // HEADERS, DATA and END_STREAM are all in: the protocol stream is closed, the body still buffered.
        while (!stream.closed) await sleep(5);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        const response = fromBinary(GetStateResponseSchema, Buffer.concat(chunks));
        expect(response.exists).toBe(true);
        expect(response.value).toEqual({ n: 1 });
      }
    } finally {
      manager.abort();
    }
  });
});
