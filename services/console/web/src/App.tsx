import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import { ApiError, get, post, setCsrfToken, type Me } from "./api";
import { clearDrafts, forgetOtherUsers } from "./drafts";
import { useLiveFeed, type HotlineEvent } from "./live";
import { go, navigate, useRoute, type Route } from "./router";
import { isTyping, useKeys } from "./shortcuts";
import { ContactScreen } from "./screens/Contact/ContactScreen";
import { MyContacts } from "./screens/MyContacts";
import { ShortcutsHelp } from "./screens/ShortcutsHelp";
import { SignIn } from "./screens/SignIn";
import { CallView } from "./screens/Followups/CallView";
import { WorkQueue } from "./screens/Followups/WorkQueue";

// The supervisor's screens (with the charts) load only when a supervisor opens them.
const OperationsScreen = lazy(() => import("./screens/Operations/OperationsScreen"));
const SlaBoard = lazy(() => import("./screens/Sla/SlaBoard"));
const QualityScreen = lazy(() => import("./screens/Quality/QualityScreen"));

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const load = useCallback(async () => {
    try {
      const who = await get<Me>("/bff/me");
      setCsrfToken(who.csrf_token);
      await forgetOtherUsers(who.sub);
      setMe(who);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) setMe(null);
      else throw error;
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  if (me === undefined) return <p className="loading">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={load} />;
  return <Workspace me={me} onSignedOut={() => setMe(null)} />;
}

/** What the feed said, for screens to react to. Counters, not "the last event": two events
 * can arrive before React renders once, and a screen must not miss the first. */
export interface FeedTick {
  count: number;
  last: HotlineEvent | null;
  resync: number;
  /** events seen per kind ("contact", "risk", "session", "followup", "security") */
  kinds: Record<string, number>;
  /** events seen per subject (contact id) and per follow-up id */
  subjects: Record<string, number>;
}

const SUBJECTS_KEPT = 500;

function counted(tick: FeedTick, event: HotlineEvent): FeedTick {
  const kind = event.type.split(".")[1] ?? "other";
  const subjects = { ...tick.subjects };
  for (const key of [event.subject, event.data?.followup_id].filter((k): k is string => typeof k === "string")) {
    delete subjects[key]; // re-inserted last: the oldest keys go first
    subjects[key] = (tick.subjects[key] ?? 0) + 1;
  }
  const keys = Object.keys(subjects);
  for (const key of keys.slice(0, Math.max(0, keys.length - SUBJECTS_KEPT))) delete subjects[key];
  return { ...tick, count: tick.count + 1, last: event, kinds: { ...tick.kinds, [kind]: (tick.kinds[kind] ?? 0) + 1 }, subjects };
}

function Workspace({ me, onSignedOut }: { me: Me; onSignedOut: () => void }) {
  const route = useRoute();
  const supervisor = me.role !== "counselor";
  const [help, setHelp] = useState(false);
  const [tick, setTick] = useState<FeedTick>({ count: 0, last: null, resync: 0, kinds: {}, subjects: {} });
  const live = useLiveFeed(
    (event) => setTick((t) => counted(t, event)),
    () => setTick((t) => ({ ...t, resync: t.resync + 1 })),
  );
  useKeys((event) => {
    if (event.key === "?" && !isTyping(event.target)) {
      event.preventDefault();
      setHelp((shown) => !shown);
    } else if (event.key === "Escape" && help) {
      setHelp(false);
    } else if (event.altKey && event.code === "KeyC") {
      event.preventDefault();
      navigate("/");
    } else if (event.altKey && event.code === "KeyF") {
      event.preventDefault();
      navigate("/followups");
    } else if (event.altKey && event.code === "KeyO" && supervisor) {
      event.preventDefault();
      navigate("/operations");
    } else if (event.altKey && event.code === "KeyB" && supervisor) {
      event.preventDefault();
      navigate("/sla");
    }
  });
  const signOut = async () => {
    await post("/bff/logout");
    await clearDrafts();
    onSignedOut();
  };
  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href="/" onClick={(e) => { e.preventDefault(); navigate("/"); }}>
          hotline
        </a>
        <nav aria-label="Workspaces" className="nav">
          <NavLink route={route} page="contacts" path="/" label="My contacts" />
          <NavLink route={route} page="followups" path="/followups" label="Follow-ups" />
          {supervisor && <NavLink route={route} page="operations" path="/operations" label="Operations" />}
          {supervisor && <NavLink route={route} page="sla" path="/sla" label="SLA board" />}
          {supervisor && <NavLink route={route} page="quality" path="/quality" label="Quality" />}
        </nav>
        <span className="who">
          {me.sub} · {me.role} · {me.centers.join(", ")}
        </span>
        <span className={`live live-${live}`} role="status" aria-live="polite">
          {live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
        </span>
        <button type="button" className="link" onClick={() => setHelp(true)} aria-keyshortcuts="?">
          Shortcuts (?)
        </button>
        <button type="button" className="link" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        <Suspense fallback={<p>Loading…</p>}>
          {route.page === "contacts" && <MyContacts me={me} tick={tick} />}
          {route.page === "contact" && <ContactScreen key={route.contactId} me={me} contactId={route.contactId} tick={tick} />}
          {route.page === "followups" && <WorkQueue me={me} tick={tick} />}
          {route.page === "followup" && <CallView key={route.followupId} me={me} followupId={route.followupId} tick={tick} />}
          {route.page === "operations" && <OperationsScreen me={me} tick={tick} />}
          {route.page === "sla" && <SlaBoard me={me} tick={tick} />}
          {route.page === "quality" && <QualityScreen me={me} />}
        </Suspense>
      </main>
      {help && <ShortcutsHelp onClose={() => setHelp(false)} />}
    </div>
  );
}

function NavLink({ route, page, path, label }: { route: Route; page: Route["page"]; path: string; label: string }) {
  const current = route.page === page || (page === "contacts" && route.page === "contact") || (page === "followups" && route.page === "followup");
  return (
    <a href={path} aria-current={current ? "page" : undefined} onClick={(e) => go(e, path)}>
      {label}
    </a>
  );
}
