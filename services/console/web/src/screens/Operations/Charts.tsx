// What a supervisor would rather look at than read (recharts: SVG, no animation so what is
// drawn is what the KPI API said).
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from "recharts";
import type { Funnel, IntervalKpis } from "../../api";

const INK = "#1b1f24";
const BLUE = "#0b5cad";
const ORANGE = "#b45309";
const RED = "#a4161a";
const GREEN = "#1d6b35";
const GREY = "#4a5360";

function hhmm(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function ServiceChart({ intervals }: { intervals: IntervalKpis[] }) {
  const data = intervals.map((i) => ({ ...i, label: hhmm(i.start) }));
  return (
    <figure className="chart" data-testid="chart-service">
      <figcaption>Answer rate and service level by 15 minutes, today</figcaption>
      <LineChart width={620} height={240} data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
        <CartesianGrid stroke="#d0d7de" />
        <XAxis dataKey="label" stroke={INK} minTickGap={24} />
        <YAxis domain={[0, 1]} stroke={INK} tickFormatter={(v: number) => `${Math.round(v * 100)}%`} />
        <Tooltip />
        <Legend />
        <Line type="linear" dataKey="answer_rate" name="Answer rate" stroke={BLUE} isAnimationActive={false} connectNulls={false} />
        <Line type="linear" dataKey="service_level" name="Service level" stroke={ORANGE} isAnimationActive={false} connectNulls={false} />
      </LineChart>
    </figure>
  );
}

export function RiskMixChart({ mix }: { mix: Record<string, number> }) {
  const data = ["none", "low", "moderate", "high"].map((level) => ({ level, screens: mix[level] ?? 0 }));
  return (
    <figure className="chart" data-testid="chart-risk">
      <figcaption>Risk mix of today's screens</figcaption>
      <BarChart width={300} height={240} data={data}>
        <CartesianGrid stroke="#d0d7de" />
        <XAxis dataKey="level" stroke={INK} />
        <YAxis allowDecimals={false} stroke={INK} />
        <Tooltip />
        <Bar dataKey="screens" name="Screens" fill={RED} isAnimationActive={false} />
      </BarChart>
    </figure>
  );
}

export function FunnelChart({ funnel }: { funnel: Funnel }) {
  const data = Object.entries(funnel).map(([kind, f]) => ({ kind: kind.replace(/-/g, " "), ...f }));
  return (
    <figure className="chart" data-testid="chart-funnel">
      <figcaption>Follow-up funnel by kind, 30 days</figcaption>
      <BarChart width={620} height={260} data={data}>
        <CartesianGrid stroke="#d0d7de" />
        <XAxis dataKey="kind" stroke={INK} interval={0} fontSize={12} />
        <YAxis allowDecimals={false} stroke={INK} />
        <Tooltip />
        <Legend />
        <Bar dataKey="scheduled" name="Scheduled" fill={GREY} isAnimationActive={false} />
        <Bar dataKey="attempted" name="Attempted" fill={BLUE} isAnimationActive={false} />
        <Bar dataKey="reached" name="Reached" fill={GREEN} isAnimationActive={false} />
        <Bar dataKey="declined" name="Declined" fill={ORANGE} isAnimationActive={false} />
        <Bar dataKey="lost" name="Lost" fill={RED} isAnimationActive={false} />
      </BarChart>
    </figure>
  );
}

export function BreachesChart({ days }: { days: { start: string; breached: number }[] }) {
  const data = days.map((d) => ({ ...d, day: new Date(d.start).toLocaleDateString(undefined, { month: "short", day: "numeric" }) }));
  return (
    <figure className="chart" data-testid="chart-breaches">
      <figcaption>Follow-up SLA breaches per day, 30 days</figcaption>
      <BarChart width={620} height={220} data={data}>
        <CartesianGrid stroke="#d0d7de" />
        <XAxis dataKey="day" stroke={INK} minTickGap={16} />
        <YAxis allowDecimals={false} stroke={INK} />
        <Tooltip />
        <Bar dataKey="breached" name="Breaches" fill={RED} isAnimationActive={false} />
      </BarChart>
    </figure>
  );
}
