import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, get, post, put, RISK_LEVELS, type Contact, type Me, type Session, type Task } from "../../api";
import type { FeedTick } from "../../App";
import { label, time } from "../../format";
import { PLAN_SECTIONS } from "../Contact/documents";

const OUTCOMES = ["reached", "no-answer", "voicemail", "declined", "wrong-number", "escalated-to-imminent-risk"];

/** One follow-up call: who to call (released with a reason, audited), what was agreed last
 * time (safety plan, risk), and the call's documentation. */
export function CallView({ me, followupId, tick }: { me: Me; followupId: string; tick: FeedTick }) {
  const [task, setTask] = useState<Task | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setTask(await get<Task>(`/api/followup/v1/followups/${followupId}`));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "The console is unreachable.");
    }
  }, [followupId]);
  const changed = tick.subjects[followupId] ?? 0;
  useEffect(() => {
    void load();
  }, [load, changed]);
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!task) return <p>Loading…</p>;
  const mine = task.claimed_by === me.sub;
  const closed = ["completed", "missed", "cancelled"].includes(task.status);
  // A worker opens the caller's record for this call: with a reason, audited (and a
  // supervisor told) as any access to a contact one did not answer.
  const reason = { "X-Break-Glass-Reason": `follow-up call, task ${task.id}` };
  return (
    <article aria-labelledby="call-title" className="call">
      <h1 id="call-title">Follow-up {label(task.kind)} · {task.id.slice(0, 8)}</h1>
      <dl className="facts">
        <div><dt>Status</dt><dd data-testid="task-status">{label(task.status)}</dd></div>
        <div><dt>SLA</dt><dd>{label(task.sla_state)}</dd></div>
        <div><dt>Due</dt><dd>{time(task.due_at)}</dd></div>
        <div><dt>Attempts</dt><dd>{task.attempts}{task.max_attempts ? ` of ${task.max_attempts}` : ""}</dd></div>
        <div><dt>Claimed by</dt><dd>{task.claimed_by ?? "nobody"}</dd></div>
      </dl>
      {task.attempt_log && task.attempt_log.length > 0 && (
        <ol className="attempts" aria-label="Attempts" data-testid="attempts">
          {task.attempt_log.map((a) => (
            <li key={a.n}>{label(a.outcome)} · {time(a.at)}{a.by ? ` · ${a.by}` : ""}</li>
          ))}
        </ol>
      )}
      {!closed && !mine && (
        <button type="button" onClick={() => void post(`/api/followup/v1/followups/${task.id}/claim`).then(load, (e) => setError(String(e)))}>
          Claim this call
        </button>
      )}
      <div className="columns">
        <div>
          <section className="card" aria-labelledby="doc-title">
            <h2 id="doc-title">Document the call</h2>
            {closed ? <p>This follow-up is {label(task.status)}.</p> : <Documentation task={task} onSaved={load} />}
          </section>
          {!closed && <Schedule task={task} onSaved={load} />}
        </div>
        <aside className="side" aria-label="The caller">
          <Caller task={task} headers={reason} />
          <Previous task={task} headers={reason} />
        </aside>
      </div>
    </article>
  );
}

function Documentation({ task, onSaved }: { task: Task; onSaved: () => Promise<void> }) {
  const [outcome, setOutcome] = useState("reached");
  const [mood, setMood] = useState("");
  const [risk, setRisk] = useState("");
  const [reviewed, setReviewed] = useState(false);
  const [means, setMeans] = useState("");
  const [more, setMore] = useState("");
  const [notes, setNotes] = useState("");
  const [error, setError] = useState<string | null>(null);
  const key = useRef(crypto.randomUUID());
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const documentation = outcome === "reached" ? {
      mood: mood === "" ? null : Number(mood), current_risk: risk || null, safety_plan_reviewed: reviewed,
      lethal_means: means || null, wants_more_contact: more === "" ? null : more === "yes", notes: notes || null,
    } : undefined;
    try {
      await post(`/api/followup/v1/followups/${task.id}/attempts`, { outcome, documentation }, { "Idempotency-Key": key.current });
      key.current = crypto.randomUUID();
      await onSaved();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not saved (network): try again, it counts once.");
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Call documentation">
      <label>
        Outcome
        <select value={outcome} onChange={(e) => setOutcome(e.target.value)}>
          {OUTCOMES.map((o) => <option key={o} value={o}>{label(o)}</option>)}
        </select>
      </label>
      {outcome === "reached" && (
        <>
          <label>Mood (0 worst – 10 best)<input type="number" min={0} max={10} value={mood} onChange={(e) => setMood(e.target.value)} /></label>
          <label>
            Current risk (re-screen)
            <select value={risk} onChange={(e) => setRisk(e.target.value)}>
              <option value="">Not assessed</option>
              {RISK_LEVELS.map((l) => <option key={l} value={l}>{l}</option>)}
            </select>
          </label>
          <label className="inline"><input type="checkbox" checked={reviewed} onChange={(e) => setReviewed(e.target.checked)} />Safety plan reviewed</label>
          <label>
            Access to lethal means
            <select value={means} onChange={(e) => setMeans(e.target.value)}>
              <option value="">Not asked</option>
              {["no-access", "reduced", "has-access", "unknown"].map((m) => <option key={m} value={m}>{label(m)}</option>)}
            </select>
          </label>
          <label>
            Wants more contact
            <select value={more} onChange={(e) => setMore(e.target.value)}>
              <option value="">Not asked</option>
              <option value="yes">Yes</option>
              <option value="no">No (the follow-up ends)</option>
            </select>
          </label>
          <label>Notes<textarea rows={3} maxLength={4000} value={notes} onChange={(e) => setNotes(e.target.value)} /></label>
        </>
      )}
      <button type="submit">Record the call</button>
      {error && <p role="alert" className="error">{error}</p>}
    </form>
  );
}

