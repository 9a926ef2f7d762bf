// The two autosaved documents of a session, and how a counselor's copy and another
// editor's copy are merged field by field.
import { useEffect, useRef, useState } from "react";
import { ApiError, Offline, put } from "../../api";
import { Autosave, type SaveState, type SendResult } from "../../autosave";

export interface Notes {
  safety: { safe_now: boolean | null; agitation: string; access_to_means: string };
  exploring: { precipitating_event: string; persons_view: string; distress: number | null };
  de_escalation: string;
  rapport: string;
  problem_solving: { coping_tried: string; alternatives: string };
  follow_up: { resources: string; supports: string; referrals: string };
  risk_domains: { desire: string[]; capability: string[]; intent: string[]; buffers: string[] };
  free_text: string;
}

export const EMPTY_NOTES: Notes = {
  safety: { safe_now: null, agitation: "", access_to_means: "" },
  exploring: { precipitating_event: "", persons_view: "", distress: null },
  de_escalation: "",
  rapport: "",
  problem_solving: { coping_tried: "", alternatives: "" },
  follow_up: { resources: "", supports: "", referrals: "" },
  risk_domains: { desire: [], capability: [], intent: [], buffers: [] },
  free_text: "",
};

export const PLAN_SECTIONS = [
  ["warning_signs", "1. Warning signs"],
  ["internal_coping", "2. Internal coping strategies"],
  ["distracting_people_and_places", "3. People and social settings that provide distraction"],
  ["people_to_ask_for_help", "4. People I can ask for help"],
  ["professionals_and_agencies", "5. Professionals or agencies I can contact during a crisis"],
  ["making_environment_safe", "6. Making the environment safe"],
] as const;

export type PlanKey = (typeof PLAN_SECTIONS)[number][0];
/** The plan as the counselor edits it: one item per line. */
export type PlanText = Record<PlanKey | "reason_for_living", string>;

export function planText(plan: Record<string, unknown> | null): PlanText {
  const text = { reason_for_living: String(plan?.reason_for_living ?? "") } as PlanText;
  for (const [key] of PLAN_SECTIONS) text[key] = ((plan?.[key] as string[] | undefined) ?? []).join("\n");
  return text;
}

export function planBody(text: PlanText): Record<string, unknown> {
  const body: Record<string, unknown> = { reason_for_living: text.reason_for_living };
  for (const [key] of PLAN_SECTIONS) body[key] = text[key].split("\n").map((l) => l.trim()).filter(Boolean);
  return body;
}

export function notesFrom(server: Record<string, unknown> | null): Notes {
  const n = (server ?? {}) as Partial<Notes>;
  return {
    ...EMPTY_NOTES,
    ...n,
    safety: { ...EMPTY_NOTES.safety, ...n.safety },
    exploring: { ...EMPTY_NOTES.exploring, ...n.exploring },
    problem_solving: { ...EMPTY_NOTES.problem_solving, ...n.problem_solving },
    follow_up: { ...EMPTY_NOTES.follow_up, ...n.follow_up },
    risk_domains: { ...EMPTY_NOTES.risk_domains, ...n.risk_domains },
  };
}

/** PUT a version; map the answer to what the autosave queue needs to know. */
export async function sendVersion(path: string, body: unknown, base: number, field: string): Promise<SendResult> {
  try {
    const saved = await put<Record<string, number>>(path, body, { "If-Match": `"${base}"` });
    return { kind: "saved", version: saved[field] };
  } catch (error) {
    if (error instanceof Offline) return { kind: "offline" };
    if (error instanceof ApiError) {
      if (error.unavailable) return { kind: "offline" };
      if (error.status === 409 && error.problem.title === "Session is closed") return { kind: "closed" };
      if (error.status === 409) return { kind: "conflict", currentVersion: error.problem.current_version ?? base };
      if (error.status === 422 || error.status === 413) return { kind: "rejected", message: error.message };
    }
    return { kind: "offline" };
  }
}

/** One autosaved document bound to React state. */
export function useAutosaved<T>(key: string, send: (content: T, base: number) => Promise<SendResult>,
                                server: T | null, serverVersion: number) {
  const [content, setContent] = useState<T | null>(null);
  const [state, setState] = useState<SaveState>("saved");
  const queue = useRef<Autosave<T> | null>(null);
  useEffect(() => {
    if (server === null) return;
    const autosave = new Autosave<T>({ key, send, onState: setState });
    queue.current = autosave;
    void autosave.restore(server, serverVersion).then(setContent);
    const online = () => autosave.retry();
    const leaving = () => void autosave.flush(); // a closing tab sends what it can
    window.addEventListener("online", online);
    window.addEventListener("pagehide", leaving);
    return () => {
      window.removeEventListener("online", online);
      window.removeEventListener("pagehide", leaving);
      void autosave.flush(); // leaving the screen: send now, not after the pause
      autosave.dispose();
    };
    // bound once per document; later server copies arrive through conflicts
  }, [key]); // eslint-disable-line react-hooks/exhaustive-deps
  const edit = (next: T) => {
    setContent(next);
    void queue.current?.edit(next);
  };
  return { content, setContent, state, edit, queue };
}

// ---- merging ------------------------------------------------------------------------------

export type Leaf = { path: string[]; mine: unknown; theirs: unknown };

/** The fields where two copies differ. */
export function differences(mine: unknown, theirs: unknown, path: string[] = []): Leaf[] {
  if (isObject(mine) && isObject(theirs)) {
    const keys = new Set([...Object.keys(mine), ...Object.keys(theirs)]);
    return [...keys].flatMap((k) => differences(mine[k], theirs[k], [...path, k]));
  }
  return JSON.stringify(mine) === JSON.stringify(theirs) ? [] : [{ path, mine, theirs }];
}

export type Choice = "both" | "mine" | "theirs";

/** Whether "keep both" means something for this field (texts and lists); a yes/no or a
 * number needs the counselor's choice. */
export function combinable(leaf: Leaf): boolean {
  const kinds = [leaf.mine, leaf.theirs].filter((v) => v !== null && v !== undefined && v !== "");
  return kinds.every((v) => typeof v === "string") || kinds.every((v) => Array.isArray(v));
}

/** Both kept: texts theirs first (unless one contains the other), lists combined. */
export function both(mine: unknown, theirs: unknown): unknown {
  if (Array.isArray(mine) || Array.isArray(theirs)) {
    return [...new Set([...((theirs as unknown[]) ?? []), ...((mine as unknown[]) ?? [])])];
  }
  if (typeof mine !== "string" || typeof theirs !== "string") return mine ?? theirs;
  if (!theirs || mine.includes(theirs)) return mine;
  if (!mine || theirs.includes(mine)) return theirs;
  return `${theirs}\n${mine}`;
}

export function merge<T>(mine: T, theirs: T, choices: Map<string, Choice>): T {
  const result = structuredClone(mine) as Record<string, unknown>;
  for (const leaf of differences(mine, theirs)) {
    const choice = choices.get(leaf.path.join(".")) ?? (combinable(leaf) ? "both" : "mine");
    const value = choice === "mine" ? leaf.mine : choice === "theirs" ? leaf.theirs : both(leaf.mine, leaf.theirs);
    let target = result;
    for (const part of leaf.path.slice(0, -1)) target = target[part] as Record<string, unknown>;
    target[leaf.path[leaf.path.length - 1]] = value;
  }
  return result as T;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
