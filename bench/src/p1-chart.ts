// A hand-written SVG of P1: one panel per concurrency level (each with its
// own scale, since 1-client and 64-client rates differ by an order of
// magnitude), one horizontal bar per subject, coloured by system.
import type { BenchReport, ReportRow } from "./bench-report.js";
import type { System } from "./measure.js";
import { formatNumber } from "./run-rounds.js";

const COLORS: Record<System, string> = { statehouse: "#2563eb", etcd: "#16a34a", postgres: "#ea580c", baseline: "#6b7280" };

export function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

export function p1ChartSvg(report: BenchReport): string {
  const rows = report.rows.filter((r) => r.figure === "P1" && r.metric === "opsPerSec");
  const cells = [...new Set(rows.map((r) => r.cell))];
  // ~6.6 px per character of 12 px DejaVu Sans, plus a margin.
  const labelWidth = Math.max(200, Math.ceil(Math.max(0, ...rows.map((r) => r.subject.length)) * 6.6) + 20);
  const barWidth = 380;
  const valueWidth = 90;
  const barHeight = 18;
  const gap = 6;
  const width = labelWidth + barWidth + valueWidth + 20;
  const parts: string[] = [];
  let y = 40;
  parts.push(`<text x="10" y="24" font-size="16" font-weight="bold">P1 — durable commits/s, median of ${report.plan.rounds} round(s) (${escapeXml(report.startedAt.slice(0, 10))})</text>`);
  for (const cell of cells) {
    const cellRows: ReportRow[] = rows.filter((r) => r.cell === cell);
    const max = Math.max(...cellRows.map((r) => r.max), 1);
    parts.push(`<text x="10" y="${y + 16}" font-size="14" font-weight="bold">${escapeXml(cell)}</text>`);
    y += 26;
    for (const row of cellRows) {
      const w = Math.max(1, (row.median / max) * barWidth);
      const wMin = (row.min / max) * barWidth;
      const wMax = (row.max / max) * barWidth;
      const mid = y + barHeight / 2;
      parts.push(
        `<text x="${labelWidth - 8}" y="${mid + 4}" font-size="12" text-anchor="end">${escapeXml(row.subject)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${COLORS[row.system]}"/>`,
        `<line x1="${(labelWidth + wMin).toFixed(1)}" x2="${(labelWidth + wMax).toFixed(1)}" y1="${mid}" y2="${mid}" stroke="#111" stroke-width="1.5"/>`,
        `<text x="${labelWidth + barWidth + 8}" y="${mid + 4}" font-size="12">${escapeXml(formatNumber(row.median))}/s</text>`,
      );
      y += barHeight + gap;
    }
    y += 14;
  }
  const legend = (["statehouse", "etcd", "postgres"] as const).map(
    (system, i) => `<rect x="${10 + i * 130}" y="${y}" width="12" height="12" fill="${COLORS[system]}"/><text x="${28 + i * 130}" y="${y + 11}" font-size="12">${system === "postgres" ? "PostgreSQL" : system === "etcd" ? "etcd" : "Statehouse"}</text>`,
  );
  parts.push(...legend, `<text x="${10 + 3 * 130}" y="${y + 11}" font-size="12">line = min–max over rounds</text>`);
  y += 24;
  return svgDocument(width, y, parts);
}

/** A standalone SVG of the given size, white background, with `parts` as its content. */
export function svgDocument(width: number, height: number, parts: readonly string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
