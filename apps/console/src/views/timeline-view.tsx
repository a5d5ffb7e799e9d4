// The agent's events in commit order: loaded in pages of Replay, then followed live through
// Watch (from the last commit_ts seen, so nothing is missed or repeated across an outage).
// Each event shows its txn id and what it changed; the list is virtualized (100k events).
import { StatehouseError, type ReplayEvent } from "@statehouse/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { Link } from "wouter-preact";
import { ErrorBox } from "../components/error-box.js";
import { JsonTree } from "../components/json-tree.js";
import { VirtualList } from "../components/virtual-list.js";
import { client, describeError, type ShownError } from "../connection.js";
import { formatTime, href, useListNav, useQuery } from "../hooks.js";
import { reportError, reportSuccess } from "../status.js";
import { AgentTabs } from "./agent-tabs.js";

/** Events per Replay page. */
const PAGE = 10_000;
const RETRY_MS = 1000;

type Phase = "loading" | "loaded" | "live" | "reconnecting" | "failed";

function summary(event: ReplayEvent): string {
  return event.operations.map((op) => (op.value === null ? `−${op.key}` : `${op.key} v${op.version}`)).join(", ");
}

/** The horizon_commit_ts of a HISTORY_COMPACTED error, or null for any other error. */
function compactedHorizon(error: unknown): bigint | null {
  if (!(error instanceof StatehouseError) || (error.code as string) !== "HISTORY_COMPACTED") return null;
  const horizon = error.details["horizon_commit_ts"];
  return horizon !== undefined && /^\d+$/.test(horizon) ? BigInt(horizon) : null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

export function TimelineView() {
  const [query, setQuery] = useQuery();
  const ns = query.get("ns") ?? "default";
  const agent = query.get("agent") ?? "";
  const live = query.get("live") !== "0";
  const selected = query.get("sel");
  const events = useRef<ReplayEvent[]>([]);
  const [count, setCount] = useState(0);
  const [phase, setPhase] = useState<Phase>("loading");
  const [error, setError] = useState<ShownError | undefined>(undefined);
  const [horizon, setHorizon] = useState<bigint | null>(null);
  const follow = useRef(true);

  useEffect(() => {
    events.current = [];
    setCount(0);
    setError(undefined);
    setHorizon(null);
    const controller = new AbortController();
    const { signal } = controller;
    let pending = false;
    const flush = (): void => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        setCount(events.current.length);
      });
    };
    // History up to a retention horizon may be gone: the timeline then starts after it.
    let floor = 1n;
    const nextTs = (): bigint => {
      const after = (events.current[events.current.length - 1]?.commitTs ?? 0n) + 1n;
      return after > floor ? after : floor;
    };
    void (async () => {
      let loaded = false;
      while (!signal.aborted) {
        try {
          if (!loaded) {
            setPhase("loading");
            for (;;) {
              let got = 0;
              for await (const event of client.replay(agent, { namespace: ns, startTs: nextTs(), limit: PAGE, signal })) {
                events.current.push(event);
                got++;
                if (got % 1000 === 0) flush();
              }
              flush();
              reportSuccess();
              if (got < PAGE) break;
            }
            loaded = true;
          }
          if (!live) {
            setPhase("loaded");
            return;
          }
          setPhase("live");
          setError(undefined);
          for await (const event of client.watch(agent, { namespace: ns, startTs: nextTs(), signal })) {
            events.current.push(event);
            flush();
          }
        } catch (caught) {
          if (signal.aborted) return;
          const compactedUpTo = compactedHorizon(caught);
          if (compactedUpTo !== null && compactedUpTo + 1n > floor) {
            floor = compactedUpTo + 1n;
            setHorizon(compactedUpTo);
            continue;
          }
          const shown = describeError(caught);
          reportError(shown);
          setError(shown);
          if (shown.kind !== "down") {
            setPhase("failed");
            return;
          }
          setPhase("reconnecting");
          await sleep(RETRY_MS, signal);
        }
      }
    })();
    return () => controller.abort();
  }, [ns, agent, live]);

  const list = events.current;
  const selectedIndex = selected === null ? -1 : list.findIndex((e) => String(e.commitTs) === selected);
  const [active, onKeyDown, setActive] = useListNav(count, (i) => setQuery({ sel: String(list[i]?.commitTs ?? "") }), Math.max(0, selectedIndex));
  // Keep the newest event in view while following, until the user moves away from the end.
  useEffect(() => {
    if (selectedIndex >= 0) setActive(selectedIndex);
  }, [selectedIndex >= 0 && count > selectedIndex]);
  useEffect(() => {
    if (follow.current && selected === null && count > 0) setActive(count - 1);
  }, [count]);
  const shown = list[active];
  const phaseText: Record<Phase, string> = {
    loading: `loading… ${count} events`,
    loaded: "not following (history only)",
    live: "live",
    reconnecting: "reconnecting…",
    failed: "stopped",
  };
  return (
    <section>
      <AgentTabs ns={ns} agent={agent} tab="timeline" />
      <div class="toolbar">
        <span class={`pill pill-${phase}`} data-testid="live-state" data-phase={phase} role="status">
          {phase === "live" ? "● " : ""}
          {phaseText[phase]}
        </span>
        <button type="button" onClick={() => setQuery({ live: live ? "0" : null })} aria-pressed={live}>
          {live ? "Pause live" : "Follow live"}
        </button>
        <span class="muted" data-testid="event-count">
          {count} event{count === 1 ? "" : "s"}
        </span>
      </div>
      {horizon !== null ? (
        <p class="notice" data-testid="compacted" role="note">
          History up to commit_ts {String(horizon)} was compacted by this namespace's retention: the timeline starts after it.
        </p>
      ) : null}
      {error !== undefined ? <ErrorBox error={error} /> : null}
      {count === 0 && phase !== "loading" ? <p class="muted">No events yet{live ? ": new commits appear here as they happen" : ""}.</p> : null}
      <div class="split">
        <div>
          <div class="row header events-grid">
            <span>commit_ts</span>
            <span>time</span>
            <span>txn</span>
            <span>changes</span>
          </div>
          <VirtualList
            testId="events"
            label="Events"
            count={count}
            rowHeight={30}
            active={active}
            onKeyDown={(e) => {
              follow.current = e.key === "End";
              onKeyDown(e);
            }}
            row={(i) => {
              const event = list[i] as ReplayEvent;
              return (
                <div class="events-grid" onClick={() => ((follow.current = false), setActive(i), setQuery({ sel: String(event.commitTs) }))}>
                  <span class="num">{String(event.commitTs)}</span>
                  <span>{event.committedAt === null ? "—" : event.committedAt.toLocaleTimeString()}</span>
                  <span class="mono" title={event.txnId}>
                    {event.txnId.slice(0, 12)}
                  </span>
                  <span class="ellipsis">{summary(event)}</span>
                </div>
              );
            }}
          />
        </div>
        {shown !== undefined ? (
          <article class="detail" data-testid="event-detail">
            <h2>commit_ts {String(shown.commitTs)}</h2>
            <p>
              txn <code data-testid="txn-id">{shown.txnId}</code> · {formatTime(shown.committedAt)} · {shown.operations.length} change
              {shown.operations.length === 1 ? "" : "s"}
            </p>
            {shown.operations.map((op) => (
              <div key={op.key} class="op">
                <h3>
                  <span class="key">{op.key}</span> {op.value === null ? <em>deleted</em> : <span>→ v{String(op.version)}</span>}{" "}
                  <Link href={href("/history", { ns, agent, key: op.key, a: op.version > 1n ? String(op.version - 1n) : "1", b: String(op.version) })}>diff</Link>
                </h3>
                {op.value === null ? null : <JsonTree value={op.value} />}
              </div>
            ))}
          </article>
        ) : null}
      </div>
    </section>
  );
}
