import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError, get, type Contact, type Me, type Session } from "../../api";
import type { FeedTick } from "../../App";
import { label, seconds } from "../../format";
import { useKeys } from "../../shortcuts";
import { CloseForm } from "./CloseForm";
import { ConflictDialog } from "./ConflictDialog";
import { differences, notesFrom, planBody, planText, sendVersion, useAutosaved, type Notes, type PlanText } from "./documents";
import { Escalations } from "./Escalations";
import { HistoryPanel } from "./HistoryPanel";
import { NotesForm } from "./NotesForm";
import { SafetyPlanForm } from "./SafetyPlanForm";
import { SaveIndicator } from "./SaveIndicator";
import { Screener } from "./Screener";

type SectionId = "screen" | "notes" | "plan" | "close" | "history";
const SECTION_KEYS: Record<string, SectionId> = { Digit1: "screen", Digit2: "notes", Digit3: "plan", Digit4: "close", KeyH: "history" };

export function ContactScreen({ me, contactId, tick }: { me: Me; contactId: string; tick: FeedTick }) {
  const [contact, setContact] = useState<Contact | null>(null);
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const headings = useRef<Partial<Record<SectionId, HTMLHeadingElement | null>>>({});

  const loadContact = useCallback(async () => {
    try {
      setContact(await get<Contact>(`/api/intake/v1/contacts/${contactId}`));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Cannot reach the console.");
    }
  }, [contactId]);
  const loadSession = useCallback(async () => {
    const page = await get<{ items: Session[] }>(`/api/sessions/v1/sessions?contact_id=${contactId}`).catch(() => null);
    const mine = page?.items.filter((s) => s.status === "open").at(-1) ?? page?.items.at(-1);
    if (mine) setSession((current) => current ?? mine);
  }, [contactId]);
  useEffect(() => {
    void loadContact();
    void loadSession();
  }, [loadContact, loadSession]);
  const concernsMe = tick.subjects[contactId] ?? 0;
  useEffect(() => {
    if (concernsMe === 0) return;
    void loadContact();
    void loadSession();
  }, [concernsMe, loadContact, loadSession]);

  useKeys((event) => {
    const section = event.altKey ? SECTION_KEYS[event.code] : undefined;
    if (section) {
      event.preventDefault();
      headings.current[section]?.scrollIntoView({ block: "start" });
      headings.current[section]?.focus();
    }
  });

  if (error) return <p role="alert" className="error">{error}</p>;
  if (!contact) return <p>Loading contact…</p>;
  const heading = (id: SectionId, text: string, shortcut: string) => (
    <h2 id={`section-${id}`} tabIndex={-1} ref={(el) => { headings.current[id] = el; }}>
      {text} <kbd className="hint">{shortcut}</kbd>
    </h2>
  );
  return (
    <article className="contact" aria-labelledby="contact-title" data-contact-id={contact.id}>
      <header className="contact-head">
        <h1 id="contact-title">Contact {contact.id.slice(0, 8)}</h1>
        <dl className="facts">
          <div><dt>Channel</dt><dd>{label(contact.channel)}</dd></div>
          <div><dt>Status</dt><dd>{label(contact.status)}</dd></div>
          <div><dt>Waited</dt><dd>{seconds(contact.wait_seconds)}</dd></div>
          <div>
            <dt>Risk</dt>
            <dd data-testid="contact-risk"><strong className={`risk risk-${contact.risk?.level ?? "pending"}`}>{contact.risk?.level ?? "not screened"}</strong></dd>
          </div>
        </dl>
      </header>
      <div className="columns">
        <div className="work">
          <Section heading={heading("screen", "Screen (C-SSRS)", "Alt+1")} id="screen">
            <Screener draftKey={`${me.sub}:${contact.id}:screening`} contactId={contact.id} onAssessed={() => void loadContact()} />
          </Section>
          <Section heading={<h2 className="sr-only">Escalation</h2>} id="escalate">
            <Escalations contactId={contact.id} escalations={contact.escalations} onChanged={() => void loadContact()} />
          </Section>
          {session ? (
            <Documents me={me} contact={contact} session={session} headings={heading} onClosed={() => {
              setSession(null);
              void loadSession();
            }} />
          ) : (
            <p role="status">Opening the session…</p>
          )}
        </div>
        <aside className="side" aria-labelledby="section-history">
          {heading("history", "Caller history", "Alt+H")}
          <HistoryPanel contactId={contact.id} />
        </aside>
      </div>
    </article>
  );
}

function Section({ heading, id, children }: { heading: ReactNode; id: string; children: ReactNode }) {
  return (
    <section className="card" data-section={id}>
      {heading}
      {children}
    </section>
  );
}

