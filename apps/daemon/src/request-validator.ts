// Validation of request fields against the daemon's documented limits.
// Every violation is an INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) naming the
// field and, for size limits, the limit.
import type { JsonObject, JsonValue, RecordRef } from "@statehouse/engine";
import { invalidRequest, limitExceeded } from "./rpc-errors.js";

export interface ValidationLimits {
  maxValueBytes: number;
  maxNameBytes: number;
  maxKeyBytes: number;
  maxJsonDepth: number;
  maxOperationsPerTxn: number;
  maxTxnTimeoutMs: number;
  /** Paging (src/paging.ts): ListKeys page cap, ScanPrefix/GetStateAsOf page cap, page byte budget, unpaged answer limit. */
  maxPageKeys: number;
  maxPageEntries: number;
  maxPageBytes: number;
  maxUnpagedBytes: number;
}

export const DEFAULT_NAMESPACE = "default";

const utf8 = new TextEncoder();
// In unicode mode \p{Cs} matches only unpaired surrogates: text that has no UTF-8 form.
const LONE_SURROGATE = /\p{Cs}/u;

/** UTF-8 length without allocating for the common ASCII case. */
function utf8Length(text: string): number {
  // Strings of ASCII are their own length; anything else is measured.
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text.length : utf8.encode(text).length;
}

export class RequestValidator {
  readonly limits: ValidationLimits;

  constructor(limits: ValidationLimits) {
    this.limits = limits;
  }

  /** A namespace, agent id, key, prefix or idempotency key. */
  text(field: string, value: string, options: { maxBytes: number; limit: string; allowEmpty?: boolean }): string {
    if (value === "") {
      if (options.allowEmpty === true) return value;
      throw invalidRequest(field, `${field} must not be empty`);
    }
    if (LONE_SURROGATE.test(value)) throw invalidRequest(field, `${field} must be valid UTF-8`);
    const bytes = utf8Length(value);
    if (bytes > options.maxBytes) {
      throw limitExceeded(options.limit, `${field} is ${bytes} bytes, over the ${options.limit} limit of ${options.maxBytes}`, { field });
    }
    return value;
  }

  namespace(value: string, field = "namespace"): string {
    return value === "" ? DEFAULT_NAMESPACE : this.text(field, value, { maxBytes: this.limits.maxNameBytes, limit: "max_name_bytes" });
  }

  agentId(value: string, field = "agent_id"): string {
    return this.text(field, value, { maxBytes: this.limits.maxNameBytes, limit: "max_name_bytes" });
  }

  key(value: string, field = "key"): string {
    return this.text(field, value, { maxBytes: this.limits.maxKeyBytes, limit: "max_key_bytes" });
  }

  prefix(value: string): string {
    return this.text("prefix", value, { maxBytes: this.limits.maxKeyBytes, limit: "max_key_bytes", allowEmpty: true });
  }

  idempotencyKey(value: string): string {
    return this.text("idempotency_key", value, { maxBytes: this.limits.maxKeyBytes, limit: "max_key_bytes", allowEmpty: true });
  }

  txnId(value: string, field = "txn_id"): string {
    return this.text(field, value, { maxBytes: 256, limit: "max_txn_id_bytes" });
  }

  /** The (namespace, agent) a request addresses. */
  agent(req: { namespace: string; agentId: string }): { namespace: string; agentId: string } {
    return { namespace: this.namespace(req.namespace), agentId: this.agentId(req.agentId) };
  }

  ref(req: { namespace: string; agentId: string; key: string }, fieldPrefix = ""): RecordRef {
    return {
      namespace: this.namespace(req.namespace, `${fieldPrefix}namespace`),
      agentId: this.agentId(req.agentId, `${fieldPrefix}agent_id`),
      key: this.key(req.key, `${fieldPrefix}key`),
    };
  }

  /** A record value: present, finite numbers, bounded depth, bounded JSON size. */
  value(value: JsonObject | undefined, field = "value"): JsonObject {
    if (value === undefined) throw invalidRequest(field, `${field} is required (a JSON object)`);
    this.#checkDepth(value, field, 1);
    const bytes = utf8Length(JSON.stringify(value));
    if (bytes > this.limits.maxValueBytes) {
      throw limitExceeded(
        "max_value_bytes",
        `${field} is ${bytes} bytes as JSON, over the max_value_bytes limit of ${this.limits.maxValueBytes} (STATEHOUSE_MAX_VALUE_BYTES)`,
        { field },
      );
    }
    return value;
  }

  #checkDepth(value: JsonValue, field: string, depth: number): void {
    if (value === null || typeof value !== "object") {
      if (typeof value === "number" && !Number.isFinite(value)) throw invalidRequest(field, `${field} contains a non-finite number`);
      return;
    }
    if (depth > this.limits.maxJsonDepth) {
      throw limitExceeded("max_json_depth", `${field} nests deeper than the max_json_depth limit of ${this.limits.maxJsonDepth}`, { field });
    }
    if (Array.isArray(value)) {
      for (const item of value) this.#checkDepth(item, field, depth + 1);
    } else {
      for (const key in value) {
        if (LONE_SURROGATE.test(key)) throw invalidRequest(field, `${field} has a member name that is not valid UTF-8`);
        this.#checkDepth(value[key] as JsonValue, field, depth + 1);
      }
    }
  }

  operationCount(count: number): void {
    if (count > this.limits.maxOperationsPerTxn) {
      throw limitExceeded(
        "max_operations_per_txn",
        `transaction has ${count} operations and preconditions, over the max_operations_per_txn limit of ${this.limits.maxOperationsPerTxn}`,
      );
    }
  }

  timeoutMs(value: bigint | undefined): number | undefined {
    if (value === undefined || value === 0n) return undefined;
    if (value > BigInt(this.limits.maxTxnTimeoutMs)) {
      throw limitExceeded("max_txn_timeout_ms", `timeout_ms ${value} is over the max_txn_timeout_ms limit of ${this.limits.maxTxnTimeoutMs}`, {
        field: "timeout_ms",
      });
    }
    return Number(value);
  }
}
