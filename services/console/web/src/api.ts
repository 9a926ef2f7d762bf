// The one client of the console's backend: same-origin fetch with the session cookie, the
// CSRF token on every unsafe request, problem+json errors as ApiError.

export interface Problem {
  status: number;
  title: string;
  detail?: string;
  errors?: { field: string; message: string }[];
  current_version?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
  }
  /** The service behind the console is down or restarting: try again later. */
  get unavailable(): boolean {
    return this.status === 502 || this.status === 503 || this.status === 504;
  }
}

/** The network is down (fetch itself failed). */
export class Offline extends Error {}

let csrfToken = "";
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const sent: Record<string, string> = { Accept: "application/json", ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  if (method !== "GET") sent["X-CSRF-Token"] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (error) {
    throw new Offline(String(error));
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const problem = (parsed as Problem) ?? { status: response.status, title: response.statusText };
    throw new ApiError(response.status, { ...problem, status: response.status });
  }
  return parsed as T;
}

export const get = <T>(path: string, headers?: Record<string, string>) =>
  request<T>("GET", path, undefined, headers);
export const post = <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
  request<T>("POST", path, body ?? {}, headers);
export const put = <T>(path: string, body: unknown, headers?: Record<string, string>) =>
  request<T>("PUT", path, body, headers);

// ---- the shapes the services answer with ------------------------------------------------

export type Role = "counselor" | "supervisor" | "admin";
export type RiskLevel = "none" | "low" | "moderate" | "high";
export const RISK_LEVELS: RiskLevel[] = ["none", "low", "moderate", "high"];

export interface Me {
  sub: string;
  role: Role;
  centers: string[];
  agent_ids: string[];
  csrf_token: string;
}

export interface ContactSummary {
  id: string;
  center_id: string;
  channel: string;
  status: string | null;
  wait_seconds: number | null;
  times: Record<string, string>;
}

export interface Escalation {
  id: string;
  reason: string;
  actions: string[];
  escalated_at: string;
  ems: { reached: boolean; confirmed_at: string } | null;
}

export interface Contact {
  id: string;
  center_id: string;
  channel: string;
  status: string | null;
  caller_reachable: boolean;
  wait_seconds: number | null;
  times: Record<string, string>;
  risk: { level: RiskLevel; assessed_at: string } | null;
  escalations: Escalation[];
}

export interface Session {
  id: string;
  contact_id: string;
  status: "open" | "closed";
  version: number;
  notes: Record<string, unknown> | null;
  safety_plan_version: number;
  safety_plan: Record<string, unknown> | null;
  close: Record<string, unknown> | null;
  review?: { scores: Record<string, number>; comments: string; by: string; at: string } | null;
}

export interface History {
  previous_contacts: (ContactSummary & { risk: { level: RiskLevel; assessed_at: string } | null })[];
  last_risk: { level: RiskLevel; assessed_at: string } | null;
  last_safety_plan: { session_id: string | null; opened_at?: string; safety_plan: Record<string, string[] | string> | null };
  open_followups: { id: string; kind: string; status: string; due_at: string }[];
}

export interface OperationsKpis {
  offered: number;
  answered: number;
  abandoned: number;
  answer_rate: number | null;
  abandonment_rate: number | null;
  average_speed_to_answer_seconds: number | null;
  service_level: number | null;
  service_level_threshold_seconds: number;
}

export interface LiveBoard {
  at: string;
  waiting: number;
  longest_waiting_seconds: number | null;
  counselors_on_contacts: number;
  today: OperationsKpis;
}

export interface IntervalKpis {
  start: string;
  offered: number;
  answered: number;
  abandoned: number;
  answer_rate: number | null;
  service_level: number | null;
  average_speed_to_answer_seconds: number | null;
}

export interface Alert {
  id: string;
  type: string;
  contact_id: string | null;
  at: string;
  imminent: boolean;
  detail: Record<string, string>;
  acked_by: string | null;
  acked_at: string | null;
  oncall: string | null;
}

export interface Task {
  id: string;
  contact_id: string;
  center_id: string;
  kind: string;
  status: string;
  due_at: string;
  sla_state: string;
  attempts: number;
  max_attempts: number | null;
  claimed_by: string | null;
  claim_until: string | null;
  attempt_log?: { n: number; outcome: string; at: string; by: string | null }[];
}

export type Funnel = Record<string, { scheduled: number; attempted: number; reached: number; declined: number; lost: number }>;
