import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, get, post, type Me, type Task } from "../../api";
import type { FeedTick } from "../../App";
import { label, time } from "../../format";
import { go } from "../../router";
import { KindFilter } from "../Followups/KindFilter";

const STATES = ["breached", "at-risk", "on-track", "missed"] as const;

/** Follow-up tasks by SLA state, oldest breach first; drill down; hand a task to a worker. */
export default function SlaBoard({ me, tick }: { me: Me; tick: FeedTick }) {
  const center = me.centers[0] ?? "";
  const [state, setState] = useState<(typeof STATES)[number]>("breached");
  const [kind, setKind] = useState("");
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [counts, setCounts] = useState<Record<string, number>>({});
  const load = useCallback(async () => {
    // missed: attempts exhausted (a status, not an SLA state); the others: open tasks by SLA state
    const open = (t: Task) => !["completed", "missed", "cancelled"].includes(t.status);
    const filter = state === "missed" ? "status=missed" : `sla_state=${state}`;
    const page = await get<{ items: Task[] }>(`/api/followup/v1/followups?center_id=${center}&${filter}&limit=200`);
    const shown = state === "missed" ? page.items : page.items.filter(open);
    setTasks(shown.filter((t) => !kind || t.kind === kind).sort((a, b) => a.due_at.localeCompare(b.due_at)));
    const summary = await get<{ counts: Record<string, number>; lost_to_follow_up: number }>(`/api/followup/v1/sla/summary?center_id=${center}`);
    setCounts({ ...summary.counts, missed: summary.lost_to_follow_up });
  }, [center, state, kind]);
  const followupTick = tick.kinds.followup ?? 0;
  useEffect(() => {
    void load();
  }, [load, followupTick, tick.resync]);
  return (
    <section aria-labelledby="sla-title">
      <h1 id="sla-title">SLA board</h1>
      <div className="tabs" role="group" aria-label="SLA state">
        {STATES.map((s) => (
          <button key={s} type="button" aria-pressed={state === s} className={state === s ? "tab current" : "tab"}
            onClick={() => setState(s)} data-testid={`tab-${s}`}>
            {label(s)} ({counts[s] ?? 0})
          </button>
        ))}
        <KindFilter kind={kind} onChange={setKind} />
      </div>
      {tasks === null ? <p>Loading…</p> : tasks.length === 0 ? <p>No {label(state)} tasks.</p> : (
        <table data-testid="sla-tasks">
          <thead>
            <tr><th scope="col">Task</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Due</th>
              <th scope="col">Attempts</th><th scope="col">Worker</th><th scope="col">Give to</th></tr>
          </thead>
          <tbody>
            {tasks.map((t) => (
              <tr key={t.id} data-task-id={t.id}>
                <td><a href={`/followups/${t.id}`} onClick={(e) => go(e, `/followups/${t.id}`)}>{t.id.slice(0, 8)}</a></td>
                <td>{label(t.kind)}</td>
                <td>{label(t.status)}</td>
                <td>{time(t.due_at)}</td>
                <td>{t.attempts}{t.max_attempts ? ` of ${t.max_attempts}` : ""}</td>
                <td>{t.claimed_by ?? "—"}</td>
                <td><Assign task={t} onDone={load} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Assign({ task, onDone }: { task: Task; onDone: () => Promise<void> }) {
  const [worker, setWorker] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await post(`/api/followup/v1/followups/${task.id}/assign`, { worker });
      setWorker("");
      await onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not saved (network).");
    }
  };
  return (
    <form className="assign" onSubmit={(e) => void submit(e)}>
      <label className="sr-only" htmlFor={`assign-${task.id}`}>Worker for task {task.id.slice(0, 8)}</label>
      <input id={`assign-${task.id}`} value={worker} required placeholder="user id" onChange={(e) => setWorker(e.target.value)} />
      <button type="submit">Assign</button>
      {error && <span role="alert" className="error">{error}</span>}
    </form>
  );
}
