// What a serializer's output becomes inside a Statehouse record (a JSON
// object): JSON text stays text (readable in `replay`), anything else is
// base64. Uses only globals that Node and browsers share.
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import type { JsonObject } from "@statehouse/sdk";

/** A serialized value as stored: `{ type, text }` for JSON, `{ type, base64 }` otherwise. */
export type SerializedValue = { type: string; text: string } | { type: string; base64: string };

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const CHUNK = 0x8000;

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Serializes `value` with `serde` into a JSON-safe record field. */
export async function dumpValue(serde: SerializerProtocol, value: unknown): Promise<SerializedValue> {
  const [type, bytes] = await serde.dumpsTyped(value);
  if (type === "json") {
    try {
      return { type, text: utf8Decoder.decode(bytes) };
    } catch {
      // not valid UTF-8: keep the exact bytes
    }
  }
  return { type, base64: toBase64(bytes) };
}

/** The inverse of {@link dumpValue}. */
export async function loadValue(serde: SerializerProtocol, stored: SerializedValue): Promise<unknown> {
  return serde.loadsTyped(stored.type, "text" in stored ? stored.text : fromBase64(stored.base64));
}

/** Reads a {@link SerializedValue} back out of a record field, or throws naming the record. */
export function asSerialized(field: unknown, where: string): SerializedValue {
  if (typeof field === "object" && field !== null && !Array.isArray(field)) {
    const f = field as JsonObject;
    if (typeof f["type"] === "string" && typeof f["text"] === "string") return { type: f["type"], text: f["text"] };
    if (typeof f["type"] === "string" && typeof f["base64"] === "string") return { type: f["type"], base64: f["base64"] };
  }
  throw new Error(`${where}: not a serialized value written by @statehouse/langgraph-checkpoint`);
}
