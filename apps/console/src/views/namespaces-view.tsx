// Namespaces and their agents: search by name prefix, key counts, last commit time.
import type { AgentSummary } from "@statehouse/sdk";
import { useEffect, useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { ErrorBox, Loading } from "../components/error-box.js";
import { VirtualList } from "../components/virtual-list.js";
import { client } from "../connection.js";
import { formatTime, href, useListNav, useLoad, useQuery } from "../hooks.js";

export function SearchBox({ value, onInput, label }: { value: string; onInput: (v: string) => void; label: string }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return undefined;
    const timer = setTimeout(() => onInput(text), 150);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <input
      class="search"
      type="search"
      data-search
      placeholder={`${label} (press / to search)`}
      aria-label={label}
      value={text}
      onInput={(e) => setText((e.target as HTMLInputElement).value)}
    />
  );
}

export function NamespacesView() {
  const [query, setQuery] = useQuery();
  const [, navigate] = useLocation();
  const q = query.get("q") ?? "";
  const { data, error, loading } = useLoad((signal) => client.listNamespaces({ prefix: q, signal }), [q]);
  const names = data ?? [];
  const [active, onKeyDown] = useListNav(names.length, (i) => navigate(href("/agents", { ns: names[i] })));
  return (
    <section>
      <h1>Namespaces</h1>
      <SearchBox value={q} onInput={(v) => setQuery({ q: v })} label="Namespace prefix" />
      {error !== undefined ? <ErrorBox error={error} /> : null}
      {loading && data === undefined ? <Loading what="namespaces" /> : null}
      {data !== undefined && names.length === 0 ? <p class="muted">No namespace {q === "" ? "holds any history yet" : `starts with "${q}"`}.</p> : null}
      {names.length > 0 ? (
        <VirtualList
          testId="namespaces"
          label="Namespaces"
          count={names.length}
          rowHeight={34}
          height="min(60vh, 600px)"
          active={active}
          onKeyDown={onKeyDown}
          row={(i) => (
            <Link href={href("/agents", { ns: names[i] })} tabIndex={-1}>
              {names[i]}
            </Link>
          )}
        />
      ) : null}
    </section>
  );
}

const AGENTS_PER_LOAD = 1000;

export function AgentsView() {
  const [query, setQuery] = useQuery();
  const [, navigate] = useLocation();
  const ns = query.get("ns") ?? "default";
  const q = query.get("q") ?? "";
  const [limit, setLimit] = useState(AGENTS_PER_LOAD);
  const { data, error, loading } = useLoad(
    async (signal) => {
      const agents: AgentSummary[] = [];
      for await (const agent of client.iterateAgents({ namespace: ns, prefix: q, signal })) {
        if (agents.length === limit) return { agents, more: true };
        agents.push(agent);
      }
      return { agents, more: false };
    },
    [ns, q, limit],
  );
  const agents = data?.agents ?? [];
  const open = (i: number): void => navigate(href("/agent", { ns, agent: agents[i]?.agentId }));
  const [active, onKeyDown] = useListNav(agents.length, open);
  return (
    <section>
      <h1>
        Agents in <code>{ns}</code>
      </h1>
      <SearchBox value={q} onInput={(v) => setQuery({ q: v })} label="Agent id prefix" />
      {error !== undefined ? <ErrorBox error={error} /> : null}
      {loading && data === undefined ? <Loading what="agents" /> : null}
      {data !== undefined && agents.length === 0 ? <p class="muted">No agent {q === "" ? "in this namespace" : `starts with "${q}"`}.</p> : null}
      {agents.length > 0 ? (
        <>
          <div class="row header agents-grid">
            <span>agent</span>
            <span>keys</span>
            <span>last commit_ts</span>
            <span>last commit</span>
          </div>
          <VirtualList
            testId="agents"
            label="Agents"
            count={agents.length}
            rowHeight={34}
            active={active}
            onKeyDown={onKeyDown}
            onNearEnd={() => data?.more === true && !loading && setLimit((n) => n + AGENTS_PER_LOAD)}
            row={(i) => {
              const agent = agents[i] as AgentSummary;
              return (
                <div class="agents-grid">
                  <Link href={href("/agent", { ns, agent: agent.agentId })} tabIndex={-1}>
                    {agent.agentId}
                  </Link>
                  <span class="num">{agent.keyCount}</span>
                  <span class="num">{String(agent.lastCommitTs)}</span>
                  <span>{formatTime(agent.lastCommittedAt)}</span>
                </div>
              );
            }}
          />
          <p class="muted">
            {agents.length} agent{agents.length === 1 ? "" : "s"}
            {data?.more === true ? " shown; scroll for more" : ""}
          </p>
        </>
      ) : null}
    </section>
  );
}
