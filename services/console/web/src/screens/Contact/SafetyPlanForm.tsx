import { PLAN_SECTIONS, type PlanText } from "./documents";

/** The Stanley-Brown safety plan, built with the caller: one item per line. */
export function SafetyPlanForm({ plan, onChange, readOnly }: { plan: PlanText; onChange: (p: PlanText) => void; readOnly: boolean }) {
  return (
    <div className="plan">
      <p className="hint">One item per line, in the caller's own words.</p>
      {PLAN_SECTIONS.map(([key, title]) => (
        <label key={key}>
          {title}
          <textarea name={key} rows={3} value={plan[key]} readOnly={readOnly} onChange={(e) => onChange({ ...plan, [key]: e.target.value })} />
        </label>
      ))}
      <label>
        The one thing most important to me and worth living for
        <textarea name="reason_for_living" rows={2} maxLength={2000} value={plan.reason_for_living} readOnly={readOnly}
          onChange={(e) => onChange({ ...plan, reason_for_living: e.target.value })} />
      </label>
    </div>
  );
}
