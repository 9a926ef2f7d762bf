import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, get, post, type Alert, type Funnel, type IntervalKpis, type LiveBoard, type Me } from "../../api";
import type { FeedTick } from "../../App";
import { iso, label, percent, seconds, startOfDay, time } from "../../format";
import { useKeys } from "../../shortcuts";
import { BreachesChart, FunnelChart, RiskMixChart, ServiceChart } from "./Charts";

/** One center's live operations: the board, the alert feed, the charts, the exports. */
export default function OperationsScreen({ me, tick }: { me: Me; tick: FeedTick }) {
  const [center, setCenter] = useState(me.centers[0] ?? "");
  const [board, setBoard] = useState<LiveBoard | null>(null);
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [intervals, setIntervals] = useState<{ intervals: IntervalKpis[]; risk_mix: Record<string, number> } | null>(null);
  const [followups, setFollowups] = useState<{ funnel: Funnel; sla_breaches: { start: string; breached: number }[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const q = `center_id=${encodeURIComponent(center)}`;
  const today = { from: iso(startOfDay()), to: iso(startOfDay(-1)) };
  const month = { from: iso(startOfDay(29)), to: iso(startOfDay(-1)) };

  const loadBoard = useCallback(async () => {
    try {
      setBoard(await get<LiveBoard>(`/api/intake/v1/kpis/live?${q}`));
      setIntervals(await get(`/api/intake/v1/kpis/operations/intervals?${q}&from=${today.from}&to=${today.to}&interval=15m`));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "The console is unreachable.");
    }
  }, [q, today.from, today.to]);
  const loadAlerts = useCallback(async () => {
    setAlerts((await get<{ items: Alert[] }>(`/api/followup/v1/alerts?${q}&limit=50`)).items);
  }, [q]);
  const loadFollowups = useCallback(async () => {
    setFollowups(await get(`/api/followup/v1/kpis/followups?${q}&from=${month.from}&to=${month.to}&interval=1d`));
  }, [q, month.from, month.to]);

  useEffect(() => {
    void loadBoard();
    void loadAlerts();
    void loadFollowups();
    const timer = setInterval(() => void loadBoard(), 5000); // the longest wait keeps growing
    return () => clearInterval(timer);
  }, [loadBoard, loadAlerts, loadFollowups]);
  const k = tick.kinds;
  const contactTick = k.contact ?? 0;
  const alertTick = (k.risk ?? 0) + (k.session ?? 0) + (k.followup ?? 0) + (k.security ?? 0);
  const followupTick = k.followup ?? 0;
  useDebounced(loadBoard, [contactTick, tick.resync]);
  useDebounced(loadAlerts, [alertTick, tick.resync]);
  useDebounced(loadFollowups, [followupTick, tick.resync]);

  const acknowledge = async (alert: Alert) => {
    await post(`/api/followup/v1/alerts/${alert.id}/acknowledge`);
    await loadAlerts();
  };
  const newestOpen = alerts?.find((a) => !a.acked_at);
  useKeys((event) => {
    if (event.altKey && event.code === "KeyA" && newestOpen) {
      event.preventDefault();
      void acknowledge(newestOpen);
    }
  });
  useImminentCue(alerts);

  const kpis = board?.today;
  const exportQuery = `${q}&from=${today.from}&to=${today.to}&interval=15m`;
  return (
    <section aria-labelledby="ops-title" className="operations">
      <div className="title-row">
        <h1 id="ops-title">Operations</h1>
        {me.centers.length > 1 && (
          <label className="inline">
            Center
            <select value={center} onChange={(e) => setCenter(e.target.value)}>
              {me.centers.map((c) => <option key={c}>{c}</option>)}
            </select>
          </label>
        )}
        <a className="button" href={`/bff/export/kpis.csv?${exportQuery}`} download>Export KPIs (CSV)</a>
        <a className="button" href={`/bff/export/followups.csv?${q}&from=${month.from}&to=${month.to}&interval=1d`} download>
          Export follow-up outcomes (CSV)
        </a>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      <ImminentBanner alerts={alerts} onAcknowledge={acknowledge} />
      <div className="board" data-testid="board">
        <Stat name="Waiting now" value={board ? String(board.waiting) : "…"} testid="waiting" />
        <Stat name="Longest wait" value={seconds(board?.longest_waiting_seconds)} testid="longest" />
        <Stat name="Counselors on contacts" value={board ? String(board.counselors_on_contacts) : "…"} testid="busy" />
        <Stat name="Offered today" value={kpis ? String(kpis.offered) : "…"} testid="offered" />
        <Stat name="Answered" value={kpis ? String(kpis.answered) : "…"} testid="answered" />
        <Stat name="Abandoned" value={kpis ? String(kpis.abandoned) : "…"} testid="abandoned" />
        <Stat name="Answer rate" value={percent(kpis?.answer_rate)} testid="answer-rate" />
        <Stat name="ASA" value={seconds(kpis?.average_speed_to_answer_seconds)} testid="asa" />
        <Stat name={`Service level (${kpis?.service_level_threshold_seconds ?? 20} s)`} value={percent(kpis?.service_level)} testid="service-level" />
        <Stat name="Abandonment" value={percent(kpis?.abandonment_rate)} testid="abandonment" />
      </div>
      <div className="ops-columns">
        <section className="card alerts" aria-labelledby="alerts-title">
          <h2 id="alerts-title">Alerts <kbd className="hint">Alt+A acknowledges the newest</kbd></h2>
          {alerts === null ? <p>Loading…</p> : alerts.length === 0 ? <p>No alerts.</p> : (
            <ol className="alert-list" data-testid="alerts">
              {alerts.map((a) => (
                <li key={a.id} data-alert-id={a.id} className={a.imminent && !a.acked_at ? "imminent" : undefined}>
                  <strong>{alertTitle(a)}</strong> <span className="hint">{time(a.at)}</span>
                  {a.contact_id && <span className="hint"> · contact {a.contact_id.slice(0, 8)}</span>}
                  {a.acked_at ? (
                    <span className="acked" data-testid="acked"> Acknowledged by {a.acked_by} at {time(a.acked_at)}</span>
                  ) : (
                    <button type="button" onClick={() => void acknowledge(a)}>Acknowledge</button>
                  )}
                  {a.oncall === "sent" && <span className="hint"> · sent to on-call</span>}
                </li>
              ))}
            </ol>
          )}
        </section>
        <section className="card charts" aria-label="Charts">
          {intervals && <ServiceChart intervals={intervals.intervals} />}
          {intervals && <RiskMixChart mix={intervals.risk_mix} />}
          {followups && <FunnelChart funnel={followups.funnel} />}
          {followups && <BreachesChart days={followups.sla_breaches} />}
        </section>
      </div>
    </section>
  );
}

function Stat({ name, value, testid }: { name: string; value: string; testid: string }) {
  return (
    <div className="stat">
      <span className="stat-name">{name}</span>
      <span className="stat-value" data-testid={`stat-${testid}`}>{value}</span>
    </div>
  );
}

const TITLES: Record<string, string> = {
  "hotline.risk.escalated.v1": "Imminent risk: escalation",
  "hotline.risk.assessed.v1": "High risk screen",
  "hotline.session.documentation-overdue.v1": "Documentation overdue",
  "hotline.followup.sla-at-risk.v1": "Follow-up SLA at risk",
  "hotline.followup.sla-breached.v1": "Follow-up SLA breached",
  "hotline.followup.missed.v1": "Follow-up missed",
  "hotline.followup.caring-reply-received.v1": "Reply to a caring message",
  "hotline.security.break-glass.v1": "Break-glass access",
  "hotline.security.phi-read-burst.v1": "Burst of caller-data reads",
};

function alertTitle(a: Alert): string {
  const base = TITLES[a.type] ?? label(a.type);
  const kind = a.detail.kind ? ` (${label(a.detail.kind)})` : "";
  return base + kind;
}

function ImminentBanner({ alerts, onAcknowledge }: { alerts: Alert[] | null; onAcknowledge: (a: Alert) => Promise<void> }) {
  const open = alerts?.filter((a) => a.imminent && !a.acked_at) ?? [];
  if (open.length === 0) return null;
  return (
    <div className="imminent-banner" role="alert" data-testid="imminent">
      <strong>Imminent risk — {open.length} escalation{open.length > 1 ? "s" : ""} not acknowledged.</strong>{" "}
      <button type="button" onClick={() => void onAcknowledge(open[0])}>Acknowledge the newest</button>
    </div>
  );
}

/** A short tone when a new imminent-risk alert arrives (Web Audio: nothing fetched). */
function useImminentCue(alerts: Alert[] | null): void {
  const heard = useRef<Set<string> | null>(null);
  useEffect(() => {
    if (!alerts) return;
    const open = alerts.filter((a) => a.imminent && !a.acked_at).map((a) => a.id);
    if (heard.current && open.some((id) => !heard.current?.has(id))) beep();
    heard.current = new Set(open);
  }, [alerts]);
}

function beep(): void {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.3);
  } catch {
    // no audio device: the banner is the cue
  }
}

/** Run `load` 300 ms after the last change of `deps` (a burst of events is one reload). */
function useDebounced(load: () => Promise<void>, deps: unknown[]): void {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const timer = setTimeout(() => void load(), 300);
    return () => clearTimeout(timer);
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps
}
