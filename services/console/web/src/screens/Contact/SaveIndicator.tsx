import type { SaveState } from "../../autosave";

const TEXT: Record<SaveState, string> = {
  saved: "Saved",
  pending: "Not saved yet",
  saving: "Saving…",
  offline: "Offline — kept on this device, will save",
  conflict: "Edited elsewhere — merge needed",
  closed: "Session closed — kept on this device",
  rejected: "Not accepted — see the message",
};

export function SaveIndicator({ state, what }: { state: SaveState; what: string }) {
  return (
    <span className={`save save-${state}`} role="status" aria-live="polite" data-save-state={state} data-testid={`save-${what}`}>
      {what}: {TEXT[state]}
    </span>
  );
}
