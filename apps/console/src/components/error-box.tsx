import type { ShownError } from "../connection.js";

export function ErrorBox({ error }: { error: ShownError }) {
  return (
    <div class={`error error-${error.kind}`} role="alert" data-testid="error" data-kind={error.kind}>
      <strong>{error.title}</strong>
      <p>{error.message}</p>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}
