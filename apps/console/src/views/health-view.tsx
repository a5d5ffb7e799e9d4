// The daemon: version, latest commit_ts, what recovery did at its last start, live counters.
import { useEffect, useState } from "preact/hooks";
import { ErrorBox, Loading } from "../components/error-box.js";
import { client } from "../connection.js";
import { formatTime, useLoad } from "../hooks.js";

const REFRESH_MS = 2000;

function bytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

export function HealthView() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const { data, error } = useLoad((signal) => client.daemonStatus({ signal }), [tick]);
  if (data === undefined) return <section>{error === undefined ? <Loading what="the daemon's status" /> : <ErrorBox error={error} />}</section>;
  const r = data.recovery;
  const rows: [string, string, string][] = [
    ["version", `${data.version}${data.gitSha === "" ? "" : ` (${data.gitSha.slice(0, 12)})`}`, "version"],
    ["commit_ts", String(data.commitTs), "commit-ts"],
    ["started", formatTime(data.startedAt), "started"],
    ["writable", data.writable ? "yes" : `no: ${data.haltReason}`, "writable"],
    ["open transactions", String(data.openTransactions), "open-transactions"],
    ["commits since start", String(data.committedTransactions), "commits"],
    ["group commits since start", String(data.groupCommits), "group-commits"],
    ["watchers waiting", String(data.watchersWaiting), "watchers"],
    ["resident memory", bytes(data.rssBytes), "rss"],
  ];
  return (
    <section>
      <h1>Daemon health</h1>
      {error !== undefined ? <ErrorBox error={error} /> : null}
      <table class="facts" data-testid="health">
        <tbody>
          {rows.map(([name, value, id]) => (
            <tr key={id}>
              <th>{name}</th>
              <td data-testid={`health-${id}`}>{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Recovery at the last start</h2>
      <table class="facts" data-testid="recovery">
        <tbody>
          <tr>
            <th>storage</th>
            <td>{r.storage}</td>
          </tr>
          <tr>
            <th>snapshot loaded</th>
            <td>{r.snapshotTs === null ? "none" : `commit_ts ${r.snapshotTs}`}</td>
          </tr>
          <tr>
            <th>events replayed</th>
            <td data-testid="recovery-events">{r.eventsReplayed}</td>
          </tr>
          <tr>
            <th>duration</th>
            <td>{r.durationMs} ms</td>
          </tr>
          <tr>
            <th>commit_ts after recovery</th>
            <td data-testid="recovery-commit-ts">{String(r.commitTs)}</td>
          </tr>
          <tr>
            <th>notes</th>
            <td>{r.notes.length === 0 ? "none" : r.notes.join("; ")}</td>
          </tr>
        </tbody>
      </table>
      <p class="muted">
        Every metric: <a href="/metrics">/metrics</a> (Prometheus).
      </p>
    </section>
  );
}
