export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const s = Math.max(0, Math.round(value));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function time(value: string | undefined | null): string {
  if (!value) return "—";
  return new Date(value).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

export function label(value: string | null | undefined): string {
  return value ? value.replace(/[-_]/g, " ") : "—";
}

export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${Math.round(value * 1000) / 10} %`;
}

/** Local midnight today, as an ISO string with its offset (what the KPI APIs take). */
export function startOfDay(daysAgo = 0): Date {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  d.setDate(d.getDate() - daysAgo);
  return d;
}

export function iso(date: Date): string {
  return date.toISOString();
}
