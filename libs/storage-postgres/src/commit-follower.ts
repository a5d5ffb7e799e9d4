// Tells this process's engine about every engine's commits: LISTEN on the store's channel
// (every batch NOTIFYs its last commit_ts at commit; PostgreSQL delivers notifications in
// commit order), plus a poll of the commit lock row's last_ts, which catches what a dropped
// LISTEN connection missed and is the whole mechanism where NOTIFY is unavailable.
// Listeners only ever see increasing commit_ts values.
import pg from "pg";
import { describeError } from "./errors.ts";

export interface CommitFollowerOptions {
  clientConfig: pg.ClientConfig;
  channel: string;
  notify: boolean;
  pollIntervalMs: number;
  readLastTs: () => Promise<number>;
  logger?: { warn(obj: object, msg: string): void } | undefined;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

export class CommitFollower {
  private readonly options: CommitFollowerOptions;
  private readonly listeners = new Set<(commitTs: number) => void>();
  private announced = 0;
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = RECONNECT_MIN_MS;
  private stopped = false;
  private polling = false;

  constructor(options: CommitFollowerOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    this.announced = await this.options.readLastTs();
    if (this.options.notify) await this.listen();
    this.timer = setInterval(() => void this.poll(), this.options.pollIntervalMs);
    this.timer.unref();
  }

  subscribe(listener: (commitTs: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private announce(commitTs: number): void {
    if (!Number.isSafeInteger(commitTs) || commitTs <= this.announced) return;
    this.announced = commitTs;
    for (const listener of this.listeners) listener(commitTs);
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      this.announce(await this.options.readLastTs());
    } catch (error) {
      this.options.logger?.warn({ err: describeError(error) }, "polling the commit marker failed");
    } finally {
      this.polling = false;
    }
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.options.clientConfig);
    client.on("notification", (message) => {
      if (message.channel === this.options.channel) this.announce(Number(message.payload));
    });
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("LISTEN connection ended")));
    await client.connect();
    await client.query(`LISTEN ${this.options.channel}`);
    this.client = client;
    this.reconnectDelay = RECONNECT_MIN_MS;
    // Commits between the last poll and LISTEN are caught here.
    void this.poll();
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = null;
    client.end().catch(() => undefined);
    this.options.logger?.warn({ err: describeError(error) }, "LISTEN connection lost: reconnecting (polling meanwhile)");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(RECONNECT_MAX_MS, delay * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen().catch(() => this.scheduleReconnect());
    }, delay);
    this.reconnectTimer.unref();
  }
}
