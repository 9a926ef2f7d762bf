import { label } from "../../format";

const KINDS = ["", "callback", "safety-follow-up", "follow-up", "check-in", "ems-confirmation"];

/** Narrow a list of follow-up tasks to one kind ("" = all). */
export function KindFilter({ kind, onChange }: { kind: string; onChange: (kind: string) => void }) {
  return (
    <label className="inline">
      Kind
      <select value={kind} onChange={(e) => onChange(e.target.value)}>
        {KINDS.map((k) => <option key={k} value={k}>{k ? label(k) : "All kinds"}</option>)}
      </select>
    </label>
  );
}
