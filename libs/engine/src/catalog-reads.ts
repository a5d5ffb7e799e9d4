// Paged lists of the namespaces and agents a store holds, from the agent-event index
// (`03 str(namespace) str(agent) u64(commit_ts)`): every agent that ever committed appears,
// also one whose keys are all deleted now. Distinct names are found by seeking past each
// one (one short iterator per name), so a page costs its own items, never the whole table.
// An agent's key count scans its latest-state entries (flags byte only, values not parsed).
import { agentPrefix, decodeString, decodeU64, namespacePrefix, openPrefix, prefixEnd, TABLE_AGENT_EVENT, TABLE_STATE } from "./key-encoding.ts";
import { checkBounds, PageBuilder } from "./paged-reads.ts";
import { decodeEvent } from "./record-codec.ts";
import type { KvRange, ReadableKv } from "./storage/ordered-kv.ts";
import type { AgentInfo, CatalogPageOptions, NamespaceInfo, Page } from "./types.ts";
import { checkName } from "./validation.ts";

/** Latest-state entries read per chunk while counting an agent's keys. */
const COUNT_CHUNK = 4096;

export class CatalogReads {
  private readonly kv: ReadableKv;

  constructor(kv: ReadableKv) {
    this.kv = kv;
  }

  /** Namespaces in byte order, optionally only those starting with `prefix`. */
  async namespaces(options: CatalogPageOptions = {}): Promise<Page<NamespaceInfo>> {
    const { bounds, prefix } = checkCatalog(options);
    const start = openPrefix(TABLE_AGENT_EVENT, [prefix]);
    let cursor = bounds.after === undefined ? start : maxBuffer(start, prefixEnd(namespacePrefix(TABLE_AGENT_EVENT, bounds.after)));
    const end = prefixEnd(start);
    const builder = new PageBuilder<NamespaceInfo>(bounds);
    while (!builder.done) {
      const key = await this.firstKey({ gte: cursor, lt: end });
      if (key === null) break;
      const namespace = decodeString(key, 1).value;
      builder.offer(namespace, { namespace }, Buffer.byteLength(namespace));
      cursor = prefixEnd(namespacePrefix(TABLE_AGENT_EVENT, namespace));
    }
    return builder.page();
  }

  /** A namespace's agents in byte order (optionally those starting with `prefix`), with key counts and last commit. */
  async agents(namespace: string, options: CatalogPageOptions = {}): Promise<Page<AgentInfo>> {
    checkName(namespace, "namespace");
    const { bounds, prefix } = checkCatalog(options);
    const start = openPrefix(TABLE_AGENT_EVENT, [namespace, prefix]);
    let cursor = bounds.after === undefined ? start : maxBuffer(start, prefixEnd(agentPrefix(TABLE_AGENT_EVENT, namespace, bounds.after)));
    const end = prefixEnd(start);
    const agentOffset = namespacePrefix(TABLE_AGENT_EVENT, namespace).length;
    const builder = new PageBuilder<AgentInfo>(bounds);
    while (!builder.done) {
      const key = await this.firstKey({ gte: cursor, lt: end });
      if (key === null) break;
      const agentId = decodeString(key, agentOffset).value;
      const events = agentPrefix(TABLE_AGENT_EVENT, namespace, agentId);
      cursor = prefixEnd(events);
      if (builder.full) {
        builder.markMore();
        break;
      }
      builder.offer(agentId, await this.agentInfo(namespace, agentId, events), Buffer.byteLength(agentId));
    }
    return builder.page();
  }

  private async agentInfo(namespace: string, agentId: string, events: Buffer): Promise<AgentInfo> {
    const iterator = this.kv.iterator({ gte: events, lt: prefixEnd(events), reverse: true, limit: 1 });
    let lastCommitTs = 0;
    let lastCommittedAtMs = 0;
    try {
      const [row] = await iterator.next(1);
      if (row !== undefined) {
        lastCommitTs = decodeU64(row[0], row[0].length - 8);
        lastCommittedAtMs = decodeEvent(row[1], lastCommitTs).committedAtMs;
      }
    } finally {
      iterator.close();
    }
    return { namespace, agentId, keyCount: await this.countKeys(namespace, agentId), lastCommitTs: BigInt(lastCommitTs), lastCommittedAtMs };
  }

  private async countKeys(namespace: string, agentId: string): Promise<number> {
    const prefix = agentPrefix(TABLE_STATE, namespace, agentId);
    const iterator = this.kv.iterator({ gte: prefix, lt: prefixEnd(prefix), valuesOnly: true, snapshot: true });
    let count = 0;
    try {
      for (;;) {
        const rows = await iterator.next(COUNT_CHUNK);
        if (rows.length === 0) return count;
        // The flags byte says whether the key exists (tombstones are kept).
        for (const [, v] of rows) if (v[0] === 1) count++;
      }
    } finally {
      iterator.close();
    }
  }

  private async firstKey(range: KvRange): Promise<Buffer | null> {
    if (range.gte !== undefined && range.lt !== undefined && Buffer.compare(range.gte, range.lt) >= 0) return null;
    const iterator = this.kv.iterator({ ...range, limit: 1 });
    try {
      const [row] = await iterator.next(1);
      return row === undefined ? null : row[0];
    } finally {
      iterator.close();
    }
  }
}

function maxBuffer(a: Buffer, b: Buffer): Buffer {
  return Buffer.compare(a, b) >= 0 ? a : b;
}

function checkCatalog(options: CatalogPageOptions): { bounds: ReturnType<typeof checkBounds>; prefix: string } {
  const bounds = checkBounds(options);
  const prefix = options.prefix ?? "";
  if (typeof prefix !== "string") throw new TypeError("prefix must be a string");
  if (prefix !== "") checkName(prefix, "prefix");
  return { bounds, prefix };
}
