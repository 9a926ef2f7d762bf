// Every action has a key. Alt+letter works everywhere (also while typing a note); the single
// keys work when no text field has the focus.
import { useLayoutEffect, useRef } from "react";

export interface Shortcut {
  keys: string; // as shown on the "?" sheet
  label: string;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: "?", label: "Show or hide this list" },
  { keys: "Alt+C", label: "My contacts" },
  { keys: "Alt+F", label: "Follow-ups: the work queue" },
  { keys: "Alt+O", label: "Operations: live board, alerts, charts (supervisors)" },
  { keys: "Alt+B", label: "SLA board (supervisors)" },
  { keys: "Alt+A", label: "Acknowledge the newest alert (Operations)" },
  { keys: "j / k, Enter", label: "Move through my contacts, open one" },
  { keys: "Alt+1", label: "Screen (C-SSRS)" },
  { keys: "y / n", label: "Answer the current screening question" },
  { keys: "Alt+R", label: "Raise the risk level (with a reason)" },
  { keys: "Alt+I", label: "Save an incomplete screen" },
  { keys: "Alt+Enter", label: "Submit the screen" },
  { keys: "Alt+2", label: "Notes" },
  { keys: "Alt+3", label: "Safety plan" },
  { keys: "Alt+E", label: "Escalate imminent risk: then a digit for the reason, a digit for the action" },
  { keys: "Alt+M", label: "Confirm EMS for the latest escalation" },
  { keys: "Alt+4", label: "Close the session" },
  { keys: "Alt+H", label: "Caller history" },
  { keys: "Alt+S", label: "Save now" },
  { keys: "Escape", label: "Close a dialog" },
];

export function isTyping(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  if (!element) return false;
  const tag = element.tagName;
  return tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable ||
    (tag === "INPUT" && !["checkbox", "radio", "button", "submit"].includes((element as HTMLInputElement).type));
}

/** Call `handler` for each keydown (one listener, always the latest handler). The listener
 * is attached as the screen is put on the page (a layout effect), not after the browser has
 * painted it: a key pressed the moment a question shows is not lost (a CI run on a loaded
 * machine pressed y/n between the two, and the screen stayed incomplete). */
export function useKeys(handler: (event: KeyboardEvent) => void): void {
  const current = useRef(handler);
  current.current = handler;
  useLayoutEffect(() => {
    const listener = (event: KeyboardEvent) => current.current(event);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);
}
