// Every version of one key (tombstones included) and a side-by-side JSON diff between any
// two: A and B are chosen per row (or with the a / b keys on the active row).
import { StatehouseError, type StateResult } from "@statehouse/sdk";
import { ErrorBox, Loading } from "../components/error-box.js";
import { JsonDiff } from "../components/json-diff.js";
import { VirtualList } from "../components/virtual-list.js";
import { client } from "../connection.js";
import { useListNav, useLoad, useQuery } from "../hooks.js";
import { AgentTabs } from "./agent-tabs.js";

/** Versions fetched at once. */
const PARALLEL = 16;

/** A version, or null when retention compacted it away (HISTORY_COMPACTED). */
type Version = StateResult | null;

async function versionOf(ns: string, agent: string, key: string, version: number, signal: AbortSignal): Promise<Version> {
  try {
    return await client.getStateAtVersion(agent, key, version, { namespace: ns, signal });
  } catch (error) {
    if (error instanceof StatehouseError && (error.code as string) === "HISTORY_COMPACTED") return null;
    throw error;
  }
}

async function versions(ns: string, agent: string, key: string, signal: AbortSignal): Promise<Version[]> {
  const latest = await client.getState(agent, key, { namespace: ns, signal });
  const count = Number(latest.version);
  const out: Version[] = [];
  for (let start = 1; start <= count; start += PARALLEL) {
    const batch = [];
    for (let v = start; v < Math.min(count + 1, start + PARALLEL); v++) batch.push(versionOf(ns, agent, key, v, signal));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

export function HistoryView() {
  const [query, setQuery] = useQuery();
  const ns = query.get("ns") ?? "default";
  const agent = query.get("agent") ?? "";
  const key = query.get("key") ?? "";
  const { data, error, loading } = useLoad((signal) => versions(ns, agent, key, signal), [ns, agent, key]);
  const all = data ?? [];
  const last = all.length;
  const b = Math.min(Number(query.get("b") ?? last), last);
  const a = Math.min(Number(query.get("a") ?? Math.max(1, b - 1)), last);
  const pick = (which: "a" | "b", version: number): void => setQuery({ [which]: String(version) });
  // Newest first.
  const rowVersion = (i: number): number => last - i;
  const [active, onKeyDown] = useListNav(all.length, (i) => pick("b", rowVersion(i)));
  const before = all[a - 1] ?? undefined;
  const after = all[b - 1] ?? undefined;
  const compacted = all.filter((v) => v === null).length;
  return (
    <section>
      <AgentTabs ns={ns} agent={agent} tab="history" />
      <h1>
        History of <code class="key">{key}</code>
      </h1>
      {error !== undefined ? <ErrorBox error={error} /> : null}
      {loading && data === undefined ? <Loading what="versions" /> : null}
      {data !== undefined && all.length === 0 ? <p class="muted">This key was never written.</p> : null}
      {all.length > 0 ? (
        <div class="split">
          <div>
            <div class="row header versions-grid">
              <span>A</span>
              <span>B</span>
              <span>version</span>
              <span>commit_ts</span>
              <span />
            </div>
            <VirtualList
              testId="versions"
              label="Versions (a / b pick the active row)"
              count={all.length}
              rowHeight={30}
              height="min(50vh, 500px)"
              active={active}
              onKeyDown={(e) => {
                if (e.key === "a" || e.key === "b") pick(e.key, rowVersion(active));
                else onKeyDown(e);
              }}
              row={(i) => {
                const version = rowVersion(i);
                const state = all[version - 1] ?? null;
                if (state === null) {
                  return (
                    <div class="versions-grid">
                      <span />
                      <span />
                      <span class="num">v{version}</span>
                      <span />
                      <span>
                        <em>compacted</em>
                      </span>
                    </div>
                  );
                }
                return (
                  <div class="versions-grid">
                    <input type="radio" name="a" aria-label={`A = version ${version}`} checked={a === version} onChange={() => pick("a", version)} tabIndex={-1} />
                    <input type="radio" name="b" aria-label={`B = version ${version}`} checked={b === version} onChange={() => pick("b", version)} tabIndex={-1} />
                    <span class="num">v{version}</span>
                    <span class="num">{String(state.commitTs)}</span>
                    <span>{state.exists ? "" : <em>deleted</em>}</span>
                  </div>
                );
              }}
            />
            <p class="muted">
              {all.length} versions{compacted > 0 ? `, ${compacted} compacted by retention (older versions are gone)` : ""}
            </p>
          </div>
          {before !== undefined && after !== undefined ? (
            <JsonDiff
              before={before.value ?? undefined}
              after={after.value ?? undefined}
              leftTitle={`A: v${a} (commit_ts ${before.commitTs})${before.exists ? "" : ", deleted"}`}
              rightTitle={`B: v${b} (commit_ts ${after.commitTs})${after.exists ? "" : ", deleted"}`}
            />
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
