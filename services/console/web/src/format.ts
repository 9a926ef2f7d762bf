export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const s = Math.max(0, Math.round(value));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function time(value: string | undefined): string {
  if (!value) return "—";
  return new Date(value).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

export function label(value: string | null | undefined): string {
  return value ? value.replace(/[-_]/g, " ") : "—";
}
