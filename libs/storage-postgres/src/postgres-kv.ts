// The engine's shared store on PostgreSQL (or a PostgreSQL-compatible database): one table of
// bytea keys and values in the engine's key order, one lock row that serialises every
// engine's commit batches, and commit announcements by NOTIFY (with polling of the lock row
// as the fallback). Nothing is kept in this process: any number of daemons can open the same
// database, and one that dies leaves nothing behind but an open transaction the database
// rolls back. Design and costs: docs/cluster.md.
import type { KvEntry, KvIterator, KvOp, KvRange, LockedBatch, SharedKv } from "@statehouse/engine";
import pg from "pg";
import { CommitFollower } from "./commit-follower.ts";
import { describeError, readFailed } from "./errors.ts";
import { migrate, type MigrationResult } from "./migrations.ts";
import { lockAndReadSql, tables, type Tables, writeAndCommitSql } from "./sql.ts";

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`; `?sslmode=verify-full&sslrootcert=ca.pem` for TLS (libpq's names). */
  connectionString: string;
  /** TLS options passed to node's tls.connect (overrides what the URL's sslmode implies). */
  ssl?: pg.ClientConfig["ssl"];
  /** Schema holding the tables (default "statehouse"): several independent stores can share one database. */
  schema?: string;
  /** Pooled connections (default 10). One is held per commit batch and per snapshot iterator while it runs. */
  poolSize?: number;
  /** LISTEN/NOTIFY for commit announcements (default true); off, engines learn of commits by polling only. */
  notify?: boolean;
  /** How often the commit lock row is polled for commits a lost notification missed (default 1000 ms; 50 ms with notify off). */
  pollIntervalMs?: number;
  /**
   * A batch's transaction open longer than this is ended by the database (default 10 s):
   * a daemon cut off from the database mid-batch frees the commit lock for the others.
   */
  idleInTransactionTimeoutMs?: number;
  logger?: { warn(obj: object, msg: string): void } | undefined;
}

const DEFAULT_SCHEMA = "statehouse";
const EMPTY = Buffer.alloc(0);

const guarded = new WeakSet<pg.PoolClient>();

/**
 * A pooled connection, with an error listener: a connection that breaks while checked out
 * (the database restarts mid-batch) emits "error", which without a listener would be an
 * uncaught exception; its query in flight rejects anyway.
 */
async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  if (!guarded.has(client)) {
    client.on("error", () => undefined);
    guarded.add(client);
  }
  return client;
}

export class PostgresKv implements SharedKv {
  readonly kind = "postgres";
  readonly schema: string;
  readonly migrations: MigrationResult;
  private readonly pool: pg.Pool;
  private readonly t: Tables;
  private readonly follower: CommitFollower;
  private closed = false;

  private constructor(pool: pg.Pool, schema: string, migrations: MigrationResult, follower: CommitFollower) {
    this.pool = pool;
    this.schema = schema;
    this.t = tables(schema);
    this.migrations = migrations;
    this.follower = follower;
  }

  /** Connects, applies the schema migrations this version needs, starts following commits. */
  static async open(options: PostgresStoreOptions): Promise<PostgresKv> {
    if (typeof options.connectionString !== "string" || !/^postgres(ql)?:\/\//.test(options.connectionString)) {
      throw new TypeError("connectionString must be a postgres:// or postgresql:// URL");
    }
    const schema = options.schema ?? DEFAULT_SCHEMA;
    const t = tables(schema);
    const config: pg.PoolConfig = {
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 10_000,
      keepAlive: true,
      ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
    };
    const pool = new pg.Pool(config);
    // An idle pooled connection that breaks (database restart) must not crash the process.
    pool.on("error", (error) => options.logger?.warn({ err: describeError(error) }, "idle PostgreSQL connection failed"));
    let migrations: MigrationResult;
    try {
      const client = await pool.connect();
      try {
        migrations = await migrate(client, schema);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    const follower = new CommitFollower({
      clientConfig: config,
      channel: t.channel,
      notify: options.notify ?? true,
      pollIntervalMs: options.pollIntervalMs ?? (options.notify === false ? 50 : 1000),
      readLastTs: async () => {
        const { rows } = await pool.query<{ last_ts: string }>(`SELECT last_ts FROM ${t.lock} WHERE id = 1`);
        return Number(rows[0]?.last_ts ?? 0);
      },
      logger: options.logger,
    });
    await follower.start();
    return new PostgresKv(pool, schema, migrations, follower);
  }

  async getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    if (keys.length === 0) return [];
    try {
      const { rows } = await this.pool.query<{ key: Buffer; value: Buffer }>(`SELECT key, value FROM ${this.t.kv} WHERE key = ANY($1::bytea[])`, [keys]);
      return byKey(keys, rows);
    } catch (error) {
      throw readFailed(error);
    }
  }

  async lock(keys: readonly Buffer[]): Promise<LockedBatch> {
    const client = await checkout(this.pool);
    let results: pg.QueryResult[];
    try {
      results = (await client.query(lockAndReadSql(this.t, keys))) as unknown as pg.QueryResult[];
    } catch (error) {
      // Destroying the connection rolls back whatever it began.
      client.release(error as Error);
      throw error;
    }
    const values = keys.length === 0 ? [] : byKey(keys, (results[2]?.rows ?? []) as { key: Buffer; value: Buffer }[]);
    let ended = false;
    const end = (error?: Error): void => {
      ended = true;
      client.release(error);
    };
    return {
      values,
      commit: async (ops: readonly KvOp[], announce: number | null) => {
        if (ended) throw new Error("this batch already ended");
        try {
          await client.query(writeAndCommitSql(this.t, ops, announce));
        } catch (error) {
          end(error as Error);
          throw error;
        }
        end();
      },
      release: async () => {
        if (ended) return;
        try {
          await client.query("ROLLBACK");
        } catch (error) {
          end(error as Error);
          return;
        }
        end();
      },
    };
  }

  onCommitted(listener: (commitTs: number) => void): () => void {
    return this.follower.subscribe(listener);
  }

  iterator(range: KvRange): KvIterator {
    return new PostgresIterator(this.pool, this.t, range);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.follower.stop();
    await this.pool.end();
  }
}

/** Values in the order of `keys` (undefined where a key has no row). */
function byKey(keys: readonly Buffer[], rows: readonly { key: Buffer; value: Buffer }[]): (Buffer | undefined)[] {
  const found = new Map<string, Buffer>();
  for (const row of rows) found.set(row.key.toString("hex"), row.value);
  return keys.map((key) => found.get(key.toString("hex")));
}

/**
 * Key-ordered range reads in chunks, each one query continuing after the last key returned
 * (keyset paging: no server-side cursor). `snapshot: true` reads every chunk inside one
 * REPEATABLE READ READ ONLY transaction on a connection of its own, so all chunks see the
 * store as of the first; without it each chunk sees the latest commits.
 */
class PostgresIterator implements KvIterator {
  private last: Buffer | undefined;
  private remaining: number;
  private done = false;
  private client: pg.PoolClient | null = null;
  private inFlight: Promise<unknown> = Promise.resolve();
  private readonly pool: pg.Pool;
  private readonly t: Tables;
  private readonly range: KvRange;

  constructor(pool: pg.Pool, t: Tables, range: KvRange) {
    this.pool = pool;
    this.t = t;
    this.range = range;
    this.remaining = range.limit ?? Infinity;
  }

  next(max: number): Promise<KvEntry[]> {
    const result = this.inFlight.then(() => this.fetch(max)).catch((error: unknown) => {
      throw readFailed(error);
    });
    this.inFlight = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.done = true;
    this.inFlight = this.inFlight.then(() => this.endSnapshot());
  }

  private async fetch(max: number): Promise<KvEntry[]> {
    if (this.done || this.remaining <= 0) return [];
    const n = Math.min(max, this.remaining);
    const { text, values } = this.query(n);
    let rows: { key: Buffer; value: Buffer }[];
    if (this.range.snapshot === true) {
      if (this.client === null) {
        this.client = await checkout(this.pool);
        try {
          await this.client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        } catch (error) {
          this.client.release(error as Error);
          this.client = null;
          throw error;
        }
      }
      rows = (await this.client.query<{ key: Buffer; value: Buffer }>(text, values)).rows;
    } else {
      rows = (await this.pool.query<{ key: Buffer; value: Buffer }>(text, values)).rows;
    }
    this.remaining -= rows.length;
    const tail = rows[rows.length - 1];
    if (tail === undefined || rows.length < n) this.done = true;
    if (tail !== undefined) this.last = tail.key;
    if (this.done) await this.endSnapshot();
    return rows.map((row): KvEntry => [this.range.valuesOnly === true ? EMPTY : row.key, row.value]);
  }

  private query(n: number): { text: string; values: unknown[] } {
    const where: string[] = [];
    const values: unknown[] = [];
    const bind = (op: string, key: Buffer): void => {
      values.push(key);
      where.push(`key ${op} $${values.length}`);
    };
    const { gte, gt, lt } = this.range;
    const reverse = this.range.reverse === true;
    if (gte !== undefined) bind(">=", gte);
    else if (gt !== undefined) bind(">", gt);
    if (lt !== undefined) bind("<", lt);
    if (this.last !== undefined) bind(reverse ? "<" : ">", this.last);
    values.push(n);
    const text =
      `SELECT key, value FROM ${this.t.kv}` +
      (where.length === 0 ? "" : ` WHERE ${where.join(" AND ")}`) +
      ` ORDER BY key ${reverse ? "DESC" : "ASC"} LIMIT $${values.length}`;
    return { text, values };
  }

  private async endSnapshot(): Promise<void> {
    const client = this.client;
    if (client === null) return;
    this.client = null;
    try {
      await client.query("COMMIT");
      client.release();
    } catch (error) {
      client.release(error as Error);
    }
  }
}
