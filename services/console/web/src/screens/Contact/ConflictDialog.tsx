import { useEffect, useRef, useState } from "react";
import { combinable, differences, merge, type Choice } from "./documents";

interface Props<T> {
  title: string;
  mine: T;
  theirs: T;
  onMerged: (merged: T) => void;
}

/** Another editor saved this document: both versions side by side, field by field. Nothing
 * is dropped unless the counselor chooses so ("both" is the default). */
export function ConflictDialog<T>({ title, mine, theirs, onMerged }: Props<T>) {
  const [choices, setChoices] = useState(new Map<string, Choice>());
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => first.current?.focus(), []);
  const leaves = differences(mine, theirs);
  const choose = (path: string, choice: Choice) => setChoices(new Map(choices).set(path, choice));
  // a yes/no or a number cannot be "both": the counselor picks one
  const undecided = leaves.filter((l) => !combinable(l) && !choices.has(l.path.join(".")));
  return (
    <div className="backdrop">
      <div className="dialog wide" role="dialog" aria-modal="true" aria-labelledby="conflict-title" data-testid="conflict">
        <h2 id="conflict-title">{title} was changed elsewhere</h2>
        <p>Choose for each field. Keeping both puts the other version first, then yours.</p>
        {leaves.map((leaf) => {
          const path = leaf.path.join(".");
          const choice = choices.get(path) ?? (combinable(leaf) ? "both" : undefined);
          return (
            <fieldset key={path} className="conflict-field">
              <legend>{path.replace(/[._]/g, " ")}</legend>
              <div className="versions">
                <div>
                  <h3>Yours</h3>
                  <pre data-testid="mine">{shown(leaf.mine)}</pre>
                </div>
                <div>
                  <h3>Saved elsewhere</h3>
                  <pre data-testid="theirs">{shown(leaf.theirs)}</pre>
                </div>
              </div>
              {((combinable(leaf) ? ["both", "mine", "theirs"] : ["mine", "theirs"]) as Choice[]).map((c) => (
                <label key={c} className="inline">
                  <input type="radio" name={path} checked={choice === c} onChange={() => choose(path, c)} />
                  {c === "both" ? "Keep both" : c === "mine" ? "Keep yours" : "Keep the other"}
                </label>
              ))}
            </fieldset>
          );
        })}
        <button type="button" ref={first} disabled={undecided.length > 0} onClick={() => onMerged(merge(mine, theirs, choices))}>
          Save merged version
        </button>
        {undecided.length > 0 && <p role="status">Choose a version for each yes/no or number field.</p>}
      </div>
    </div>
  );
}

function shown(value: unknown): string {
  if (Array.isArray(value)) return value.join(", ");
  if (value === true) return "yes";
  if (value === false) return "no";
  return String(value ?? "");
}
