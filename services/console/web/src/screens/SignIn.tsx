import { useEffect, useState, type FormEvent } from "react";
import { ApiError, get, post } from "../api";

interface Options {
  oidc: boolean;
  dev_login: boolean;
  centers: string[];
}

export function SignIn({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [options, setOptions] = useState<Options | null>(null);
  const [sub, setSub] = useState("");
  const [role, setRole] = useState("counselor");
  const [center, setCenter] = useState("");
  const [agentId, setAgentId] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void get<Options>("/bff/sign-in-options").then((o) => {
      setOptions(o);
      setCenter(o.centers[0] ?? "");
    });
  }, []);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await post("/bff/dev-login", {
        sub,
        role,
        center_id: center,
        agent_ids: agentId.split(/[\s,]+/).filter(Boolean),
      });
      await onSignedIn();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <main className="signin" id="main">
      <h1>hotline console</h1>
      {options?.oidc && (
        <p>
          <a className="button" href="/bff/login">
            Sign in with your organisation
          </a>
        </p>
      )}
      {options?.dev_login && (
        <form onSubmit={(e) => void submit(e)} aria-labelledby="dev-title">
          <h2 id="dev-title">Development sign-in</h2>
          <p className="hint">Only on a development stack (HOTLINE_DEV_LOGIN=1).</p>
          <label>
            User id
            <input name="sub" required value={sub} autoFocus onChange={(e) => setSub(e.target.value)} />
          </label>
          <label>
            Role
            <select name="role" value={role} onChange={(e) => setRole(e.target.value)}>
              <option value="counselor">Counselor</option>
              <option value="supervisor">Supervisor</option>
              <option value="admin">Admin</option>
            </select>
          </label>
          <label>
            Center
            <select name="center" value={center} onChange={(e) => setCenter(e.target.value)}>
              {options.centers.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
          <label>
            Telephony agent ids (optional, comma-separated)
            <input name="agent_id" value={agentId} onChange={(e) => setAgentId(e.target.value)} />
          </label>
          <button type="submit">Sign in</button>
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
        </form>
      )}
      {options && !options.oidc && !options.dev_login && (
        <p role="alert">No sign-in is configured (HOTLINE_OIDC_ISSUER and HOTLINE_OIDC_CLIENT_ID).</p>
      )}
    </main>
  );
}
