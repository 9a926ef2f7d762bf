import { describe, expect, it } from "vitest";
import { answer, asked, nextQuestion, triage, type Answers, type Item } from "./cssrs";

/** Every answer set the skip logic can produce, walked question by question. */
function allCompleteScreens(): Answers[] {
  const done: Answers[] = [];
  const walk = (answers: Answers) => {
    const next = nextQuestion(answers);
    if (next === null) return void done.push(answers);
    walk(answer(answers, next, true));
    walk(answer(answers, next, false));
  };
  walk({});
  return done;
}

describe("C-SSRS screener skip logic", () => {
  it("asks q1, q2, q6 when q2 is no", () => {
    expect(asked({ q1: true, q2: false })).toEqual(["q1", "q2", "q6"]);
  });

  it("asks q3 to q5 only after q2 yes, and q6a only after q6 yes", () => {
    expect(asked({ q2: true, q6: true })).toEqual(["q1", "q2", "q3", "q4", "q5", "q6", "q6a"]);
  });

  it("drops q3 to q5 when q2 is changed to no", () => {
    const before: Answers = { q1: true, q2: true, q3: true, q4: true, q5: false };
    expect(answer(before, "q2", false)).toEqual({ q1: true, q2: false });
  });

  it("drops q6a when q6 is changed to no", () => {
    expect(answer({ q1: false, q2: false, q6: true, q6a: true }, "q6", false)).toEqual({ q1: false, q2: false, q6: false });
  });

  it("has no level until the screen is complete", () => {
    expect(triage({ q1: true, q2: true, q3: true })).toBeNull();
    expect(nextQuestion({ q1: true, q2: true, q3: true })).toBe("q4");
  });

  it("triages every complete screen as the clinical rule says", () => {
    const screens = allCompleteScreens();
    for (const a of screens) {
      const expected =
        a.q4 || a.q5 || (a.q6 && a.q6a) ? "high" : a.q3 || (a.q6 && a.q6a === false) ? "moderate" : a.q1 || a.q2 ? "low" : "none";
      expect(triage(a), JSON.stringify(a)).toBe(expected);
      const items = Object.keys(a) as Item[];
      expect(items.sort()).toEqual(asked(a).sort()); // nothing answered that is not asked
    }
  });

  it("enumerates 54 distinct complete screens", () => {
    // q1 (2) × [q2 no (1) + q2 yes × q3..q5 (8)] × [q6 no (1) + q6 yes × q6a (2)] = 2 × 9 × 3
    expect(new Set(allCompleteScreens().map((a) => JSON.stringify(a))).size).toBe(54);
  });

  it("rates the examples of the reference", () => {
    expect(triage({ q1: false, q2: false, q6: false })).toBe("none");
    expect(triage({ q1: true, q2: false, q6: false })).toBe("low");
    expect(triage({ q1: true, q2: true, q3: true, q4: false, q5: false, q6: false })).toBe("moderate");
    expect(triage({ q1: true, q2: true, q3: false, q4: true, q5: false, q6: false })).toBe("high");
    expect(triage({ q1: false, q2: false, q6: true, q6a: false })).toBe("moderate");
    expect(triage({ q1: false, q2: false, q6: true, q6a: true })).toBe("high");
  });
});
