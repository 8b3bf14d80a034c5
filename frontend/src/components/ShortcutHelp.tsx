/** The help overlay and the on-screen legend: both render the one shortcut table. */
import { useRef, type ReactNode } from "react";

import { SHORTCUTS, keyLabel, shortcutFor, type Shortcut, type ShortcutAction, type ShortcutScope } from "../shortcuts";
import { Dialog } from "./dialog";

const MOVES: ShortcutAction[] = ["moveLeft", "moveRight", "moveUp", "moveDown"];

const EXTENDS: ShortcutAction[] = ["extendLeft", "extendRight", "extendUp", "extendDown"];

/** A row's keys as <kbd>s, "Shift" in front of a Shift row's. */
function Keys({ shortcut }: { shortcut: Shortcut }): ReactNode {
  return shortcut.keys.map((key) => (
    <span key={key} className="keys">
      {shortcut.shift && (
        <>
          <kbd>Shift</kbd>+
        </>
      )}
      <kbd>{keyLabel(key)}</kbd>
    </span>
  ));
}

const SCOPE_TITLES: Record<ShortcutScope, string> = { review: "Review", relabel: "Relabel dialog", tags: "Tag review", global: "Everywhere" };

export function HelpOverlay({ onClose }: { onClose: () => void }) {
  const closeButton = useRef<HTMLButtonElement>(null);
  const scopes: ShortcutScope[] = ["review", "relabel", "tags", "global"];
  return (
    <Dialog className="help" labelledBy="help-title" onClose={onClose} initialFocus={closeButton}>
        <h2 id="help-title">Keyboard shortcuts</h2>
        <div className="help-columns">
        {scopes.map((scope) => (
          <table key={scope} className="shortcut-table">
            <caption>{SCOPE_TITLES[scope]}</caption>
            <thead>
              <tr>
                <th scope="col">Keys</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {SHORTCUTS.filter((shortcut) => shortcut.scope === scope).map((shortcut) => (
                <tr key={shortcut.action} data-action={shortcut.action}>
                  <td>
                    <Keys shortcut={shortcut} />
                  </td>
                  <td>{shortcut.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
        </div>
        <p className="muted">Shortcuts are off while you type in a field; Esc leaves it.</p>
        <button ref={closeButton} type="button" onClick={onClose}>
          Close
        </button>
    </Dialog>
  );
}

/** The short list beside the review grid: the shortcuts flagged `legend` in the table. */
export function ShortcutLegend() {
  return (
    <ul className="legend" aria-label="Keyboard shortcuts">
      <li>
        {MOVES.flatMap((action) => shortcutFor(action).keys).map((key) => (
          <kbd key={key}>{keyLabel(key)}</kbd>
        ))}{" "}
        move
      </li>
      <li>
        <kbd>Shift</kbd>+
        {EXTENDS.flatMap((action) => shortcutFor(action).keys).map((key) => (
          <kbd key={key}>{keyLabel(key)}</kbd>
        ))}{" "}
        or <kbd>Shift</kbd>+click select a range
      </li>
      {SHORTCUTS.filter((shortcut) => shortcut.legend).map((shortcut) => (
        <li key={shortcut.action}>
          <Keys shortcut={shortcut} />{" "}
          {shortcut.description.split(":")[0].replace(/\s*\(.*\)$/, "")}
        </li>
      ))}
    </ul>
  );
}
