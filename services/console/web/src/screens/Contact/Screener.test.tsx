import "fake-indexeddb/auto";
import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { Screener } from "./Screener";

const press = (key: string) => act(() => void fireEvent.keyDown(window, { key }));
const items = () => [...document.querySelectorAll("li[data-item]")].map((li) => li.getAttribute("data-item"));
const level = () => screen.getByTestId("triaged-level").textContent;

describe("Screener component", () => {
  afterEach(cleanup);

  it("asks q3-q5 after a yes to q2 and shows the level at once", async () => {
    render(<Screener contactId="c-yes" onAssessed={() => {}} />);
    expect(items()).toEqual(["q1", "q2", "q6"]);
    press("y");
    press("y");
    expect(items()).toEqual(["q1", "q2", "q3", "q4", "q5", "q6"]);
    press("y"); // q3: method
    press("n");
    press("n");
    expect(level()).toContain("incomplete");
    press("n"); // q6
    expect(level()).toContain("moderate");
  });

  it("skips q3-q5 after a no to q2 and asks q6a after a yes to q6", () => {
    render(<Screener contactId="c-no" onAssessed={() => {}} />);
    press("y");
    press("n");
    press("y"); // q6
    expect(items()).toEqual(["q1", "q2", "q6", "q6a"]);
    press("y"); // within 3 months
    expect(level()).toContain("high");
  });

  it("offers only higher levels to raise to", () => {
    render(<Screener contactId="c-raise" onAssessed={() => {}} />);
    press("y");
    press("n");
    press("n");
    expect(level()).toContain("low");
    const options = [...screen.getByLabelText(/Raise the level/).querySelectorAll("option")].map((o) => o.value);
    expect(options).toEqual(["", "moderate", "high"]);
  });

  it("ignores y and n typed into a text field", () => {
    render(
      <>
        <input aria-label="note" />
        <Screener contactId="c-typing" onAssessed={() => {}} />
      </>,
    );
    act(() => void fireEvent.keyDown(screen.getByLabelText("note"), { key: "y" }));
    expect(document.querySelector("li.current")?.getAttribute("data-item")).toBe("q1");
  });
});
