// The autosave queue of one document (a session's notes, or its safety plan).
//
// Every edit is written to IndexedDB at once (drafts.ts) and sent once typing pauses. One
// request is in flight at a time, always from the version the text was written on (If-Match):
// the service takes it, or says another version won (conflict: the counselor merges; nothing
// is overwritten), or cannot be reached (offline: kept, retried until it can).
import { deleteDraft, loadDraft, saveDraft } from "./drafts";

export type SaveState = "saved" | "pending" | "saving" | "offline" | "conflict" | "closed" | "rejected";

export type SendResult =
  | { kind: "saved"; version: number }
  | { kind: "conflict"; currentVersion: number }
  | { kind: "offline" }
  | { kind: "closed" }
  | { kind: "rejected"; message: string };

export interface AutosaveOptions<T> {
  key: string;
  send: (content: T, baseVersion: number) => Promise<SendResult>;
  onState?: (state: SaveState) => void;
  debounceMs?: number;
  retryMs?: number;
}

export class Autosave<T> {
  state: SaveState = "saved";
  base = 0;
  /** The server version another editor saved, while state is "conflict". */
  conflictVersion: number | null = null;
  /** Why the service refused the last save (state "rejected"), e.g. a field too long. */
  rejection: string | null = null;
  private content: T | undefined;
  private sending: T | undefined; // the request in flight, if any
  private dirty = false;
  private inFlight: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  private readonly debounceMs: number;
  private readonly retryMs: number;

  constructor(private readonly options: AutosaveOptions<T>) {
    this.debounceMs = options.debounceMs ?? 500;
    this.retryMs = options.retryMs ?? 1000;
  }

  /** What to show: an unsent draft of this document wins over the server's copy. */
  async restore(server: T, serverVersion: number): Promise<T> {
    const draft = await loadDraft<T>(this.options.key);
    this.base = serverVersion;
    if (!draft || !draft.pending || sameContent(draft.content, server)) {
      if (draft) await deleteDraft(this.options.key);
      this.content = server;
      this.setState("saved");
      return server;
    }
    this.content = draft.content;
    this.dirty = true;
    const ownSaveLanded =
      draft.sending !== undefined && serverVersion === draft.baseVersion + 1 && sameContent(draft.sending, server);
    if (draft.baseVersion === serverVersion || ownSaveLanded) {
      this.setState("pending");
      this.schedule(0);
    } else {
      this.conflictVersion = serverVersion; // someone saved since this text was written
      this.setState("conflict");
    }
    return draft.content;
  }

  /** A keystroke: kept in the browser now, sent when typing pauses. */
  async edit(content: T): Promise<void> {
    this.content = content;
    this.dirty = true;
    if (this.state === "saved" || this.state === "rejected") this.setState("pending");
    await this.keepDraft();
    if (this.state !== "conflict" && this.state !== "closed") this.schedule(this.debounceMs);
  }

  /** The counselor's merge of their text with the version saved elsewhere. */
  async resolve(merged: T, serverVersion: number): Promise<void> {
    this.content = merged;
    this.base = serverVersion;
    this.conflictVersion = null;
    this.dirty = true;
    this.setState("pending");
    await this.keepDraft();
    await this.flush();
  }

  /** The conflicting version may hold exactly our text (our own save landed, though its
   * answer was lost): then carry on from it, nothing to merge. True when it did. */
  async rebase(server: T, serverVersion: number): Promise<boolean> {
    if (this.state !== "conflict" || !sameContent(server, this.content)) return false;
    this.base = serverVersion;
    this.conflictVersion = null;
    this.dirty = false;
    await deleteDraft(this.options.key);
    if (sameContent(server, this.content)) {
      this.setState("saved");
    } else {
      this.dirty = true; // typed while the draft was being forgotten: keep it and send it
      await this.keepDraft();
      this.setState("pending");
      this.schedule(0);
    }
    return true;
  }

  /** Send now (what is pending), and wait for the answer. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    if (this.inFlight) {
      await this.inFlight;
      if (this.dirty && (this.state === "pending" || this.state === "saved")) return this.flush();
      return;
    }
    if (!this.dirty || this.disposed || this.state === "conflict" || this.state === "closed") return;
    const content = this.content as T;
    const base = this.base;
    this.dirty = false;
    this.setState("saving");
    this.inFlight = this.sendOnce(content, base);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
  }

  /** Retry now (the network came back). */
  retry(): void {
    if (this.state === "offline") void this.flush();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
  }

  private async sendOnce(content: T, base: number): Promise<void> {
    let result: SendResult;
    this.sending = content;
    await this.keepDraft(); // if the tab closes now, restore knows what was sent
    try {
      result = await this.options.send(content, base);
    } catch {
      result = { kind: "offline" };
    }
    this.sending = undefined;
    switch (result.kind) {
      case "saved":
        this.base = result.version;
        if (this.dirty) {
          await this.keepDraft(); // newer text, now on the new version
          this.setState("pending");
          this.schedule(0);
        } else {
          await deleteDraft(this.options.key);
          if (this.dirty) {
            await this.keepDraft(); // typed during the forgetting: not saved yet
            this.setState("pending");
            this.schedule(0);
          } else {
            this.setState("saved");
          }
        }
        return;
      case "conflict":
        this.dirty = true;
        this.conflictVersion = result.currentVersion;
        this.setState("conflict");
        return;
      case "offline":
        this.dirty = true;
        this.setState("offline");
        this.schedule(this.retryMs);
        return;
      case "closed":
        this.dirty = true; // the draft stays: the counselor can still add it as an addendum
        this.setState("closed");
        return;
      case "rejected":
        this.dirty = true; // kept; the next edit tries again
        this.rejection = result.message;
        this.setState("rejected");
        return;
    }
  }

  private async keepDraft(): Promise<void> {
    await saveDraft({
      key: this.options.key,
      content: this.content,
      baseVersion: this.base,
      pending: true,
      sending: this.sending,
      updatedAt: Date.now(),
    });
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (!this.disposed) this.timer = setTimeout(() => void this.flush(), ms);
  }

  private setState(state: SaveState): void {
    this.state = state;
    this.options.onState?.(state);
  }
}

function sameContent(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
