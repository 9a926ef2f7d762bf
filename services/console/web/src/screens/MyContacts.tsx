import { useCallback, useEffect, useRef, useState } from "react";
import { get, type ContactSummary, type Me } from "../api";
import type { FeedTick } from "../App";
import { label, seconds, time } from "../format";
import { navigate } from "../router";
import { isTyping, useKeys } from "../shortcuts";

export function MyContacts({ me, tick }: { me: Me; tick: FeedTick }) {
  const [items, setItems] = useState<ContactSummary[] | null>(null);
  const [selected, setSelected] = useState(0);
  const rows = useRef<(HTMLAnchorElement | null)[]>([]);
  const load = useCallback(async () => {
    const pages = await Promise.all(
      me.centers.map((c) => get<{ items: ContactSummary[] }>(`/api/intake/v1/contacts?center_id=${encodeURIComponent(c)}`)),
    );
    setItems(pages.flatMap((p) => p.items));
  }, [me.centers]);
  const contactChanged = tick.kinds.contact ?? 0;
  useEffect(() => {
    void load();
  }, [load, tick.resync, contactChanged]);
  useKeys((event) => {
    if (isTyping(event.target) || !items?.length) return;
    if (event.key === "j" || event.key === "k") {
      const next = Math.min(items.length - 1, Math.max(0, selected + (event.key === "j" ? 1 : -1)));
      setSelected(next);
      rows.current[next]?.focus();
    }
  });
  return (
    <section aria-labelledby="mine-title">
      <h1 id="mine-title">My contacts</h1>
      {items === null ? (
        <p>Loading…</p>
      ) : items.length === 0 ? (
        <p className="empty">No contacts yet. A contact you answer appears here at once.</p>
      ) : (
        <table className="contacts" data-testid="my-contacts">
          <thead>
            <tr>
              <th scope="col">Contact</th>
              <th scope="col">Channel</th>
              <th scope="col">Status</th>
              <th scope="col">Waited</th>
              <th scope="col">Answered</th>
            </tr>
          </thead>
          <tbody>
            {items.map((c, i) => (
              <tr key={c.id} data-contact-id={c.id} className={i === selected ? "selected" : undefined}>
                <td>
                  <a
                    href={`/contacts/${c.id}`}
                    ref={(el) => {
                      rows.current[i] = el;
                    }}
                    onFocus={() => setSelected(i)}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/contacts/${c.id}`);
                    }}
                  >
                    {c.id.slice(0, 8)}
                  </a>
                </td>
                <td>{label(c.channel)}</td>
                <td>{label(c.status)}</td>
                <td>{seconds(c.wait_seconds)}</td>
                <td>{time(c.times.answered)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
