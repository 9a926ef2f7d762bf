import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { ApiError, post, type Escalation } from "../../api";
import { label, time } from "../../format";
import { useKeys } from "../../shortcuts";

const REASONS = ["attempt-in-progress", "unable-to-stay-safe", "unwilling-to-stay-safe", "third-party-report"];
const ACTIONS = [
  "ems-dispatched",
  "police-welfare-check",
  "mobile-crisis-team",
  "third-party-contacted",
  "caller-agreed-to-emergency-department",
  "supervisor-consulted",
];

/** Imminent risk: Alt+E, a digit for the reason, a digit for the action taken — sent. */
export function Escalations({ contactId, escalations, onChanged }: { contactId: string; escalations: Escalation[]; onChanged: () => void }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const pendingEms = [...escalations].reverse().find((e) => e.ems === null);
  const confirm = async (escalation: Escalation, reached: boolean) => {
    try {
      await post(`/api/intake/v1/contacts/${contactId}/escalations/${escalation.id}/ems-confirmation`, { reached });
      onChanged();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not saved: the network is down. Try again.");
    }
  };
  useKeys((event) => {
    if (event.altKey && event.code === "KeyE") {
      event.preventDefault();
      setOpen(true);
    } else if (event.altKey && event.code === "KeyM" && pendingEms) {
      event.preventDefault();
      void confirm(pendingEms, true);
    }
  });
  return (
    <div className="escalations">
      <button type="button" className="danger" onClick={() => setOpen(true)} aria-keyshortcuts="Alt+E">
        Escalate imminent risk (Alt+E)
      </button>
      {escalations.length > 0 && (
        <ul data-testid="escalations">
          {escalations.map((e) => (
            <li key={e.id}>
              {time(e.escalated_at)} — {label(e.reason)}: {e.actions.map(label).join(", ")}.{" "}
              {e.ems ? (
                <span data-testid="ems-status">EMS {e.ems.reached ? "reached the caller" : "did not reach the caller"}.</span>
              ) : (
                <span>
                  EMS not confirmed yet.{" "}
                  <button type="button" onClick={() => void confirm(e, true)} aria-keyshortcuts="Alt+M">
                    EMS reached (Alt+M)
                  </button>{" "}
                  <button type="button" onClick={() => void confirm(e, false)}>
                    EMS did not reach
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {open && (
        <EscalateDialog
          contactId={contactId}
          onDone={() => {
            setOpen(false);
            onChanged();
          }}
          onCancel={() => setOpen(false)}
        />
      )}
    </div>
  );
}

function EscalateDialog({ contactId, onDone, onCancel }: { contactId: string; onDone: () => void; onCancel: () => void }) {
  const [reason, setReason] = useState<string | null>(null);
  const [actions, setActions] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const key = useRef(crypto.randomUUID());
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const send = async (why: string, taken: string[]) => {
    try {
      await post(`/api/intake/v1/contacts/${contactId}/escalations`, { reason: why, actions: taken }, { "Idempotency-Key": key.current });
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not sent: the network is down. Try again.");
    }
  };
  const onKey = (event: KeyboardEvent) => {
    const digit = Number(event.key);
    if (event.key === "Escape") onCancel();
    if (!Number.isInteger(digit) || digit < 1) return;
    event.preventDefault();
    if (reason === null && digit <= REASONS.length) setReason(REASONS[digit - 1]);
    else if (reason !== null && digit <= ACTIONS.length) void send(reason, [...new Set([...actions, ACTIONS[digit - 1]])]);
  };
  return (
    <div className="backdrop">
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="escalate-title" onKeyDown={onKey}>
        <h2 id="escalate-title">Escalate imminent risk</h2>
        <fieldset>
          <legend>Reason (press its number)</legend>
          {REASONS.map((r, i) => (
            <label key={r} className="inline">
              <input type="radio" name="reason" ref={i === 0 ? first : undefined} checked={reason === r} onChange={() => setReason(r)} />
              {i + 1}. {label(r)}
            </label>
          ))}
        </fieldset>
        <fieldset disabled={reason === null}>
          <legend>Action taken (press its number to send)</legend>
          {ACTIONS.map((a, i) => (
            <label key={a} className="inline">
              <input type="checkbox" checked={actions.includes(a)}
                onChange={(e) => setActions(e.target.checked ? [...actions, a] : actions.filter((x) => x !== a))} />
              {i + 1}. {label(a)}
            </label>
          ))}
        </fieldset>
        <div className="actions">
          <button type="button" className="danger" disabled={!reason || actions.length === 0} onClick={() => reason && void send(reason, actions)}>
            Escalate
          </button>
          <button type="button" onClick={onCancel}>
            Cancel (Escape)
          </button>
        </div>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </div>
    </div>
  );
}
