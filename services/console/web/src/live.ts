// The live feed (Server-Sent Events from the console). The browser reconnects by itself and
// names the last event it saw; a "resync" means the console could not replay: reload lists.
import { useEffect, useRef, useState } from "react";

export interface HotlineEvent {
  id: string;
  type: string;
  subject: string;
  centerid: string;
  time: string;
  data: Record<string, unknown>;
}

export type LiveState = "connecting" | "live" | "reconnecting";

export function useLiveFeed(onEvent: (event: HotlineEvent) => void, onResync: () => void): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const handlers = useRef({ onEvent, onResync });
  handlers.current = { onEvent, onResync };
  useEffect(() => {
    const source = new EventSource("/bff/events");
    source.onopen = () => setState("live");
    source.onerror = () => setState("reconnecting");
    source.addEventListener("hotline", (message) => {
      handlers.current.onEvent(JSON.parse((message as MessageEvent<string>).data) as HotlineEvent);
    });
    source.addEventListener("resync", () => handlers.current.onResync());
    return () => source.close();
  }, []);
  return state;
}
