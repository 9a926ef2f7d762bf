import "fake-indexeddb/auto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { Autosave, type SaveState, type SendResult } from "./autosave";
import { clearDrafts, loadDraft, saveDraft } from "./drafts";

type Doc = { text: string };

/** A fake sessions service: versions, conflicts, outages. */
class Server {
  version = 0;
  text = "";
  down = false;
  sent: { text: string; base: number }[] = [];
  async save(doc: Doc, base: number): Promise<SendResult> {
    this.sent.push({ text: doc.text, base });
    if (this.down) return { kind: "offline" };
    if (base !== this.version) return { kind: "conflict", currentVersion: this.version };
    this.version += 1;
    this.text = doc.text;
    return { kind: "saved", version: this.version };
  }
}

// Real timers, short delays (fake-indexeddb runs on the real ones); every wait is a
// condition with a deadline (vi.waitFor), never a sleep.
function queue(server: Server, states: SaveState[] = [], key = "s1:notes", debounceMs = 20) {
  return new Autosave<Doc>({ key, send: (d, b) => server.save(d, b), onState: (s) => states.push(s), debounceMs, retryMs: 20 });
}

const until = (check: () => void) => vi.waitFor(check, { timeout: 3000, interval: 5 });

describe("autosave queue", () => {
  beforeEach(async () => {
    await clearDrafts();
  });

  it("keeps every keystroke in IndexedDB before anything is sent", async () => {
    const server = new Server();
    const q = queue(server);
    await q.restore({ text: "" }, 0);
    await q.edit({ text: "h" });
    await q.edit({ text: "he" });
    expect(server.sent).toHaveLength(0);
    expect((await loadDraft<Doc>("s1:notes"))?.content).toEqual({ text: "he" });
  });

  it("sends once when typing pauses, and forgets the draft when saved", async () => {
    const server = new Server();
    const states: SaveState[] = [];
    const q = queue(server, states, "s1:notes", 300);
    await q.restore({ text: "" }, 0);
    for (const text of ["a", "ab", "abc"]) await q.edit({ text });
    await until(() => expect(q.state).toBe("saved"));
    expect(server.sent).toEqual([{ text: "abc", base: 0 }]);
    expect(q.state).toBe("saved");
    expect(states).toContain("saving");
    expect(await loadDraft("s1:notes")).toBeUndefined();
  });

  it("sends what was typed during a save on the new version", async () => {
    const server = new Server();
    const releases: (() => void)[] = [];
    const q = new Autosave<Doc>({
      key: "s1:notes",
      send: async (d, b) => {
        await new Promise<void>((r) => releases.push(r));
        return server.save(d, b);
      },
      debounceMs: 20,
    });
    await q.restore({ text: "" }, 0);
    await q.edit({ text: "one" });
    await until(() => expect(releases).toHaveLength(1)); // the first save is in flight
    await q.edit({ text: "one two" });
    releases[0]();
    await until(() => expect(releases).toHaveLength(2));
    releases[1]();
    await until(() => expect(q.state).toBe("saved"));
    expect(server.text).toBe("one two");
    expect(server.sent.map((s) => s.base)).toEqual([0, 1]);
    expect(q.state).toBe("saved");
  });

  it("keeps text through an outage and saves it when the service is back", async () => {
    const server = new Server();
    server.down = true;
    const q = queue(server);
    await q.restore({ text: "" }, 0);
    await q.edit({ text: "still here" });
    await until(() => expect(q.state).toBe("offline"));
    await q.edit({ text: "still here, and more" });
    server.down = false;
    await until(() => expect(q.state).toBe("saved"));
    expect(server.text).toBe("still here, and more");
  });

  it("stops at a conflict and overwrites nothing until the counselor merges", async () => {
    const server = new Server();
    const q = queue(server);
    await q.restore({ text: "" }, 0);
    server.version = 1; // another tab saved
    server.text = "theirs";
    await q.edit({ text: "mine" });
    await until(() => expect(q.state).toBe("conflict"));
    expect(q.conflictVersion).toBe(1);
    await q.edit({ text: "mine!" });
    await q.flush();
    expect(server.text).toBe("theirs");
    expect(server.sent).toHaveLength(1);
    await q.resolve({ text: "theirs\nmine!" }, 1);
    expect(server.text).toBe("theirs\nmine!");
    expect(q.state).toBe("saved");
  });

  it("restores an unsent draft after a reload and sends it", async () => {
    const server = new Server();
    const first = queue(server, [], "s1:notes", 60_000);
    await first.restore({ text: "" }, 0);
    await first.edit({ text: "typed before the reload" });
    first.dispose(); // the tab closed before the pause
    expect(server.sent).toHaveLength(0);
    const second = queue(server);
    expect(await second.restore({ text: "" }, 0)).toEqual({ text: "typed before the reload" });
    await until(() => expect(second.state).toBe("saved"));
    expect(server.text).toBe("typed before the reload");
  });

  it("does not mistake its own landed save for someone else's after a reload", async () => {
    const server = new Server();
    const first = new Autosave<Doc>({
      key: "s1:notes",
      send: async (d, b) => {
        await server.save(d, b); // the service has it...
        return new Promise<SendResult>(() => {}); // ...but the answer never arrives
      },
      debounceMs: 20,
    });
    await first.restore({ text: "" }, 0);
    await first.edit({ text: "sent" });
    await until(() => expect(server.version).toBe(1));
    await first.edit({ text: "sent, then more" });
    first.dispose();
    const second = queue(server);
    expect(await second.restore({ text: server.text }, server.version)).toEqual({ text: "sent, then more" });
    await until(() => expect(second.state).toBe("saved"));
    expect(server.text).toBe("sent, then more");
  });

  it("calls it a conflict when the text was written on a version someone else replaced", async () => {
    const server = new Server();
    const first = queue(server, [], "s1:notes", 60_000);
    await first.restore({ text: "" }, 0);
    await first.edit({ text: "offline text" });
    first.dispose();
    server.version = 3;
    server.text = "edited elsewhere";
    const second = queue(server);
    await second.restore({ text: "edited elsewhere" }, 3);
    expect(second.state).toBe("conflict");
  });

  it("carries on without a merge when the conflicting version is its own text", async () => {
    const server = new Server();
    const q = queue(server);
    await q.restore({ text: "" }, 0);
    server.version = 1; // our save landed; its answer was a 503
    server.text = "same";
    await q.edit({ text: "same" });
    await until(() => expect(q.state).toBe("conflict"));
    expect(await q.rebase({ text: "same" }, 1)).toBe(true);
    expect(q.state).toBe("saved");
    await q.edit({ text: "same, and more" });
    await until(() => expect(q.state).toBe("saved"));
    expect(server.text).toBe("same, and more");
    expect(server.version).toBe(2);
  });

  it("does not carry on from a version with other text", async () => {
    const server = new Server();
    const q = queue(server);
    await q.restore({ text: "" }, 0);
    server.version = 1;
    server.text = "theirs";
    await q.edit({ text: "mine" });
    await until(() => expect(q.state).toBe("conflict"));
    expect(await q.rebase({ text: "theirs" }, 1)).toBe(false);
    expect(q.state).toBe("conflict");
  });

  it("never says saved while an edit made during the save is unsent", async () => {
    const server = new Server();
    const q = queue(server);
    await q.restore({ text: "" }, 0);
    await q.edit({ text: "one" });
    const saving = q.flush();
    await q.edit({ text: "one two" }); // typed while the first save is on its way
    await saving;
    await q.flush();
    await until(() => expect(q.state).toBe("saved"));
    expect(server.text).toBe("one two");
  });

  it("keeps a keystroke written just before the page goes, before IndexedDB has it", () => {
    const draft = { key: "u:s9:notes", content: { text: "last key" }, baseVersion: 0, pending: true, updatedAt: Date.now() };
    void saveDraft(draft); // not awaited: the page is unloading
    expect(JSON.parse(window.localStorage.getItem("hotline-draft:u:s9:notes") ?? "null")).toEqual(draft);
  });
});
