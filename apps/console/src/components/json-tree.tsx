// A JSON value as a tree: objects and arrays fold (native <details>, so the keyboard and
// screen readers work), scalars are colored by type.
import type { JsonValue } from "@statehouse/sdk";

function Scalar({ value }: { value: JsonValue }) {
  if (value === null) return <span class="j-null">null</span>;
  if (typeof value === "string") return <span class="j-str">{JSON.stringify(value)}</span>;
  if (typeof value === "number") return <span class="j-num">{String(value)}</span>;
  return <span class="j-bool">{String(value)}</span>;
}

function Node({ name, value, depth }: { name: string | null; value: JsonValue; depth: number }) {
  const label = name === null ? null : <span class="j-key">{name}: </span>;
  if (value === null || typeof value !== "object") {
    return (
      <div class="j-leaf">
        {label}
        <Scalar value={value} />
      </div>
    );
  }
  const entries: [string, JsonValue][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  return (
    <details open={depth < 3} class="j-node">
      <summary>
        {label}
        <span class="j-sum">{summary}</span>
      </summary>
      <div class="j-children">
        {entries.map(([k, v]) => (
          <Node key={k} name={k} value={v} depth={depth + 1} />
        ))}
      </div>
    </details>
  );
}

export function JsonTree({ value }: { value: JsonValue }) {
  return (
    <div class="json-tree" data-testid="json-tree">
      <Node name={null} value={value} depth={0} />
    </div>
  );
}
