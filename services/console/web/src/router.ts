// The pages, by path. History API, no library.
import { useEffect, useState } from "react";

export type Route =
  | { page: "contacts" }
  | { page: "contact"; contactId: string }
  | { page: "followups" }
  | { page: "followup"; followupId: string }
  | { page: "operations" }
  | { page: "sla" }
  | { page: "quality" };

export function parse(path: string): Route {
  let match = /^\/contacts\/([^/]+)$/.exec(path);
  if (match) return { page: "contact", contactId: decodeURIComponent(match[1]) };
  match = /^\/followups\/([^/]+)$/.exec(path);
  if (match) return { page: "followup", followupId: decodeURIComponent(match[1]) };
  if (path === "/followups") return { page: "followups" };
  if (path === "/operations") return { page: "operations" };
  if (path === "/sla") return { page: "sla" };
  if (path === "/quality") return { page: "quality" };
  return { page: "contacts" };
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

/** A link that navigates in the app (and still opens in a new tab with a modifier). */
export function go(event: { preventDefault: () => void; ctrlKey?: boolean; metaKey?: boolean }, path: string): void {
  if (event.ctrlKey || event.metaKey) return;
  event.preventDefault();
  navigate(path);
}
