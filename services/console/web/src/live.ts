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
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let backoff = 1000;
    const connect = () => {
      source = new EventSource("/bff/events");
      source.onopen = () => {
        backoff = 1000;
        setState("live");
        handlers.current.onResync(); // (re)connected: reload lists, whatever came between
      };
      source.onerror = () => {
        setState("reconnecting");
        if (source?.readyState === EventSource.CLOSED) {
          // the browser gives up on an error answer (a 502 while a service restarts): we don't
          source = null;
          retry = setTimeout(connect, backoff);
          backoff = Math.min(backoff * 2, 30_000);
        }
      };
      source.addEventListener("hotline", (message) => {
        handlers.current.onEvent(JSON.parse((message as MessageEvent<string>).data) as HotlineEvent);
      });
      source.addEventListener("resync", () => handlers.current.onResync());
    };
    connect();
    return () => {
      clearTimeout(retry);
      source?.close();
    };
  }, []);
  return state;
}
