/** The help overlay and the on-screen legend: both render the one shortcut table. */
import { useEffect, useRef } from "react";

import { SHORTCUTS, keyLabel, shortcutFor, type ShortcutAction, type ShortcutScope } from "../shortcuts";

const MOVES: ShortcutAction[] = ["moveLeft", "moveRight", "moveUp", "moveDown"];

const SCOPE_TITLES: Record<ShortcutScope, string> = { review: "Review", relabel: "Relabel dialog", tags: "Tag review", global: "Everywhere" };

export function HelpOverlay({ onClose }: { onClose: () => void }) {
  const closeButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    closeButton.current?.focus();
    return () => previous?.focus?.();
  }, []);
  const scopes: ShortcutScope[] = ["review", "relabel", "tags", "global"];
  return (
    <div className="overlay" role="presentation" onClick={onClose}>
      <div className="dialog help" role="dialog" aria-modal="true" aria-labelledby="help-title" onClick={(event) => event.stopPropagation()}>
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
                    {shortcut.keys.map((key) => (
                      <kbd key={key}>{keyLabel(key)}</kbd>
                    ))}
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
      </div>
    </div>
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
      {SHORTCUTS.filter((shortcut) => shortcut.legend).map((shortcut) => (
        <li key={shortcut.action}>
          {shortcut.keys.map((key) => (
            <kbd key={key}>{keyLabel(key)}</kbd>
          ))}{" "}
          {shortcut.description.split(":")[0].replace(/\s*\(.*\)$/, "")}
        </li>
      ))}
    </ul>
  );
}
