// An independent reader for verification: the generated Connect client over
// gRPC (HTTP/2), no SDK in between, so a bug in either SDK cannot hide or fake
// a recovery problem. One Oracle per verification pass (a fresh connection).
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { StatehouseService } from "@statehouse/api";
import type { EventView, JsonObject, StateView } from "../drivers/protocol.js";

export class Oracle implements AsyncDisposable {
  private readonly sessions: Http2SessionManager;
  private readonly rpc: Client<typeof StatehouseService>;

  constructor(
    url: string,
    private readonly namespace = "default",
  ) {
    this.sessions = new Http2SessionManager(url);
    this.rpc = createClient(StatehouseService, createGrpcTransport({ baseUrl: url, sessionManager: this.sessions }));
  }

  async health(): Promise<string> {
    return (await this.rpc.health({}, { timeoutMs: 10_000 })).status;
  }

  async getState(agent: string, key: string): Promise<StateView> {
    const response = await this.rpc.getState({ namespace: this.namespace, agentId: agent, key }, { timeoutMs: 10_000 });
    return {
      exists: response.exists,
      value: (response.value as JsonObject | undefined) ?? null,
      version: Number(response.version),
      commit_ts: Number(response.commitTs),
    };
  }

  async listKeys(agent: string): Promise<string[]> {
    return (await this.rpc.listKeys({ namespace: this.namespace, agentId: agent }, { timeoutMs: 10_000 })).keys;
  }

  /** The agent's events with commit_ts >= startTs (all of them by default). */
  async replay(agent: string, startTs?: number): Promise<EventView[]> {
    const events: EventView[] = [];
    const request = {
      namespace: this.namespace,
      agentId: agent,
      ...(startTs === undefined ? {} : { startTs: BigInt(startTs) }),
    };
    for await (const event of this.rpc.replay(request, { timeoutMs: 60_000 })) {
      events.push({
        txn_id: event.txnId,
        commit_ts: Number(event.commitTs),
        operations: event.operations.map((op) => ({
          key: op.key,
          value: (op.value as JsonObject | undefined) ?? null,
          version: Number(op.version),
        })),
      });
    }
    return events;
  }

  close(): void {
    this.sessions.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
