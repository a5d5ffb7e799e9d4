// Pages of ListKeys, ScanPrefix and GetStateAsOf (whole agent): page sizes capped by the
// daemon's limits, a byte budget per page, and opaque page tokens bound to the request.
//
// A token is base64url([u8 format = 1][u32 crc32 of the request's scope][UTF-8 last key]):
// the scope (RPC, namespace, agent, prefix, commit_ts) makes a token from another request
// INVALID_ARGUMENT instead of a silently wrong page.
import { crc32 } from "node:zlib";
import type { Page, PageOptions } from "@statehouse/engine";
import { invalidRequest, limitExceeded } from "./rpc-errors.js";

const FORMAT = 1;
const HEADER_BYTES = 5;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface PagingLimits {
  maxPageKeys: number;
  maxPageEntries: number;
  maxPageBytes: number;
  maxUnpagedBytes: number;
}

/** The paging fields every paged request carries. */
export interface PageRequest {
  pageSize: number;
  pageToken: string;
}

/** How one request reads: the engine's page bounds and how the answer becomes a response. */
export interface PagePlan {
  options: PageOptions;
  /** The response's next_page_token (throws LIMIT_EXCEEDED for an unpaged answer over max_unpaged_bytes). */
  finish(page: Page<unknown>): string;
}

export class Paging {
  readonly limits: PagingLimits;

  constructor(limits: PagingLimits) {
    this.limits = limits;
  }

  /**
   * Plans one read. No page_size and no page_token is the original, unpaged call: the whole
   * answer, up to max_unpaged_bytes. Otherwise a page of at most page_size (capped at the
   * limit for `kind`; 0 means the cap) items and about max_page_bytes. RPCs that were always
   * paged (`alwaysPaged`: ListNamespaces, ListAgents) read a capped page for page_size 0 too.
   */
  plan(kind: "keys" | "entries", req: PageRequest, scope: readonly string[], procedure: string, options: { alwaysPaged?: boolean } = {}): PagePlan {
    const scopeKey = [procedure, ...scope].join("\u0000");
    if (req.pageSize === 0 && req.pageToken === "" && options.alwaysPaged !== true) {
      const max = this.limits.maxUnpagedBytes;
      return {
        options: { maxBytes: max },
        finish: (page) => {
          if (page.nextAfter !== null) {
            throw limitExceeded(
              "max_unpaged_bytes",
              `the answer is larger than the max_unpaged_bytes limit of ${max} bytes (STATEHOUSE_MAX_UNPAGED_BYTES): set page_size and follow next_page_token`,
            );
          }
          return "";
        },
      };
    }
    const cap = kind === "keys" ? this.limits.maxPageKeys : this.limits.maxPageEntries;
    const after = req.pageToken === "" ? undefined : decodePageToken(req.pageToken, scopeKey);
    return {
      options: { limit: req.pageSize === 0 ? cap : Math.min(req.pageSize, cap), maxBytes: this.limits.maxPageBytes, ...(after === undefined ? {} : { after }) },
      finish: (page) => (page.nextAfter === null ? "" : encodePageToken(scopeKey, page.nextAfter)),
    };
  }
}

export function encodePageToken(scopeKey: string, lastKey: string): string {
  const key = Buffer.from(lastKey, "utf8");
  const out = Buffer.allocUnsafe(HEADER_BYTES + key.length);
  out[0] = FORMAT;
  out.writeUInt32BE(crc32(scopeKey), 1);
  key.copy(out, HEADER_BYTES);
  return out.toString("base64url");
}

/** The last key a token carries; INVALID_ARGUMENT naming page_token when it is not one of this request's. */
export function decodePageToken(token: string, scopeKey: string): string {
  const bad = (why: string): Error => invalidRequest("page_token", `page_token is invalid: ${why}`);
  const raw = Buffer.from(token, "base64url");
  if (raw.toString("base64url") !== token) throw bad("not a token this daemon issued");
  if (raw.length <= HEADER_BYTES || raw[0] !== FORMAT) throw bad("not a token this daemon issued");
  if (raw.readUInt32BE(1) !== crc32(scopeKey)) throw bad("it belongs to another request (namespace, agent_id, prefix and commit_ts must stay the same while paging)");
  try {
    return utf8.decode(raw.subarray(HEADER_BYTES));
  } catch {
    throw bad("not a token this daemon issued");
  }
}
