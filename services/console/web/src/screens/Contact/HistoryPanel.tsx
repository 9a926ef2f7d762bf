import { useEffect, useState } from "react";
import { ApiError, get, type History } from "../../api";
import { label, time } from "../../format";
import { PLAN_SECTIONS } from "./documents";

/** The caller's history in this center (read on purpose: each open is audited). */
export function HistoryPanel({ contactId }: { contactId: string }) {
  const [history, setHistory] = useState<History | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    get<History>(`/bff/contacts/${contactId}/history`).then(setHistory, (e) =>
      setError(e instanceof ApiError ? e.message : "History unavailable (network)."),
    );
  }, [contactId]);
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!history) return <p>Loading history…</p>;
  const plan = history.last_safety_plan.safety_plan;
  return (
    <div className="history" data-testid="history">
      {history.previous_contacts.length === 0 ? (
        <p>First contact from this caller in this center.</p>
      ) : (
        <>
          <p>
            {history.previous_contacts.length} earlier contact(s).{" "}
            {history.last_risk && (
              <>
                Last risk: <strong className={`risk risk-${history.last_risk.level}`}>{history.last_risk.level}</strong> on{" "}
                {time(history.last_risk.assessed_at)}.
              </>
            )}
          </p>
          <ul>
            {history.previous_contacts.map((c) => (
              <li key={c.id}>
                {time(c.times.started ?? c.times.queued)} · {label(c.channel)} · {label(c.status)}
                {c.risk ? ` · risk ${c.risk.level}` : ""}
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>Last safety plan</h3>
      {plan ? (
        <dl>
          {PLAN_SECTIONS.map(([key, title]) => (
            <div key={key}>
              <dt>{title}</dt>
              <dd>{((plan[key] as string[]) ?? []).join("; ") || "—"}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p>None.</p>
      )}
      <h3>Open follow-ups</h3>
      {history.open_followups.length ? (
        <ul>
          {history.open_followups.map((f) => (
            <li key={f.id}>
              {label(f.kind)} · {label(f.status)} · due {time(f.due_at)}
            </li>
          ))}
        </ul>
      ) : (
        <p>None.</p>
      )}
    </div>
  );
}
