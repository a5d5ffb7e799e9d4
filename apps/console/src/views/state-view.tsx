// An agent's state: every key with its version and commit_ts (virtualized), a prefix
// filter, and the selected key's value as a JSON tree or raw JSON.
import type { StateEntry } from "@statehouse/sdk";
import { Link } from "wouter-preact";
import { ErrorBox, Loading } from "../components/error-box.js";
import { JsonTree } from "../components/json-tree.js";
import { VirtualList } from "../components/virtual-list.js";
import { client } from "../connection.js";
import { href, useListNav, useLoad, useQuery } from "../hooks.js";
import { AgentTabs } from "./agent-tabs.js";
import { SearchBox } from "./namespaces-view.js";

export function StateView() {
  const [query, setQuery] = useQuery();
  const ns = query.get("ns") ?? "default";
  const agent = query.get("agent") ?? "";
  const prefix = query.get("prefix") ?? "";
  const raw = query.get("view") === "raw";
  const { data, error, loading } = useLoad((signal) => client.scanPrefix(agent, prefix, { namespace: ns, signal }), [ns, agent, prefix]);
  const entries = data ?? [];
  const selectedKey = query.get("key");
  const selectedIndex = selectedKey === null ? 0 : Math.max(0, entries.findIndex((e) => e.key === selectedKey));
  const [active, onKeyDown, setActive] = useListNav(entries.length, (i) => setQuery({ key: entries[i]?.key ?? null }), selectedIndex);
  const shown: StateEntry | undefined = entries[active];
  return (
    <section>
      <AgentTabs ns={ns} agent={agent} tab="state" />
      <SearchBox value={prefix} onInput={(v) => setQuery({ prefix: v, key: null })} label="Key prefix" />
      {error !== undefined ? <ErrorBox error={error} /> : null}
      {loading && data === undefined ? <Loading what="keys" /> : null}
      {data !== undefined && entries.length === 0 ? <p class="muted">No key {prefix === "" ? "exists now" : `starts with "${prefix}"`}.</p> : null}
      {entries.length > 0 ? (
        <div class="split">
          <div>
            <div class="row header keys-grid">
              <span>key</span>
              <span>version</span>
              <span>commit_ts</span>
            </div>
            <VirtualList
              testId="keys"
              label="Keys"
              count={entries.length}
              rowHeight={30}
              active={active}
              onKeyDown={(e) => {
                onKeyDown(e);
                if (e.key === "r") setQuery({ view: raw ? null : "raw" });
              }}
              row={(i) => {
                const entry = entries[i] as StateEntry;
                return (
                  <div class="keys-grid" onClick={() => (setActive(i), setQuery({ key: entry.key }))}>
                    <span class="key">{entry.key}</span>
                    <span class="num">v{String(entry.version)}</span>
                    <span class="num">{String(entry.commitTs)}</span>
                  </div>
                );
              }}
            />
            <p class="muted" data-testid="key-count">
              {entries.length} key{entries.length === 1 ? "" : "s"}
            </p>
          </div>
          {shown !== undefined ? (
            <article class="detail" data-testid="key-detail">
              <h2 class="key">{shown.key}</h2>
              <p>
                version <strong>{String(shown.version)}</strong>, committed at commit_ts <strong>{String(shown.commitTs)}</strong> ·{" "}
                <Link href={href("/history", { ns, agent, key: shown.key })}>every version and diffs</Link>
              </p>
              <div class="toggle" role="group" aria-label="Value view">
                <button type="button" aria-pressed={!raw} onClick={() => setQuery({ view: null })}>
                  Tree
                </button>
                <button type="button" aria-pressed={raw} onClick={() => setQuery({ view: "raw" })}>
                  Raw
                </button>
              </div>
              {raw ? <pre data-testid="raw-json">{JSON.stringify(shown.value, null, 2)}</pre> : <JsonTree value={shown.value} />}
            </article>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
