// Two JSON values side by side, line by line (pretty-printed, keys in their order), with
// the lines that differ marked: jsdiff's line diff, paired into left/right rows.
import { diffLines } from "diff";
import type { JsonValue } from "@statehouse/sdk";

interface Row {
  left: string | null;
  right: string | null;
  kind: "same" | "changed" | "removed" | "added";
}

function pretty(value: JsonValue | undefined): string {
  return value === undefined ? "" : `${JSON.stringify(value, null, 2)}\n`;
}

function lines(text: string): string[] {
  const out = text.split("\n");
  if (out[out.length - 1] === "") out.pop();
  return out;
}

export function diffRows(before: JsonValue | undefined, after: JsonValue | undefined): Row[] {
  const rows: Row[] = [];
  const parts = diffLines(pretty(before), pretty(after));
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part === undefined) continue;
    if (!part.added && !part.removed) {
      for (const line of lines(part.value)) rows.push({ left: line, right: line, kind: "same" });
      continue;
    }
    // A removal followed by an addition is a change: pair their lines.
    const next = parts[i + 1];
    const removed = part.removed ? lines(part.value) : [];
    const added = part.added ? lines(part.value) : next?.added === true ? lines(next.value) : [];
    if (part.removed && next?.added === true) i++;
    for (let j = 0; j < Math.max(removed.length, added.length); j++) {
      const left = removed[j] ?? null;
      const right = added[j] ?? null;
      rows.push({ left, right, kind: left !== null && right !== null ? "changed" : left !== null ? "removed" : "added" });
    }
  }
  return rows;
}

export function JsonDiff({ before, after, leftTitle, rightTitle }: { before: JsonValue | undefined; after: JsonValue | undefined; leftTitle: string; rightTitle: string }) {
  const rows = diffRows(before, after);
  const changes = rows.filter((r) => r.kind !== "same").length;
  return (
    <div class="diff" data-testid="json-diff" data-changes={changes}>
      <table>
        <thead>
          <tr>
            <th>{leftTitle}</th>
            <th>{rightTitle}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i} class={`d-${row.kind}`}>
              <td class={row.kind === "removed" || row.kind === "changed" ? "d-old" : ""}>
                <pre>{row.left ?? ""}</pre>
              </td>
              <td class={row.kind === "added" || row.kind === "changed" ? "d-new" : ""}>
                <pre>{row.right ?? ""}</pre>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {changes === 0 ? <p class="muted">No difference.</p> : null}
    </div>
  );
}
