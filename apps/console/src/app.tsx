// The console's shell: routes (wouter, under /console), the outage banner, the API key
// prompt, and the keyboard shortcuts that work everywhere.
import { useEffect, useState } from "preact/hooks";
import { Link, Route, Router, Switch } from "wouter-preact";
import { apiKey, setApiKey } from "./connection.js";
import { reload, startMonitor, useConsoleState } from "./status.js";
import { HealthView } from "./views/health-view.js";
import { HistoryView } from "./views/history-view.js";
import { AgentsView, NamespacesView } from "./views/namespaces-view.js";
import { StateView } from "./views/state-view.js";
import { TimelineView } from "./views/timeline-view.js";
import { TimeTravelView } from "./views/time-travel-view.js";

function OutageBanner() {
  const { downSince } = useConsoleState();
  if (downSince === null) return null;
  return (
    <div class="banner" role="alert" data-testid="outage">
      <strong>The daemon is unreachable</strong> since {downSince.toLocaleTimeString()} — retrying every second; the page recovers by itself.
    </div>
  );
}

function ApiKeyPrompt() {
  const { needKey } = useConsoleState();
  const [text, setText] = useState("");
  if (!needKey) return null;
  return (
    <div class="modal" role="dialog" aria-modal="true" aria-labelledby="key-title" data-testid="api-key-prompt">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setApiKey(text.trim());
          reload();
        }}
      >
        <h2 id="key-title">This daemon needs an API key</h2>
        <p>{apiKey() === null ? "Enter an API key to continue." : "The API key was not accepted: enter another one."} It is kept for this tab only (sessionStorage).</p>
        <input type="password" autoFocus aria-label="API key" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <button type="submit">Use this key</button>
      </form>
    </div>
  );
}

function useShortcuts(): void {
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      const target = event.target as HTMLElement | null;
      const typing = target !== null && (target.tagName === "INPUT" || target.tagName === "TEXTAREA");
      if (event.key === "/" && !typing) {
        const search = document.querySelector<HTMLInputElement>("[data-search]");
        if (search !== null) {
          event.preventDefault();
          search.focus();
        }
      } else if (event.key === "Escape" && typing) {
        target.blur();
        document.querySelector<HTMLElement>("[role=listbox]")?.focus();
      } else if (event.key === "ArrowDown" && typing && target.hasAttribute("data-search")) {
        event.preventDefault();
        document.querySelector<HTMLElement>("[role=listbox]")?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}

export function App() {
  useEffect(() => startMonitor(), []);
  useShortcuts();
  return (
    <Router base="/console">
      <header class="top">
        <Link href="/" class="brand">
          Statehouse
        </Link>
        <nav aria-label="Console">
          <Link href="/">Namespaces</Link>
          <Link href="/health">Health</Link>
        </nav>
        <span class="muted hint">/ search · ↑↓ or j k move · Enter open · Esc back to the list</span>
      </header>
      <OutageBanner />
      <ApiKeyPrompt />
      <main>
        <Switch>
          <Route path="/" component={NamespacesView} />
          <Route path="/agents" component={AgentsView} />
          <Route path="/agent" component={StateView} />
          <Route path="/history" component={HistoryView} />
          <Route path="/timeline" component={TimelineView} />
          <Route path="/timetravel" component={TimeTravelView} />
          <Route path="/health" component={HealthView} />
          <Route>
            <p>
              No such view. <Link href="/">Back to the namespaces</Link>.
            </p>
          </Route>
        </Switch>
      </main>
    </Router>
  );
}
