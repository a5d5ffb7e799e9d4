// Random identifiers (idempotency keys, transaction ids). crypto.getRandomValues
// exists in Node and in every browser, also outside secure contexts (unlike
// randomUUID). It is called for 256 ids at a time: one call costs more than
// formatting an id (ids need to be unique, not secret).

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
const ID_BYTES = 16;
const pool = new Uint8Array(ID_BYTES * 256);
let used = pool.length;

/** 128 random bits as 32 lowercase hex characters. */
export function randomId(): string {
  if (used === pool.length) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  let id = "";
  for (let i = used; i < used + ID_BYTES; i++) id += HEX[pool[i] as number] as string;
  used += ID_BYTES;
  return id;
}
