// Unsent text lives here (IndexedDB) from the keystroke that typed it until the service
// has it: a reload, a closed tab, an outage or a service restart loses nothing.
import { openDB, type IDBPDatabase } from "idb";

export interface Draft<T = unknown> {
  key: string; // `${user}:${sessionId}:${kind}`: a draft is its author's, never another's
  content: T;
  baseVersion: number; // the server version this text was written on
  pending: boolean; // not yet accepted by the service
  sending?: T; // what was sent from baseVersion and not yet answered (the tab may close)
  updatedAt: number;
}

const DB = "hotline-console";
const STORE = "drafts";
let opened: Promise<IDBPDatabase> | null = null;

function db(): Promise<IDBPDatabase> {
  opened ??= openDB(DB, 1, {
    upgrade(database) {
      database.createObjectStore(STORE, { keyPath: "key" });
    },
  });
  return opened;
}

// IndexedDB writes are asynchronous: a reload one millisecond after a keystroke can drop its
// write. So each draft is first copied, synchronously, to localStorage (write-ahead); the
// newer of the two copies is the draft.
const AHEAD = "hotline-draft:";

function ahead<T>(key: string): Draft<T> | undefined {
  try {
    const raw = window.localStorage.getItem(AHEAD + key);
    return raw ? (JSON.parse(raw) as Draft<T>) : undefined;
  } catch {
    return undefined;
  }
}

function forgetAhead(match: (key: string) => boolean): void {
  for (const name of Object.keys(window.localStorage)) {
    if (name.startsWith(AHEAD) && match(name.slice(AHEAD.length))) window.localStorage.removeItem(name);
  }
}

export async function loadDraft<T>(key: string): Promise<Draft<T> | undefined> {
  const stored = (await (await db()).get(STORE, key)) as Draft<T> | undefined;
  const copy = ahead<T>(key);
  return copy && (!stored || copy.updatedAt >= stored.updatedAt) ? copy : stored;
}

export async function saveDraft<T>(draft: Draft<T>): Promise<void> {
  try {
    window.localStorage.setItem(AHEAD + draft.key, JSON.stringify(draft));
  } catch {
    // storage full or unavailable: IndexedDB still has it once the write below lands
  }
  await (await db()).put(STORE, draft);
}

export async function deleteDraft(key: string): Promise<void> {
  forgetAhead((k) => k === key);
  await (await db()).delete(STORE, key);
}

export async function pendingDrafts(): Promise<Draft[]> {
  return ((await (await db()).getAll(STORE)) as Draft[]).filter((d) => d.pending);
}

/** Forget the drafts of every other user (a new sign-in on a shared machine: another
 * counselor's unsent notes are neither shown nor sent under this user's name). */
export async function forgetOtherUsers(user: string): Promise<void> {
  forgetAhead((k) => !k.startsWith(`${user}:`));
  const database = await db();
  for (const key of (await database.getAllKeys(STORE)) as string[]) {
    if (!key.startsWith(`${user}:`)) await database.delete(STORE, key);
  }
}

/** Forget every draft (sign-out on a shared machine: nothing of a caller stays behind). */
export async function clearDrafts(): Promise<void> {
  forgetAhead(() => true);
  await (await db()).clear(STORE);
}

/** For tests: a fresh database handle. */
export function resetDraftsConnection(): void {
  opened = null;
}
