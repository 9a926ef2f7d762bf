import { useState, type FormEvent } from "react";
import { ApiError, post, put, RISK_LEVELS, type Contact, type Me, type RiskLevel } from "../../api";
import { label } from "../../format";

const DISPOSITIONS = [
  "resolved",
  "referred",
  "safety-plan-made",
  "emergency-services-dispatched",
  "mobile-crisis-dispatched",
  "caller-disconnected",
  "transferred",
  "third-party-call",
  "prank-or-misdial",
];

/** Close: disposition, risk (the assessed level; lower needs a supervisor and a reason),
 * consent to follow-up and caring contacts, a number to call back. */
export function CloseForm({ me, contact, sessionId, beforeClose, onClosed }: {
  me: Me; contact: Contact; sessionId: string; beforeClose: () => Promise<void>; onClosed: () => void;
}) {
  // an escalation is high risk whatever the screen said (the sessions service's floor)
  const assessed: RiskLevel = contact.escalations.length > 0 ? "high" : (contact.risk?.level ?? "none");
  const [disposition, setDisposition] = useState("");
  // the counselor's choice, else the assessed level (which may arrive after this form)
  const [chosenRisk, setRisk] = useState<RiskLevel | null>(null);
  const risk = chosenRisk ?? assessed;
  const [reason, setReason] = useState("");
  const [chosenEscalated, setEscalated] = useState<boolean | null>(null);
  const escalated = chosenEscalated ?? contact.escalations.length > 0;
  const [followup, setFollowup] = useState(false);
  const [caring, setCaring] = useState(false);
  const [channel, setChannel] = useState("sms");
  const [number, setNumber] = useState("");
  const [error, setError] = useState<string | null>(null);
  const supervisor = me.role !== "counselor";
  const lower = RISK_LEVELS.indexOf(risk) < RISK_LEVELS.indexOf(assessed);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await beforeClose(); // every note and plan line is saved first
      if (number) await put(`/api/intake/v1/contacts/${contact.id}/callback-number`, { number });
      await post(`/api/sessions/v1/sessions/${sessionId}/close`, {
        disposition,
        risk_level: risk,
        escalated,
        followup_consent: followup,
        caring_contacts_consent: caring,
        caring_contacts_channel: caring ? channel : undefined,
        risk_reason: lower ? reason : undefined,
      });
      onClosed();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not closed: the network is down. Try again.");
    }
  };
  return (
    <form className="close" onSubmit={(e) => void submit(e)} aria-label="Close the session">
      <label>
        Disposition
        <select name="disposition" required value={disposition} onChange={(e) => setDisposition(e.target.value)}>
          <option value="">Choose…</option>
          {DISPOSITIONS.map((d) => (
            <option key={d} value={d}>
              {label(d)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Risk level (assessed: {assessed}{contact.escalations.length > 0 ? ", escalated" : ""})
        <select name="risk" value={risk} onChange={(e) => setRisk(e.target.value as RiskLevel)}>
          {RISK_LEVELS.map((l) => (
            <option key={l} value={l} disabled={!supervisor && RISK_LEVELS.indexOf(l) < RISK_LEVELS.indexOf(assessed)}>
              {l}
              {!supervisor && RISK_LEVELS.indexOf(l) < RISK_LEVELS.indexOf(assessed) ? " (needs a supervisor)" : ""}
            </option>
          ))}
        </select>
      </label>
      {lower && (
        <label>
          Why the risk is lower than assessed
          <textarea required minLength={3} value={reason} onChange={(e) => setReason(e.target.value)} />
        </label>
      )}
      <label className="inline">
        <input type="checkbox" checked={escalated} onChange={(e) => setEscalated(e.target.checked)} />
        Escalated (imminent risk)
      </label>
      <label className="inline">
        <input type="checkbox" name="followup_consent" checked={followup} onChange={(e) => setFollowup(e.target.checked)} />
        Caller agrees to a follow-up call
      </label>
      <label className="inline">
        <input type="checkbox" name="caring_consent" checked={caring} onChange={(e) => setCaring(e.target.checked)} />
        Caller agrees to caring contacts
      </label>
      {caring && (
        <label>
          Caring contacts by
          <select value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="sms">Text message</option>
            <option value="email">Email</option>
          </select>
        </label>
      )}
      <label>
        Callback number {contact.caller_reachable ? "(the caller's number is on record)" : "(none on record)"}
        <input name="callback_number" type="tel" placeholder="+15551234567" pattern="^\+[1-9]\d{6,14}$" value={number}
          onChange={(e) => setNumber(e.target.value)} />
      </label>
      <button type="submit">Close session</button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}
