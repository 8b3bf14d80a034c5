/**
 * Relabel one face (or every face of a selected range): type-ahead identity search, with the
 * model's top-k suggestions for the face under the cursor first.
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";

import { api } from "../api/client";
import { Dialog } from "../components/dialog";
import { pct } from "../components/format";
import { keysOf, matchShortcut } from "../shortcuts";
import type { IdentityRef, ReviewItem, Suggestion } from "./reviewState";

/** The id of the "add a new identity" option (no identity has it). */
const NEW_IDENTITY = -1;

interface Option extends IdentityRef {
  hint: string;
}

export function RelabelDialog({
  item,
  count = 1,
  loadSuggestions,
  onChoose,
  onClose,
}: {
  item: ReviewItem;
  /** How many faces the choice relabels (a selected range); `item` is the one under the cursor. */
  count?: number;
  loadSuggestions: (item: ReviewItem) => Promise<Suggestion[]>;
  onChoose: (identity: IdentityRef) => void;
  onClose: () => void;
}) {
  const [query, setQuery] = useState("");
  const [suggestions, setSuggestions] = useState<Suggestion[]>(item.suggestions);
  const [matches, setMatches] = useState<IdentityRef[]>([]);
  const [active, setActive] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const listId = useId();

  useEffect(() => {
    let live = true;
    void loadSuggestions(item).then((found) => live && setSuggestions(found));
    return () => {
      live = false;
    };
  }, [item, loadSuggestions]);

  useEffect(() => {
    const text = query.trim();
    if (!text) return undefined; // an empty query's matches were cleared as it was typed (onQueryChange)
    let live = true;
    const timer = window.setTimeout(() => {
      api.identities
        .list({ search: text, merged: false, page_size: 12, ordering: "name" })
        .then((answer) => live && setMatches(answer.results.map(({ id, name }) => ({ id, name }))))
        .catch(() => live && setMatches([]));
    }, 120);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [query]);

  const needle = query.trim().toLowerCase();
  const suggested: Option[] = suggestions
    .filter((s) => !needle || s.name.toLowerCase().includes(needle))
    .map((s) => ({ id: s.id, name: s.name, hint: s.score !== null ? `suggested ${pct(s.score, 0)}` : "suggested" }));
  const options: Option[] = [
    ...suggested,
    ...matches.filter((m) => !suggested.some((s) => s.id === m.id)).map((m) => ({ ...m, hint: "" })),
  ].filter((option) => option.id !== item.claim?.id || item.face.identity !== option.id);
  // Someone not in the list: offer to add them (a candidate when an annotator adds them), then relabel.
  const typed = query.trim();
  if (typed && !matches.some((m) => m.name.toLowerCase() === typed.toLowerCase()) && !suggested.some((s) => s.name.toLowerCase() === typed.toLowerCase())) {
    options.push({ id: NEW_IDENTITY, name: typed, hint: "new identity" });
  }

  async function choose(option: Option) {
    if (option.id !== NEW_IDENTITY) return onChoose({ id: option.id, name: option.name });
    setError(null);
    try {
      const created = await api.identities.create({ name: option.name, role: "candidate" });
      onChoose({ id: created.id, name: created.name });
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }

  /** A new query starts at the top of its options; an empty one matches nobody. */
  function onQueryChange(text: string) {
    setQuery(text);
    setActive(0);
    if (!text.trim()) setMatches([]);
  }

  function onKeyDown(event: KeyboardEvent<HTMLInputElement>) {
    const action = matchShortcut(event.nativeEvent, ["relabel", "global"]);
    event.stopPropagation();
    if (!action) return;
    event.preventDefault();
    if (action === "optionDown") setActive((value) => Math.min(value + 1, Math.max(options.length - 1, 0)));
    else if (action === "optionUp") setActive((value) => Math.max(value - 1, 0));
    else if (action === "applyOption") {
      const chosen = options[active];
      if (chosen) void choose(chosen);
    }
  }

  return (
    <Dialog className="relabel" labelledBy="relabel-title" onClose={onClose} initialFocus={input}>
        <h2 id="relabel-title">{count > 1 ? `Relabel ${count} faces` : `Relabel face ${item.face.id}`}</h2>
        <div className="relabel-body">
          {item.face.crop_url && <img src={item.face.crop_url} width={112} height={112} alt={`face ${item.face.id}`} />}
          <div className="relabel-search">
            <label htmlFor="relabel-input">Who is this? {item.claim && <span className="muted">(now: {item.claim.name})</span>}</label>
            <input
              id="relabel-input"
              ref={input}
              role="combobox"
              aria-expanded={options.length > 0}
              aria-controls={listId}
              aria-activedescendant={options[active] ? `${listId}-${options[active].id}` : undefined}
              autoComplete="off"
              value={query}
              placeholder="Type a name…"
              onChange={(event) => onQueryChange(event.target.value)}
              onKeyDown={onKeyDown}
            />
            <ul id={listId} role="listbox" className="options" aria-label="Identities">
              {options.map((option, index) => (
                <li
                  key={option.id}
                  id={`${listId}-${option.id}`}
                  role="option"
                  aria-selected={index === active}
                  className={index === active ? "active" : undefined}
                  onMouseEnter={() => setActive(index)}
                  onClick={() => void choose(option)}
                >
                  <span className="long-name">{option.id === NEW_IDENTITY ? `Add “${option.name}” as a new identity` : option.name}</span>
                  {option.hint && <span className="muted">{option.hint}</span>}
                </li>
              ))}
              {!options.length && <li className="muted">{query ? "No identity by that name." : "Type to search identities."}</li>}
            </ul>
            {error && <p className="error">{error}</p>}
          </div>
        </div>
        <p className="muted">
          <kbd>{keysOf("optionUp")}</kbd>
          <kbd>{keysOf("optionDown")}</kbd> choose · <kbd>{keysOf("applyOption")}</kbd> relabel · <kbd>{keysOf("closeDialog")}</kbd> cancel
        </p>
        <button type="button" className="secondary" onClick={onClose}>
          Cancel
        </button>
    </Dialog>
  );
}