function Documents({ me, contact, session, headings, onClosed }: {
  me: Me; contact: Contact; session: Session;
  headings: (id: SectionId, text: string, shortcut: string) => ReactNode; onClosed: () => void;
}) {
  const base = `/api/sessions/v1/sessions/${session.id}`;
  const closed = session.status === "closed";
  const notes = useAutosaved<Notes>(`${me.sub}:${session.id}:notes`,
    (content, version) => sendVersion(`${base}/notes`, content, version, "version"),
    notesFrom(session.notes), session.version);
  const plan = useAutosaved<PlanText>(`${me.sub}:${session.id}:safety-plan`,
    (content, version) => sendVersion(`${base}/safety-plan`, planBody(content), version, "safety_plan_version"),
    planText(session.safety_plan), session.safety_plan_version);
  const [theirs, setTheirs] = useState<{ notes?: [Notes, number]; plan?: [PlanText, number] }>({});

  useEffect(() => {
    if (notes.state !== "conflict" && plan.state !== "conflict") return;
    void get<Session>(base).then((fresh) => {
      const serverNotes = notesFrom(fresh.notes);
      const serverPlan = planText(fresh.safety_plan);
      // the "other" version is ours (a save that landed though its answer did not): no dialog
      if (notes.state === "conflict") void notes.queue.current?.rebase(serverNotes, fresh.version);
      if (plan.state === "conflict") void plan.queue.current?.rebase(serverPlan, fresh.safety_plan_version);
      setTheirs({
        notes: notes.state === "conflict" ? [serverNotes, fresh.version] : undefined,
        plan: plan.state === "conflict" ? [serverPlan, fresh.safety_plan_version] : undefined,
      });
    });
  }, [notes.state, plan.state, base]);
  useKeys((event) => {
    if (event.altKey && event.code === "KeyS") {
      event.preventDefault();
      void notes.queue.current?.flush();
      void plan.queue.current?.flush();
    }
  });
  const flushAll = async () => {
    await Promise.all([notes.queue.current?.flush(), plan.queue.current?.flush()]);
    if (notes.queue.current?.state !== "saved" || plan.queue.current?.state !== "saved") {
      throw new Error("Notes or safety plan not saved yet");
    }
  };
  return (
    <>
      <section className="card" data-section="notes">
        {headings("notes", "Notes", "Alt+2")}
        <SaveIndicator state={notes.state} what="Notes" />
        {notes.queue.current?.rejection && notes.state === "rejected" && <p role="alert" className="error">{notes.queue.current.rejection}</p>}
        {notes.content && <NotesForm notes={notes.content} onChange={notes.edit} readOnly={closed} />}
      </section>
      <section className="card" data-section="plan">
        {headings("plan", "Safety plan (Stanley-Brown)", "Alt+3")}
        <SaveIndicator state={plan.state} what="Safety plan" />
        {plan.content && <SafetyPlanForm plan={plan.content} onChange={plan.edit} readOnly={closed} />}
      </section>
      <section className="card" data-section="close">
        {headings("close", "Close the session", "Alt+4")}
        {closed ? (
          <>
            <p data-testid="closed">This session is closed{session.close ? ` (${label(String(session.close.disposition))})` : ""}.</p>
            {session.review && (
              <div className="review" data-testid="my-review">
                <h3>Quality review by {session.review.by}</h3>
                <p>{Object.entries(session.review.scores).map(([step, n]) => `${label(step)} ${n}/5`).join(" · ")}</p>
                {session.review.comments && <p>{session.review.comments}</p>}
              </div>
            )}
          </>
        ) : (
          <CloseForm me={me} contact={contact} sessionId={session.id} beforeClose={flushAll} onClosed={onClosed} />
        )}
      </section>
      {theirs.notes && notes.content && notes.state === "conflict" && differences(notes.content, theirs.notes[0]).length > 0 && (
        <ConflictDialog title="Notes" mine={notes.content} theirs={theirs.notes[0]} onMerged={(merged) => {
          const version = theirs.notes![1];
          setTheirs((t) => ({ ...t, notes: undefined }));
          notes.setContent(merged);
          void notes.queue.current?.resolve(merged, version);
        }} />
      )}
      {theirs.plan && plan.content && plan.state === "conflict" && differences(plan.content, theirs.plan[0]).length > 0 && (
        <ConflictDialog title="Safety plan" mine={plan.content} theirs={theirs.plan[0]} onMerged={(merged) => {
          const version = theirs.plan![1];
          setTheirs((t) => ({ ...t, plan: undefined }));
          plan.setContent(merged);
          void plan.queue.current?.resolve(merged, version);
        }} />
      )}
    </>
  );
}
