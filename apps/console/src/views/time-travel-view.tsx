// The agent's whole state as of a commit_ts (or a wall time, resolved to the last commit of
// the agent at or before it), diffed against now: keys added, removed, changed since.
import type { JsonObject, StateEntry } from "@statehouse/sdk";
import { useState } from "preact/hooks";
import { ErrorBox, Loading } from "../components/error-box.js";
import { JsonDiff } from "../components/json-diff.js";
import { VirtualList } from "../components/virtual-list.js";
import { client } from "../connection.js";
import { useListNav, useLoad, useQuery } from "../hooks.js";
import { AgentTabs } from "./agent-tabs.js";

type Change = "added" | "removed" | "changed" | "same";

interface KeyDiff {
  key: string;
  then: StateEntry | undefined;
  now: StateEntry | undefined;
  change: Change;
}

/** The agent's last commit_ts at or before `at` (binary search over Replay's reverse reads), or 0. */
async function commitAt(ns: string, agent: string, at: Date, signal: AbortSignal): Promise<bigint> {
  const lastBefore = async (ts: bigint) => {
    for await (const event of client.replay(agent, { namespace: ns, endTs: ts, limit: 1, reverse: true, signal })) return event;
    return undefined;
  };
  const head = await lastBefore((await client.daemonStatus({ signal })).commitTs);
  if (head === undefined) return 0n;
  if (head.committedAt === null || head.committedAt <= at) return head.commitTs;
  let lo = 0n;
  let hi = head.commitTs;
  // Invariant: the agent's state at lo was committed at or before `at`, at hi after it.
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    const event = await lastBefore(mid);
    if (event === undefined || (event.committedAt !== null && event.committedAt <= at)) lo = mid;
    else hi = event.commitTs;
  }
  const event = await lastBefore(lo);
  return event?.commitTs ?? 0n;
}

function same(a: JsonObject, b: JsonObject): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function compare(ns: string, agent: string, ts: bigint, signal: AbortSignal): Promise<KeyDiff[]> {
  const [then, now] = await Promise.all([client.getAgentStateAsOf(agent, ts, { namespace: ns, signal }), client.scanPrefix(agent, "", { namespace: ns, signal })]);
  const byKey = new Map<string, KeyDiff>();
  for (const entry of then) byKey.set(entry.key, { key: entry.key, then: entry, now: undefined, change: "removed" });
  for (const entry of now) {
    const old = byKey.get(entry.key);
    if (old === undefined) byKey.set(entry.key, { key: entry.key, then: undefined, now: entry, change: "added" });
    else byKey.set(entry.key, { ...old, now: entry, change: old.then !== undefined && same(old.then.value, entry.value) ? "same" : "changed" });
  }
  const order: Record<Change, number> = { changed: 0, added: 1, removed: 2, same: 3 };
  return [...byKey.values()].sort((x, y) => order[x.change] - order[y.change] || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

export function TimeTravelView() {
  const [query, setQuery] = useQuery();
  const ns = query.get("ns") ?? "default";
  const agent = query.get("agent") ?? "";
  const tsParam = query.get("ts");
  const atParam = query.get("at");
  const [tsText, setTsText] = useState(tsParam ?? "");
  const [atText, setAtText] = useState(atParam ?? "");
  const target = useLoad(
    async (signal) => {
      if (tsParam !== null && /^\d+$/.test(tsParam)) return BigInt(tsParam);
      if (atParam !== null && !Number.isNaN(Date.parse(atParam))) return commitAt(ns, agent, new Date(atParam), signal);
      return null;
    },
    [ns, agent, tsParam, atParam],
  );
  const ts = target.data ?? null;
  const diff = useLoad(async (signal) => (ts === null ? null : compare(ns, agent, ts, signal)), [ns, agent, ts]);
  const rows = diff.data ?? [];
  const [active, onKeyDown] = useListNav(rows.length, () => undefined);
  const shown = rows[active];
  const counts = { added: 0, removed: 0, changed: 0, same: 0 };
  for (const row of rows) counts[row.change]++;
  return (
    <section>
      <AgentTabs ns={ns} agent={agent} tab="timetravel" />
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          if (tsText !== "") setQuery({ ts: tsText.trim(), at: null }, true);
          else setQuery({ ts: null, at: atText === "" ? null : new Date(atText).toISOString() }, true);
        }}
      >
        <label>
          commit_ts <input name="ts" inputMode="numeric" pattern="\d*" value={tsText} onInput={(e) => (setTsText((e.target as HTMLInputElement).value), setAtText(""))} />
        </label>
        <span class="muted">or</span>
        <label>
          wall time <input name="at" type="datetime-local" step="1" value={atText} onInput={(e) => (setAtText((e.target as HTMLInputElement).value), setTsText(""))} />
        </label>
        <button type="submit">Show the state then</button>
      </form>
      {target.error !== undefined ? <ErrorBox error={target.error} /> : null}
      {diff.error !== undefined ? <ErrorBox error={diff.error} /> : null}
      {ts === null && target.data !== undefined ? <p class="muted">Pick a commit_ts or a time: the agent's whole state then is compared with its state now.</p> : null}
      {ts !== null && diff.loading && diff.data === undefined ? <Loading what={`the state at commit_ts ${ts}`} /> : null}
      {ts !== null && diff.data !== undefined && diff.data !== null ? (
        <>
          <p data-testid="asof-summary">
            As of commit_ts <strong data-testid="asof-ts">{String(ts)}</strong>
            {atParam !== null && tsParam === null ? ` (the agent's last commit at or before ${new Date(atParam).toLocaleString()})` : ""}: {counts.changed} changed, {counts.added} added since,{" "}
            {counts.removed} removed since, {counts.same} unchanged.
          </p>
          <div class="split">
            <div>
              <div class="row header tt-grid">
                <span>key</span>
                <span>then</span>
                <span>now</span>
              </div>
              <VirtualList
                testId="asof-keys"
                label="Keys then and now"
                count={rows.length}
                rowHeight={30}
                active={active}
                onKeyDown={onKeyDown}
                row={(i) => {
                  const row = rows[i] as KeyDiff;
                  return (
                    <div class={`tt-grid c-${row.change}`} data-change={row.change}>
                      <span class="key">{row.key}</span>
                      <span class="num">{row.then === undefined ? "—" : `v${row.then.version}`}</span>
                      <span class="num">{row.now === undefined ? "—" : `v${row.now.version}`}</span>
                    </div>
                  );
                }}
              />
            </div>
            {shown !== undefined ? (
              <JsonDiff
                before={shown.then?.value}
                after={shown.now?.value}
                leftTitle={`${shown.key} at commit_ts ${ts}${shown.then === undefined ? " (absent)" : ""}`}
                rightTitle={`${shown.key} now${shown.now === undefined ? " (absent)" : ""}`}
              />
            ) : null}
          </div>
        </>
      ) : null}
    </section>
  );
}
