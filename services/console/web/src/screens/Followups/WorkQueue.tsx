import { useCallback, useEffect, useState } from "react";
import { ApiError, get, post, type Me, type Task } from "../../api";
import type { FeedTick } from "../../App";
import { label, time } from "../../format";
import { go } from "../../router";
import { KindFilter } from "./KindFilter";

const SLA_ORDER: Record<string, number> = { breached: 0, "at-risk": 1, "on-track": 2 };
const KIND_RISK: Record<string, number> = { "ems-confirmation": 0, "safety-follow-up": 1, callback: 2, "check-in": 3, "follow-up": 4 };

/** Due and upcoming follow-ups, riskiest and nearest deadline first; claim, release, open. */
export function WorkQueue({ me, tick }: { me: Me; tick: FeedTick }) {
  const center = me.centers[0] ?? "";
  const [kind, setKind] = useState("");
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    const page = await get<{ items: Task[] }>(`/api/followup/v1/followups?center_id=${center}&limit=200`);
    const open = page.items.filter((t) => ["scheduled", "due", "attempted", "needs-number"].includes(t.status));
    setTasks(open.filter((t) => !kind || t.kind === kind).sort((a, b) =>
      (SLA_ORDER[a.sla_state] ?? 3) - (SLA_ORDER[b.sla_state] ?? 3) ||
      (KIND_RISK[a.kind] ?? 5) - (KIND_RISK[b.kind] ?? 5) || a.due_at.localeCompare(b.due_at)));
  }, [center, kind]);
  const followupTick = tick.kinds.followup ?? 0;
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 3000); // claims are not events: others' show within seconds
    return () => clearInterval(timer);
  }, [load, followupTick, tick.resync]);
  const act = async (task: Task, verb: "claim" | "release") => {
    setError(null);
    try {
      await post(`/api/followup/v1/followups/${task.id}/${verb}`);
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not saved (network).");
    }
  };
  return (
    <section aria-labelledby="queue-title">
      <h1 id="queue-title">Follow-ups</h1>
      <KindFilter kind={kind} onChange={setKind} />
      {error && <p role="alert" className="error">{error}</p>}
      {tasks === null ? <p>Loading…</p> : tasks.length === 0 ? <p>Nothing due.</p> : (
        <table data-testid="work-queue">
          <thead>
            <tr><th scope="col">Task</th><th scope="col">Kind</th><th scope="col">SLA</th><th scope="col">Due</th>
              <th scope="col">Attempts</th><th scope="col">Claimed by</th><th scope="col">Action</th></tr>
          </thead>
          <tbody>
            {tasks.map((t) => {
              const mine = t.claimed_by === me.sub;
              return (
                <tr key={t.id} data-task-id={t.id} data-contact-id={t.contact_id}>
                  <td><a href={`/followups/${t.id}`} onClick={(e) => go(e, `/followups/${t.id}`)}>{t.id.slice(0, 8)}</a></td>
                  <td>{label(t.kind)}</td>
                  <td className={`sla sla-${t.sla_state}`}>{label(t.sla_state)}</td>
                  <td>{time(t.due_at)}</td>
                  <td>{t.attempts}</td>
                  <td data-testid="claimed-by">{t.claimed_by ?? "—"}</td>
                  <td>
                    {mine ? (
                      <button type="button" onClick={() => void act(t, "release")}>Release</button>
                    ) : t.claimed_by ? null : (
                      <button type="button" onClick={() => void act(t, "claim")}>Claim</button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