function Schedule({ task, onSaved }: { task: Task; onSaved: () => Promise<void> }) {
  const [at, setAt] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await post(`/api/followup/v1/followups/${task.id}/schedule`, { at: new Date(at).toISOString() });
      await onSaved();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not saved (network).");
    }
  };
  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label="Schedule the next call">
      <h2>Schedule an agreed time</h2>
      <label>When<input type="datetime-local" required value={at} onChange={(e) => setAt(e.target.value)} /></label>
      <button type="submit">Schedule</button>
      {error && <p role="alert" className="error">{error}</p>}
    </form>
  );
}

function Caller({ task, headers }: { task: Task; headers: Record<string, string> }) {
  const [number, setNumber] = useState<string | null>(null);
  const [callback, setCallback] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const release = async () => {
    try {
      const caller = await get<{ caller_number: string | null }>(`/api/intake/v1/contacts/${task.contact_id}/caller?reason=follow-up`, headers);
      setNumber(caller.caller_number ?? "none on record");
    } catch (e) {
      setMessage(e instanceof Error ? e.message : String(e));
    }
  };
  const record = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await put(`/api/intake/v1/contacts/${task.contact_id}/callback-number`, { number: callback }, headers);
      setMessage("Callback number recorded.");
    } catch (e) {
      setMessage(e instanceof ApiError ? e.message : "Not saved (network).");
    }
  };
  const stopSeries = async () => {
    const page = await get<{ items: { id: string; contact_id: string; status: string }[] }>(`/api/followup/v1/caring-series?center_id=${task.center_id}`);
    const series = page.items.find((s) => s.contact_id === task.contact_id && s.status === "active");
    if (!series) return setMessage("No caring-contacts series is running for this caller.");
    await post(`/api/followup/v1/caring-series/${series.id}/stop`);
    setMessage("Caring contacts stopped.");
  };
  return (
    <section aria-labelledby="caller-title">
      <h2 id="caller-title">The caller</h2>
      {number ? <p data-testid="caller-number">Number: <strong>{number}</strong> (this release is audited)</p> : (
        <button type="button" onClick={() => void release()}>Show the number (audited)</button>
      )}
      <form onSubmit={(e) => void record(e)}>
        <label>Callback number<input type="tel" placeholder="+15551234567" pattern="^\+[1-9]\d{6,14}$" value={callback} onChange={(e) => setCallback(e.target.value)} /></label>
        <button type="submit">Record</button>
      </form>
      {/* apart from the buttons around it: a stop is not a misclick away from them */}
      <p className="apart"><button type="button" className="link" onClick={() => void stopSeries()}>Stop caring contacts</button></p>
      {message && <p role="status">{message}</p>}
    </section>
  );
}

function Previous({ task, headers }: { task: Task; headers: Record<string, string> }) {
  const [contact, setContact] = useState<Contact | null>(null);
  const [plan, setPlan] = useState<Record<string, unknown> | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const open = async () => {
    try {
      setContact(await get<Contact>(`/api/intake/v1/contacts/${task.contact_id}`, headers));
      const sessions = await get<{ items: Session[] }>(`/api/sessions/v1/sessions?contact_id=${task.contact_id}`, headers);
      setPlan(sessions.items.at(-1)?.safety_plan ?? null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!contact) return <p className="apart"><button type="button" onClick={() => void open()}>Open the last session (audited)</button></p>;
  return (
    <section aria-labelledby="previous-title" data-testid="previous">
      <h2 id="previous-title">Last session</h2>
      <p>Risk: <strong className={`risk risk-${contact.risk?.level ?? "pending"}`}>{contact.risk?.level ?? "not screened"}</strong>
        {contact.escalations.length > 0 && " · escalated"}</p>
      <h3>Safety plan</h3>
      {plan ? (
        <dl>
          {PLAN_SECTIONS.map(([key, title]) => (
            <div key={key}><dt>{title}</dt><dd>{((plan[key] as string[]) ?? []).join("; ") || "—"}</dd></div>
          ))}
        </dl>
      ) : <p>None.</p>}
    </section>
  );
}
