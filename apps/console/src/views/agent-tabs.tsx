// The header of every agent view: where you are, and the agent's views.
import { Link } from "wouter-preact";
import { href } from "../hooks.js";

export type AgentTab = "state" | "timeline" | "timetravel" | "history";

export function AgentTabs({ ns, agent, tab }: { ns: string; agent: string; tab: AgentTab }) {
  const tabs: [AgentTab, string, string][] = [
    ["state", "/agent", "State"],
    ["timeline", "/timeline", "Timeline"],
    ["timetravel", "/timetravel", "Time travel"],
  ];
  return (
    <header class="agent-head">
      <nav class="crumbs" aria-label="Breadcrumbs">
        <Link href="/">namespaces</Link> / <Link href={href("/agents", { ns })}>{ns}</Link> / <strong data-testid="agent-id">{agent}</strong>
      </nav>
      <nav class="tabs" aria-label="Agent views">
        {tabs.map(([id, path, label]) => (
          <Link key={id} href={href(path, { ns, agent })} class={tab === id ? "tab current" : "tab"} aria-current={tab === id ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
    </header>
  );
}
