// The soak's chart: one panel per quantity over time (daemon RSS, data-dir disk, open
// connections and transactions), each a polyline on its own scale starting at 0, so a
// plateau reads as a flat line.
import { escapeXml, svgDocument } from "./p1-chart.js";

export interface ChartSeries {
  label: string;
  color: string;
  points: readonly { t: number; v: number }[];
}

export interface ChartPanel {
  title: string;
  unit: string;
  series: readonly ChartSeries[];
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

export function soakChartSvg(title: string, panels: readonly ChartPanel[], durationS: number): string {
  const width = 760;
  const left = 70;
  const right = 20;
  const plotW = width - left - right;
  const plotH = 150;
  const panelH = plotH + 70;
  const height = 40 + panels.length * panelH;
  const maxT = Math.max(durationS, 1);
  const parts: string[] = [`<text x="10" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`];
  panels.forEach((panel, i) => {
    const top = 50 + i * panelH + 20;
    const max = niceMax(Math.max(0, ...panel.series.flatMap((s) => s.points.map((p) => p.v)).filter(Number.isFinite)));
    const x = (t: number): string => (left + (t / maxT) * plotW).toFixed(1);
    const y = (v: number): string => (top + plotH - (v / max) * plotH).toFixed(1);
    parts.push(`<text x="${left}" y="${top - 8}" font-size="13" font-weight="bold">${escapeXml(panel.title)} (${escapeXml(panel.unit)})</text>`);
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      parts.push(
        `<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`,
        `<text x="${left - 6}" y="${Number(y(v)) + 4}" font-size="11" text-anchor="end">${escapeXml(String(Math.round(v * 100) / 100))}</text>`,
      );
    }
    const ticks = 6;
    for (let k = 0; k <= ticks; k++) {
      const t = (maxT * k) / ticks;
      const label = maxT >= 600 ? `${Math.round(t / 60)} min` : `${Math.round(t)} s`;
      parts.push(`<text x="${x(t)}" y="${top + plotH + 16}" font-size="11" text-anchor="middle">${label}</text>`);
    }
    parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#9ca3af"/>`);
    panel.series.forEach((series, s) => {
      const pts = series.points.filter((p) => Number.isFinite(p.v)).map((p) => `${x(p.t)},${y(p.v)}`).join(" ");
      parts.push(
        `<polyline fill="none" stroke="${series.color}" stroke-width="1.6" points="${pts}"/>`,
        `<rect x="${left + 10 + s * 230}" y="${top + plotH + 26}" width="12" height="12" fill="${series.color}"/>`,
        `<text x="${left + 28 + s * 230}" y="${top + plotH + 37}" font-size="12">${escapeXml(series.label)}</text>`,
      );
    });
  });
  return svgDocument(width, height, parts);
}
