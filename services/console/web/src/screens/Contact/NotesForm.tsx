import type { Notes } from "./documents";

type Text = { path: [keyof Notes] | [keyof Notes, string]; label: string; hint?: string };

// The crisis-intervention steps, in the order a call goes (reference/clinical.md).
const STEPS: { title: string; fields: Text[] }[] = [
  { title: "1. Safety", fields: [
    { path: ["safety", "agitation"], label: "Agitation, immediate danger" },
    { path: ["safety", "access_to_means"], label: "Access to means" },
  ] },
  { title: "2. Exploring the problem", fields: [
    { path: ["exploring", "precipitating_event"], label: "What happened (precipitating event)" },
    { path: ["exploring", "persons_view"], label: "The caller's view of it" },
  ] },
  { title: "3. De-escalation", fields: [{ path: ["de_escalation"], label: "De-escalation" }] },
  { title: "4. Rapport", fields: [{ path: ["rapport"], label: "Rapport" }] },
  { title: "5. Problem solving", fields: [
    { path: ["problem_solving", "coping_tried"], label: "Coping already tried" },
    { path: ["problem_solving", "alternatives"], label: "Alternatives found together" },
  ] },
  { title: "6. Follow-up plan", fields: [
    { path: ["follow_up", "resources"], label: "Resources" },
    { path: ["follow_up", "supports"], label: "Supports" },
    { path: ["follow_up", "referrals"], label: "Referrals" },
  ] },
];

function read(notes: Notes, path: Text["path"]): string {
  const [a, b] = path;
  return String(b ? (notes[a] as Record<string, unknown>)[b] ?? "" : notes[a] ?? "");
}

function write(notes: Notes, path: Text["path"], value: string): Notes {
  const [a, b] = path;
  return b ? { ...notes, [a]: { ...(notes[a] as object), [b]: value } } : { ...notes, [a]: value };
}

export function NotesForm({ notes, onChange, readOnly }: { notes: Notes; onChange: (n: Notes) => void; readOnly: boolean }) {
  return (
    <div className="notes">
      {STEPS.map((step) => (
        <fieldset key={step.title}>
          <legend>{step.title}</legend>
          {step.title.startsWith("1.") && (
            <label className="inline">
              <input type="checkbox" checked={notes.safety.safe_now === true} disabled={readOnly}
                onChange={(e) => onChange({ ...notes, safety: { ...notes.safety, safe_now: e.target.checked } })} />
              Caller is safe right now
            </label>
          )}
          {step.title.startsWith("2.") && (
            <label>
              Distress (0–10)
              <input type="number" min={0} max={10} value={notes.exploring.distress ?? ""} readOnly={readOnly}
                onChange={(e) => onChange({ ...notes, exploring: { ...notes.exploring,
                  distress: e.target.value === "" ? null : Math.max(0, Math.min(10, Number(e.target.value))) } })} />
            </label>
          )}
          {step.fields.map((field) => (
            <label key={field.path.join(".")}>
              {field.label}
              <textarea name={field.path.join(".")} rows={2} maxLength={4000} value={read(notes, field.path)} readOnly={readOnly}
                onChange={(e) => onChange(write(notes, field.path, e.target.value))} />
            </label>
          ))}
        </fieldset>
      ))}
      <label>
        Other notes
        <textarea name="free_text" rows={4} maxLength={20000} value={notes.free_text} readOnly={readOnly}
          onChange={(e) => onChange({ ...notes, free_text: e.target.value })} />
      </label>
    </div>
  );
}
