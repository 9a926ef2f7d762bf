// Two kinds of page: "/" (my contacts) and "/contacts/<id>". History API, no library.
import { useEffect, useState } from "react";

export type Route = { page: "contacts" } | { page: "contact"; contactId: string };

export function parse(path: string): Route {
  const match = /^\/contacts\/([^/]+)$/.exec(path);
  return match ? { page: "contact", contactId: decodeURIComponent(match[1]) } : { page: "contacts" };
}

export function navigate(path: string): void {
  window.history.pushState(null, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(parse(window.location.pathname));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  return route;
}
