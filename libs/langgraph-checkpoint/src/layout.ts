// Where the saver keeps things. One agent per thread, so a thread's whole
// history is one Statehouse agent (`replay` and `watch` it), plus one index
// agent that lists the threads. Inside a thread's agent:
//
//   checkpoint/<ns>/<checkpoint_id>                 the checkpoint without its channel values
//   blob/<ns>/<channel>/<version>                   one channel value at one version
//   write/<ns>/<checkpoint_id>/<task_id>/<idx>      one pending write
//
// Each variable part is encodeURIComponent()-encoded, so it holds no "/" and a
// prefix never matches a longer name (`checkpoint/a/` is not `checkpoint/ab/`).

/** The part of a key that stands for one name. */
export function part(name: string | number): string {
  return encodeURIComponent(String(name));
}

/** The inverse of {@link part}. */
export function unpart(text: string): string {
  return decodeURIComponent(text);
}

export class Layout {
  /** The agent listing the threads (one key per thread id). */
  readonly indexAgent: string;
  readonly #threadAgentPrefix: string;

  constructor(agentPrefix: string) {
    this.indexAgent = `${agentPrefix}threads`;
    this.#threadAgentPrefix = `${agentPrefix}thread/`;
  }

  threadAgent(threadId: string): string {
    return `${this.#threadAgentPrefix}${threadId}`;
  }

  /** `checkpoint/` for every namespace, `checkpoint/<ns>/` for one. */
  checkpointPrefix(ns?: string): string {
    return ns === undefined ? "checkpoint/" : `checkpoint/${part(ns)}/`;
  }

  checkpointKey(ns: string, checkpointId: string): string {
    return `checkpoint/${part(ns)}/${part(checkpointId)}`;
  }

  /** `[ns, checkpointId]` of a key under `checkpoint/`. */
  parseCheckpointKey(key: string): [string, string] {
    const [, ns, id] = key.split("/");
    if (ns === undefined || id === undefined) throw new Error(`not a checkpoint key: ${key}`);
    return [unpart(ns), unpart(id)];
  }

  blobKey(ns: string, channel: string, version: string | number): string {
    return `blob/${part(ns)}/${part(channel)}/${part(version)}`;
  }

  writesPrefix(ns: string, checkpointId: string): string {
    return `write/${part(ns)}/${part(checkpointId)}/`;
  }

  writeKey(ns: string, checkpointId: string, taskId: string, idx: number): string {
    return `${this.writesPrefix(ns, checkpointId)}${part(taskId)}/${idx}`;
  }
}
