import { useEffect, useRef, useState } from "react";
import { ApiError, post, put, RISK_LEVELS, type RiskLevel } from "../../api";
import { answer, asked, nextQuestion, QUESTIONS, triage, type Answers } from "../../cssrs";
import { loadDraft, saveDraft, deleteDraft } from "../../drafts";
import { isTyping, useKeys } from "../../shortcuts";

interface Saved {
  id: string;
  status: "complete" | "incomplete";
  level: RiskLevel | null;
}

/** The C-SSRS Screener: y/n answers the current question; the level shows at once. */
export function Screener({ contactId, onAssessed, draftKey }: { contactId: string; onAssessed: () => void; draftKey?: string }) {
  const key = draftKey ?? `${contactId}:screening`;
  const [answers, setAnswers] = useState<Answers>({});
  const [screeningId, setScreeningId] = useState<string | null>(null);
  const [raise, setRaise] = useState<RiskLevel | "">("");
  const [reason, setReason] = useState("");
  const [result, setResult] = useState<Saved | null>(null);
  const [error, setError] = useState<string | null>(null);
  const idempotencyKey = useRef(crypto.randomUUID());
  const raiseSelect = useRef<HTMLSelectElement>(null);
  const current = nextQuestion(answers);
  const level = triage(answers);

  useEffect(() => {
    void loadDraft<{ answers: Answers; screeningId: string | null }>(key).then((draft) => {
      if (draft?.pending) {
        setAnswers(draft.content.answers);
        setScreeningId(draft.content.screeningId);
      }
    });
  }, [key]);
  const keep = (next: Answers, id = screeningId) => {
    setAnswers(next);
    void saveDraft({ key, content: { answers: next, screeningId: id }, baseVersion: 0, pending: true, updatedAt: Date.now() });
  };
  const reply = (value: boolean) => current && keep(answer(answers, current, value));

  const submit = async (complete: boolean) => {
    setError(null);
    const body = {
      answers,
      complete,
      override: complete && raise ? { level: raise, reason } : undefined,
    };
    try {
      const saved = screeningId
        ? await put<Saved>(`/api/intake/v1/contacts/${contactId}/screenings/${screeningId}`, body)
        : await post<Saved>(`/api/intake/v1/contacts/${contactId}/screenings`, body, {
            "Idempotency-Key": idempotencyKey.current,
          });
      setResult(saved);
      if (saved.status === "incomplete") {
        setScreeningId(saved.id);
        keep(answers, saved.id);
      } else {
        await deleteDraft(key);
        onAssessed();
      }
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Not saved: the network is down. Try again.");
    }
  };

  useKeys((event) => {
    if (event.altKey && event.code === "KeyR") {
      event.preventDefault();
      raiseSelect.current?.focus();
    } else if (event.altKey && event.code === "KeyI") {
      event.preventDefault();
      void submit(false);
    } else if (event.altKey && event.key === "Enter" && level) {
      event.preventDefault();
      void submit(true);
    } else if (!event.altKey && !event.ctrlKey && !isTyping(event.target) && (event.key === "y" || event.key === "n")) {
      if (result?.status === "complete") return;
      event.preventDefault();
      reply(event.key === "y");
    }
  });

  if (result?.status === "complete") {
    return (
      <p className="assessed" data-testid="screen-result">
        Screen saved. Risk level: <strong className={`risk risk-${result.level}`}>{result.level}</strong>
      </p>
    );
  }
  const higher = RISK_LEVELS.filter((l) => level && RISK_LEVELS.indexOf(l) > RISK_LEVELS.indexOf(level));
  return (
    <div className="screener">
      <ol className="questions">
        {asked(answers).map((item) => (
          <li key={item} className={item === current ? "current" : undefined} data-item={item}>
            <span className="question">{QUESTIONS[item]}</span>
            {answers[item] !== undefined ? (
              <span className="answer">
                {answers[item] ? "Yes" : "No"}{" "}
                <button type="button" className="link" onClick={() => keep(answer(answers, item, !answers[item]))}>
                  change to {answers[item] ? "no" : "yes"}
                </button>
              </span>
            ) : item === current ? (
              <span className="answer-buttons">
                <button type="button" onClick={() => reply(true)} aria-keyshortcuts="y">
                  Yes (y)
                </button>
                <button type="button" onClick={() => reply(false)} aria-keyshortcuts="n">
                  No (n)
                </button>
              </span>
            ) : null}
          </li>
        ))}
      </ol>
      <p className="triaged" role="status" aria-live="polite" data-testid="triaged-level">
        Triaged level: <strong className={`risk risk-${level ?? "pending"}`}>{level ?? "— (incomplete)"}</strong>
      </p>
      {level && higher.length > 0 && (
        <div className="raise">
          <label>
            Raise the level (Alt+R)
            <select ref={raiseSelect} value={raise} onChange={(e) => setRaise(e.target.value as RiskLevel | "")}>
              <option value="">Keep {level}</option>
              {higher.map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </label>
          {raise && (
            <label>
              Reason for raising
              <input value={reason} required minLength={3} onChange={(e) => setReason(e.target.value)} />
            </label>
          )}
        </div>
      )}
      <div className="actions">
        <button type="button" onClick={() => void submit(false)} aria-keyshortcuts="Alt+I">
          Save incomplete (Alt+I)
        </button>
        <button type="button" disabled={!level || (raise !== "" && reason.trim().length < 3)} onClick={() => void submit(true)} aria-keyshortcuts="Alt+Enter">
          Submit screen (Alt+Enter)
        </button>
      </div>
      {result?.status === "incomplete" && <p role="status">Incomplete screen saved.</p>}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
