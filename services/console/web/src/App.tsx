import { useCallback, useEffect, useState } from "react";
import { ApiError, get, post, setCsrfToken, type Me } from "./api";
import { clearDrafts } from "./drafts";
import { useLiveFeed, type HotlineEvent } from "./live";
import { navigate, useRoute } from "./router";
import { isTyping, useKeys } from "./shortcuts";
import { ContactScreen } from "./screens/Contact/ContactScreen";
import { MyContacts } from "./screens/MyContacts";
import { ShortcutsHelp } from "./screens/ShortcutsHelp";
import { SignIn } from "./screens/SignIn";

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const load = useCallback(async () => {
    try {
      const who = await get<Me>("/bff/me");
      setCsrfToken(who.csrf_token);
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

/** What the feed last said, for screens to react to. */
export interface FeedTick {
  count: number;
  last: HotlineEvent | null;
  resync: number;
}

function Workspace({ me, onSignedOut }: { me: Me; onSignedOut: () => void }) {
  const route = useRoute();
  const [help, setHelp] = useState(false);
  const [tick, setTick] = useState<FeedTick>({ count: 0, last: null, resync: 0 });
  const live = useLiveFeed(
    (event) => setTick((t) => ({ ...t, count: t.count + 1, last: event })),
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
        {route.page === "contacts" ? (
          <MyContacts me={me} tick={tick} />
        ) : (
          <ContactScreen key={route.contactId} me={me} contactId={route.contactId} tick={tick} />
        )}
      </main>
      {help && <ShortcutsHelp onClose={() => setHelp(false)} />}
    </div>
  );
}
