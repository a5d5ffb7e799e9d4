// packaging/grafana-dashboard.json and packaging/prometheus-alerts.yml query only metrics that
// a real daemon serves at /metrics; and the operational metrics carry what they claim
// (per-RPC latency by protocol, fast path included; disk; RocksDB; snapshots; storage state).
import { readFileSync } from "node:fs";
import { StatehouseService } from "@statehouse/api";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DaemonProcess } from "@statehouse/test-services";
import { ConnectDriver, GrpcJsDriver } from "./test-support/rpc-drivers.js";

const PACKAGING = new URL("../packaging/", import.meta.url);
const KEYWORDS = new Set(["by", "without", "bool", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "offset", "inf", "nan"]);

/** The metric names a PromQL expression reads (label matchers, ranges, grouping labels and functions left out). */
export function metricsIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (name === undefined || call !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

interface Exposition {
  /** Sample names (`x_bucket`, `x_sum`, ... included) and every `# TYPE` name. */
  names: Set<string>;
  text: string;
}

function exposition(text: string): Exposition {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type?.[1] !== undefined) {
      names.add(type[1]);
      if (type[2] === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${type[1]}${suffix}`);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample?.[1] !== undefined) names.add(sample[1]);
  }
  return { names, text };
}

function alertExpressions(): string[] {
  const rules = parse(readFileSync(new URL("prometheus-alerts.yml", PACKAGING), "utf8")) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
}

function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(new URL("grafana-dashboard.json", PACKAGING), "utf8")) as {
    panels: { targets: { expr: string }[] }[];
    templating: { list: { query?: unknown }[] };
  };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  for (const variable of dashboard.templating.list) {
    const labelValues = typeof variable.query === "string" ? /^label_values\((.+),\s*\w+\)$/.exec(variable.query) : null;
    if (labelValues?.[1] !== undefined) exprs.push(labelValues[1]);
  }
  return exprs;
}

function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

let daemon: DaemonProcess;
let metrics: Exposition;

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_SNAPSHOT_INTERVAL: "1", STATEHOUSE_ROCKSDB_LOG_LEVEL: "info" } });
  const grpc = new GrpcJsDriver(daemon.address);
  const connect = new ConnectDriver("connect", createConnectTransport({ baseUrl: daemon.url, httpVersion: "1.1", useBinaryFormat: false }));
  const grpcWeb = new ConnectDriver("grpc-web", createGrpcWebTransport({ baseUrl: daemon.url, httpVersion: "1.1" }));
  for (const driver of [grpc, connect, grpcWeb]) {
    await driver.unary(StatehouseService.method.transact, { operations: [{ agentId: "ops", key: driver.name, value: { n: 1 } }] });
  }
  grpc.close();
  // Snapshots are written after the batch: wait until one is reported.
  for (let i = 0; i < 200; i++) {
    metrics = exposition(await (await fetch(`${daemon.url}/metrics`)).text());
    if (value(metrics.text, "statehouse_snapshots_total") >= 1) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}, 60_000);

afterAll(async () => {
  await daemon.dispose();
});

describe("packaging/ dashboards and alerts", () => {
  it("the checker reads metric names out of PromQL, and would catch a missing one", () => {
    expect(metricsIn('histogram_quantile(0.99, sum by (le, method) (rate(statehouse_rpc_duration_seconds_bucket{job="x", instance=~"$i"}[5m])))')).toEqual(["statehouse_rpc_duration_seconds_bucket"]);
    expect(metricsIn("statehouse_a / statehouse_b > bool 0.1e3")).toEqual(["statehouse_a", "statehouse_b"]);
    expect(metricsIn("changes(process_start_time_seconds[15m]) >= 2")).toEqual(["process_start_time_seconds"]);
    const missing = metricsIn("rate(statehouse_no_such_metric_total[5m])").filter((name) => !metrics.names.has(name));
    expect(missing).toEqual(["statehouse_no_such_metric_total"]);
  });

  it.each([
    ["the alert rules", alertExpressions, 10],
    ["the Grafana dashboard", dashboardExpressions, 15],
  ] as const)("every metric %s query is served by a real daemon", (_what, expressions, atLeast) => {
    const exprs = expressions();
    expect(exprs.length).toBeGreaterThanOrEqual(atLeast);
    for (const expr of exprs) {
      const names = metricsIn(expr);
      expect(names.length, expr).toBeGreaterThan(0);
      expect(names.filter((name) => !metrics.names.has(name)), expr).toEqual([]);
    }
  });
});

describe("operational metrics", () => {
  it("time each RPC by method and protocol, the fast path's gRPC calls included", () => {
    for (const protocol of ["grpc", "connect", "grpc_web"]) {
      expect(value(metrics.text, `statehouse_rpc_duration_seconds_count{service="statehouse.v1.StatehouseService",method="Transact",protocol="${protocol}"}`), protocol).toBe(1);
    }
    // The gRPC call went through the fast path (served without connect-node), and was timed all the
    // same; the test target runs once more with STATEHOUSE_FAST_PATH=0, where connect-node serves it.
    const fastPath = process.env["STATEHOUSE_FAST_PATH"] !== "0";
    expect(value(metrics.text, "statehouse_fast_path_calls_total") >= 1).toBe(fastPath);
    // /metrics itself is not an RPC: no series for it.
    expect(metrics.text).not.toMatch(/statehouse_rpc_duration_seconds_count\{[^}]*method="metrics"/);
  });

  it("report the data dir's disk, RocksDB's figures, snapshots, recovery and the storage state", () => {
    expect(value(metrics.text, "statehouse_data_dir_used_bytes")).toBeGreaterThan(0);
    expect(value(metrics.text, "statehouse_data_dir_free_bytes")).toBeGreaterThan(0);
    expect(value(metrics.text, "statehouse_data_dir_filesystem_bytes")).toBeGreaterThan(value(metrics.text, "statehouse_data_dir_free_bytes"));
    expect(value(metrics.text, "statehouse_storage_broken")).toBe(0);
    expect(value(metrics.text, "statehouse_rocksdb_write_stopped")).toBe(0);
    expect(value(metrics.text, "statehouse_rocksdb_level0_files")).toBeGreaterThanOrEqual(0);
    expect(value(metrics.text, "statehouse_commit_queue_depth")).toBe(0);
    expect(value(metrics.text, "statehouse_snapshot_age_seconds")).toBeGreaterThanOrEqual(0);
    expect(value(metrics.text, "statehouse_snapshot_duration_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(value(metrics.text, "statehouse_snapshot_failures_total")).toBe(0);
    expect(value(metrics.text, "statehouse_recovery_duration_seconds")).toBeGreaterThan(0);
  });

  it("turn RocksDB's LOG on in the data dir", () => {
    const log = readFileSync(`${daemon.dataDir}/db/LOG`, "utf8");
    expect(log).toMatch(/RocksDB version/);
  });
});
