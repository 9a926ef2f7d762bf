// The C-SSRS Screener as the counselor asks it (reference/clinical.md; the service's
// domain/triage.py decides the level that counts; this shows it at once).
import type { RiskLevel } from "./api";

export type Item = "q1" | "q2" | "q3" | "q4" | "q5" | "q6" | "q6a";
export type Answers = Partial<Record<Item, boolean>>;

export const QUESTIONS: Record<Item, string> = {
  q1: "In the past month, have you wished you were dead or wished you could go to sleep and not wake up?",
  q2: "In the past month, have you actually had any thoughts of killing yourself?",
  q3: "Have you been thinking about how you might do this?",
  q4: "Have you had these thoughts and had some intention of acting on them?",
  q5: "Have you started to work out or worked out the details of how to kill yourself? Do you intend to carry out this plan?",
  q6: "Have you ever done anything, started to do anything, or prepared to do anything to end your life?",
  q6a: "Was that within the past 3 months?",
};

/** The items the skip logic asks, in order, given the answers so far. */
export function asked(answers: Answers): Item[] {
  const items: Item[] = ["q1", "q2"];
  if (answers.q2) items.push("q3", "q4", "q5");
  items.push("q6");
  if (answers.q6) items.push("q6a");
  return items;
}

/** The next unanswered item, or null when the screen is complete. */
export function nextQuestion(answers: Answers): Item | null {
  return asked(answers).find((item) => answers[item] === undefined) ?? null;
}

/** Answer an item; answers the skip logic no longer asks are dropped. */
export function answer(answers: Answers, item: Item, value: boolean): Answers {
  const next: Answers = { ...answers, [item]: value };
  const keep = new Set(asked(next));
  return Object.fromEntries(Object.entries(next).filter(([k]) => keep.has(k as Item))) as Answers;
}

/** The triaged level of a complete screen (null while incomplete). */
export function triage(answers: Answers): RiskLevel | null {
  if (nextQuestion(answers) !== null) return null;
  if (answers.q4 || answers.q5 || (answers.q6 && answers.q6a)) return "high";
  if (answers.q3 || (answers.q6 && answers.q6a === false)) return "moderate";
  if (answers.q1 || answers.q2) return "low";
  return "none";
}
