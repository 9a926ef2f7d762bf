import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, get, post, put, type Me, type Session } from "../../api";
import { label, time } from "../../format";

interface Sampled {
  counselor: string;
  session_id: string;
  contact_id: string;
  closed_at: string;
  disposition: string;
  reviewed: boolean;
}

const STEPS = [
  ["safety", "Safety"],
  ["exploring", "Exploring the problem"],
  ["de_escalation", "De-escalation"],
  ["rapport", "Rapport"],
  ["problem_solving", "Problem solving"],
  ["follow_up", "Follow-up plan"],
] as const;

function thisWeek(): string {
  const d = new Date();
  const day = (d.getUTCDay() + 6) % 7;
  d.setUTCDate(d.getUTCDate() - day + 3); // the week's Thursday decides its year
  const firstThursday = new Date(Date.UTC(d.getUTCFullYear(), 0, 4));
  const week = 1 + Math.round(((d.getTime() - firstThursday.getTime()) / 86400000 - 3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** The week's random sample of each counselor's closed sessions, and their reviews. */
export default function QualityScreen({ me }: { me: Me }) {
  const center = me.centers[0] ?? "";
  const [week, setWeek] = useState(thisWeek());
  const [size, setSize] = useState(3);
  const [items, setItems] = useState<Sampled[] | null>(null);
  const [open, setOpen] = useState<Sampled | null>(null);
  const load = useCallback(async () => {
    setItems((await get<{ items: Sampled[] }>(`/api/sessions/v1/qa/sample?center_id=${center}&week=${week}&size=${size}`)).items);
  }, [center, week, size]);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section aria-labelledby="qa-title">
      <h1 id="qa-title">Quality assurance</h1>
      <div className="title-row">
        <label className="inline">Week<input type="week" value={week} onChange={(e) => e.target.value && setWeek(e.target.value)} /></label>
        <label className="inline">Per counselor<input type="number" min={1} max={50} value={size} onChange={(e) => setSize(Number(e.target.value) || 1)} /></label>
      </div>
      <div className="columns">
        <div>
          {items === null ? <p>Loading…</p> : items.length === 0 ? <p>No closed sessions that week.</p> : (
            <table data-testid="qa-sample">
              <thead><tr><th scope="col">Counselor</th><th scope="col">Session</th><th scope="col">Closed</th><th scope="col">Disposition</th><th scope="col">Review</th></tr></thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.session_id} data-session-id={s.session_id}>
                    <td>{s.counselor}</td>
                    <td><button type="button" className="link" onClick={() => setOpen(s)}>{s.session_id.slice(0, 8)}</button></td>
                    <td>{time(s.closed_at)}</td>
                    <td>{label(s.disposition)}</td>
                    <td>{s.reviewed ? "reviewed" : "to review"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        {open && <Review key={open.session_id} sampled={open} onSaved={load} />}
      </div>
    </section>
  );
}

function Review({ sampled, onSaved }: { sampled: Sampled; onSaved: () => Promise<void> }) {
  const [session, setSession] = useState<Session | null>(null);
  const [scores, setScores] = useState<Record<string, number>>(Object.fromEntries(STEPS.map(([k]) => [k, 3])));
  const [comments, setComments] = useState("");
  const [addendum, setAddendum] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    void get<Session & { review?: { scores: Record<string, number>; comments: string } }>(`/api/sessions/v1/sessions/${sampled.session_id}`).then((s) => {
      setSession(s);
      if (s.review) {
        setScores(s.review.scores);
        setComments(s.review.comments);
      }
    });
  }, [sampled.session_id]);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await put(`/api/sessions/v1/sessions/${sampled.session_id}/review`, { scores, comments });
      setMessage("Review saved: the counselor sees it with the session.");
      await onSaved();
    } catch (e) {
      setMessage(e instanceof ApiError ? e.message : "Not saved (network).");
    }
  };
  const addAddendum = async () => {
    try {
      await post(`/api/sessions/v1/sessions/${sampled.session_id}/addenda`, { text: addendum });
      setAddendum("");
      setMessage("Addendum added (signed, kept with the record).");
    } catch (e) {
      setMessage(e instanceof ApiError ? e.message : "Not saved (network).");
    }
  };
  const notes = (session?.notes ?? {}) as Record<string, unknown>;
  return (
    <section className="card" aria-labelledby="review-title" data-testid="review">
      <h2 id="review-title">Session {sampled.session_id.slice(0, 8)} · {sampled.counselor}</h2>
      {session && written(notes).length === 0 && <p>No notes were written.</p>}
      {session && written(notes).length > 0 && (
        <dl className="notes-view" aria-label="The session's notes">
          {written(notes).map(([field, text]) => (
            <div key={field}><dt>{label(field)}</dt><dd>{text}</dd></div>
          ))}
        </dl>
      )}
      <form onSubmit={(e) => void save(e)} aria-label="Review">
        {STEPS.map(([key, title]) => (
          <label key={key}>
            {title}
            <select value={scores[key]} onChange={(e) => setScores({ ...scores, [key]: Number(e.target.value) })}>
              {[1, 2, 3, 4, 5].map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
          </label>
        ))}
        <label>Comments<textarea rows={3} maxLength={4000} value={comments} onChange={(e) => setComments(e.target.value)} /></label>
        <button type="submit">Save review</button>
      </form>
      <label>Supervisor addendum<textarea rows={2} maxLength={10000} value={addendum} onChange={(e) => setAddendum(e.target.value)} /></label>
      <button type="button" disabled={!addendum.trim()} onClick={() => void addAddendum()}>Add addendum</button>
      {message && <p role="status">{message}</p>}
    </section>
  );
}

/** The notes' filled-in text fields, as (field, text) pairs. */
function written(value: unknown, path = ""): [string, string][] {
  if (typeof value === "string") return value.trim() ? [[path, value]] : [];
  if (typeof value === "number") return [[path, String(value)]];
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => written(v, path ? `${path} ${k}` : k));
  }
  return [];
}
