// "A couple of PostgreSQL tables": what a user would build instead of
// Statehouse: an append-only `events` table (indexed per agent for replay)
// and a `state` table with one row per key and a version counter. One
// connection per concurrent client (that is how PostgreSQL serves clients);
// every statement is a named prepared statement.
import pg from "pg";

export interface PostgresConfig {
  host: string;
  port: number;
  user: string;
  database: string;
}

export const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id bigserial PRIMARY KEY,
  namespace text NOT NULL,
  agent_id text NOT NULL,
  key text NOT NULL,
  value jsonb NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS events_by_agent ON events (namespace, agent_id, id);
CREATE TABLE IF NOT EXISTS state (
  namespace text NOT NULL,
  agent_id text NOT NULL,
  key text NOT NULL,
  value jsonb NOT NULL,
  version bigint NOT NULL,
  PRIMARY KEY (namespace, agent_id, key)
);`;

const INSERT_EVENT = {
  name: "insert_event",
  text: "INSERT INTO events (namespace, agent_id, key, value) VALUES ($1, $2, $3, $4::jsonb)",
};
const UPSERT_STATE = {
  name: "upsert_state",
  text: `INSERT INTO state (namespace, agent_id, key, value, version) VALUES ($1, $2, $3, $4::jsonb, 1)
         ON CONFLICT (namespace, agent_id, key) DO UPDATE SET value = excluded.value, version = state.version + 1`,
};
const EVENT_AND_STATE = {
  name: "event_and_state",
  text: `WITH e AS (INSERT INTO events (namespace, agent_id, key, value) VALUES ($1, $2, $3, $4::jsonb))
         INSERT INTO state (namespace, agent_id, key, value, version) VALUES ($1, $2, $3, $4::jsonb, 1)
         ON CONFLICT (namespace, agent_id, key) DO UPDATE SET value = excluded.value, version = state.version + 1`,
};
const GET_STATE = {
  name: "get_state",
  text: "SELECT value, version FROM state WHERE namespace = $1 AND agent_id = $2 AND key = $3",
};
const REPLAY = {
  name: "replay",
  text: "SELECT id, key, value, committed_at FROM events WHERE namespace = $1 AND agent_id = $2 ORDER BY id",
};

export class PostgresBenchClient {
  private constructor(private readonly client: pg.Client) {}

  static async connect(config: PostgresConfig): Promise<PostgresBenchClient> {
    const client = new pg.Client(config);
    await client.connect();
    return new PostgresBenchClient(client);
  }

  /** Creates the two tables (idempotent). */
  async createSchema(): Promise<void> {
    await this.client.query(POSTGRES_SCHEMA);
  }

  /** BEGIN; insert the event row; upsert the state row; COMMIT — four round trips, as usually written. */
  async commitTransaction(namespace: string, agentId: string, key: string, valueJson: string): Promise<void> {
    await this.client.query("BEGIN");
    try {
      await this.client.query({ ...INSERT_EVENT, values: [namespace, agentId, key, valueJson] });
      await this.client.query({ ...UPSERT_STATE, values: [namespace, agentId, key, valueJson] });
      await this.client.query("COMMIT");
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /** The same work as one statement (a data-modifying CTE, its own transaction): one round trip. */
  async commitOneStatement(namespace: string, agentId: string, key: string, valueJson: string): Promise<void> {
    await this.client.query({ ...EVENT_AND_STATE, values: [namespace, agentId, key, valueJson] });
  }

  async getState(namespace: string, agentId: string, key: string): Promise<unknown> {
    const result = await this.client.query({ ...GET_STATE, values: [namespace, agentId, key] });
    return result.rows[0];
  }

  /** All events of one agent, in order (rows parsed, jsonb decoded). Returns the count. */
  async replay(namespace: string, agentId: string): Promise<number> {
    const result = await this.client.query({ ...REPLAY, values: [namespace, agentId] });
    return result.rowCount ?? result.rows.length;
  }

  /** Bulk-loads `count` events (and their state rows) for one agent, server-side; keys step/0 .. step/<count-1>. */
  async loadAgent(namespace: string, agentId: string, count: number, valueJson: string): Promise<void> {
    await this.client.query(
      `INSERT INTO events (namespace, agent_id, key, value) SELECT $1, $2, 'step/' || i, $4::jsonb FROM generate_series(0, $3::int - 1) AS i`,
      [namespace, agentId, count, valueJson],
    );
    await this.client.query(
      `INSERT INTO state (namespace, agent_id, key, value, version) SELECT $1, $2, 'step/' || i, $4::jsonb, 1 FROM generate_series(0, $3::int - 1) AS i
       ON CONFLICT DO NOTHING`,
      [namespace, agentId, count, valueJson],
    );
    await this.client.query("ANALYZE events; ANALYZE state");
  }

  /** The no-op: SELECT 1. */
  async selectOne(): Promise<void> {
    await this.client.query("SELECT 1");
  }

  async close(): Promise<void> {
    await this.client.end();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One connection per concurrent client; `await using` closes them all. */
export interface PostgresPool extends AsyncDisposable {
  clients: PostgresBenchClient[];
  /** The connection of worker `w`. */
  at(w: number): PostgresBenchClient;
}

export async function connectPool(config: PostgresConfig, size: number): Promise<PostgresPool> {
  const clients = await Promise.all(Array.from({ length: size }, () => PostgresBenchClient.connect(config)));
  return {
    clients,
    at: (w) => clients[w] as PostgresBenchClient,
    [Symbol.asyncDispose]: async () => {
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}
