// The HTTP/2 session manager of the Node entry: connect-node's, except that
// each response body's reader (Node's own Readable async iterator) is started
// when the request is made rather than when connect-node first asks for the
// body.
//
// Why: Node 24.20+ (nodejs/node#65677, open; 24.21.0 is affected) ends that
// iterator at once with ERR_STREAM_PREMATURE_CLOSE when it is started on an
// HTTP/2 stream that is already closed but whose body is still buffered:
// end-of-stream takes Http2Stream's `closed` getter (the protocol stream has
// closed) for the readable side having finished. Over TLS a client often
// handles a call's whole response (HEADERS, DATA, END_STREAM) in one pass,
// before the deferred 'response' event lets connect-node start reading, so
// about one call in a few thousand under a load of concurrent calls failed
// with `ConnectionError ... [unknown] Premature close` (the security bench,
// issue 15). Started at request time, the iterator watches the stream from
// its first byte and so judges its end by the events, as before 24.20.
import type http2 from "node:http2";
import { Readable } from "node:stream";
import { Http2SessionManager } from "@connectrpc/connect-node";

type RequestArgs = Parameters<Http2SessionManager["request"]>;

export class SessionManager extends Http2SessionManager {
  override async request(...args: RequestArgs): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    startBodyReader(stream);
    return stream;
  }
}

/**
 * Starts Node's async iterator over `stream` now and hands it to the first
 * `for await` over the stream (later ones get a new iterator, as usual). It
 * reads nothing the consumer has not asked for beyond the first chunk.
 */
export function startBodyReader(stream: Readable): void {
  const iterator: AsyncIterator<unknown> = Readable.prototype[Symbol.asyncIterator].call(stream);
  let first: Promise<IteratorResult<unknown>> | undefined = iterator.next();
  // The call may fail before anyone reads the body (the error reaches the
  // caller through connect-node); the reader's own rejection is then moot.
  first.catch(() => undefined);
  let handedOut = false;
  Object.defineProperty(stream, Symbol.asyncIterator, {
    configurable: true,
    writable: true,
    value(this: Readable): AsyncIterator<unknown> {
      if (handedOut) return Readable.prototype[Symbol.asyncIterator].call(this);
      handedOut = true;
      return {
        next: () => {
          const result = first ?? iterator.next();
          first = undefined;
          return result;
        },
        return: async (value?: unknown) => (iterator.return === undefined ? { done: true, value } : await iterator.return(value)),
      };
    },
  });
}
