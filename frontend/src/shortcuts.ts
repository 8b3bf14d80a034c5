/**
 * Every keyboard shortcut of the UI, in one table. The key handlers look actions up here, the
 * help overlay (`?`) and the on-screen legend render this table; nothing else names a key.
 */

export type ShortcutScope = "global" | "review" | "relabel" | "tags";

export type ShortcutAction =
  | "help"
  | "closeDialog"
  | "moveLeft"
  | "moveRight"
  | "moveUp"
  | "moveDown"
  | "extendLeft"
  | "extendRight"
  | "extendUp"
  | "extendDown"
  | "toggleWrong"
  | "confirm"
  | "relabel"
  | "unknown"
  | "notAFace"
  | "undo"
  | "skip"
  | "toggleView"
  | "optionUp"
  | "optionDown"
  | "applyOption"
  | "tagNext"
  | "tagPrevious"
  | "tagConfirm"
  | "tagReject"
  | "tagOpenVideo";

export interface Shortcut {
  action: ShortcutAction;
  /** KeyboardEvent.key values; single letters match either case. */
  keys: string[];
  /** Only with Shift held (Shift+arrows); rows without it match with or without Shift. */
  shift?: boolean;
  /** What the key does, as the help overlay says it. */
  description: string;
  scope: ShortcutScope;
  /** Shown in the compact legend beside the review grid. */
  legend?: boolean;
  /** Also works while the focus is in a text field (dialog navigation). */
  whileTyping?: boolean;
}

export const SHORTCUTS: readonly Shortcut[] = [
  // Shift rows first: the first matching row wins, and the plain arrows match with Shift too.
  { action: "extendLeft", keys: ["ArrowLeft"], shift: true, description: "Select a range: extend it to the previous face (or Shift+click a face)", scope: "review" },
  { action: "extendRight", keys: ["ArrowRight"], shift: true, description: "Select a range: extend it to the next face", scope: "review" },
  { action: "extendUp", keys: ["ArrowUp"], shift: true, description: "Select a range: extend it to the face above", scope: "review" },
  { action: "extendDown", keys: ["ArrowDown"], shift: true, description: "Select a range: extend it to the face below", scope: "review" },
  { action: "moveLeft", keys: ["ArrowLeft"], description: "Previous face", scope: "review" },
  { action: "moveRight", keys: ["ArrowRight"], description: "Next face", scope: "review" },
  { action: "moveUp", keys: ["ArrowUp"], description: "Face above", scope: "review" },
  { action: "moveDown", keys: ["ArrowDown"], description: "Face below", scope: "review" },
  { action: "toggleWrong", keys: [" ", "x"], description: "Mark / unmark the face (or the selected range) as wrong (not this person)", scope: "review", legend: true },
  { action: "confirm", keys: ["Enter"], description: "Confirm the page: unmarked faces are this person, marked ones are not", scope: "review", legend: true },
  { action: "relabel", keys: ["r"], description: "Relabel the face (or the selected range): search an identity, with the model's suggestions", scope: "review", legend: true },
  { action: "unknown", keys: ["u"], description: "The face is an unknown person (or the faces of the selected range)", scope: "review", legend: true },
  { action: "notAFace", keys: ["n"], description: "Not a face (the face or the selected range)", scope: "review", legend: true },
  { action: "undo", keys: ["z"], description: "Undo the last decision (a range's decisions together)", scope: "review", legend: true },
  { action: "skip", keys: ["s"], description: "Skip this page (decide nothing)", scope: "review", legend: true },
  { action: "toggleView", keys: ["v"], description: "Switch between the grid and one face at a time", scope: "review" },
  { action: "tagNext", keys: ["ArrowDown", "j"], description: "Next tag", scope: "tags" },
  { action: "tagPrevious", keys: ["ArrowUp", "k"], description: "Previous tag", scope: "tags" },
  { action: "tagConfirm", keys: ["Enter", "y"], description: "Confirm the tag: the person is in the video (verifies the supporting faces)", scope: "tags" },
  { action: "tagReject", keys: ["n", "x"], description: "Reject the tag: the person is not in the video", scope: "tags" },
  { action: "tagOpenVideo", keys: ["o"], description: "Open the tag's video", scope: "tags" },
  { action: "help", keys: ["?"], description: "Show or hide this help", scope: "global", legend: true },
  { action: "optionUp", keys: ["ArrowUp"], description: "Previous identity in the list", scope: "relabel", whileTyping: true },
  { action: "optionDown", keys: ["ArrowDown"], description: "Next identity in the list", scope: "relabel", whileTyping: true },
  { action: "applyOption", keys: ["Enter"], description: "Relabel the face as the chosen identity", scope: "relabel", whileTyping: true },
  { action: "closeDialog", keys: ["Escape"], description: "Close the dialog or help; on the grid, clear the selected range", scope: "global", whileTyping: true },
];

const KEY_NAMES: Record<string, string> = {
  " ": "Space",
  ArrowLeft: "←",
  ArrowRight: "→",
  ArrowUp: "↑",
  ArrowDown: "↓",
  Enter: "Enter",
  Escape: "Esc",
};

/** How a key is written on screen: "Space", "←", "R". */
export function keyLabel(key: string): string {
  return KEY_NAMES[key] ?? (key.length === 1 ? key.toUpperCase() : key);
}

export interface KeyLike {
  key: string;
  shiftKey?: boolean;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  target?: EventTarget | null;
}

/** True while the user types in a field: shortcuts (except Escape) stay out of the way. */
export function isTyping(target: EventTarget | null | undefined): boolean {
  if (!target || typeof (target as HTMLElement).tagName !== "string") return false;
  const element = target as HTMLElement;
  const tag = element.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select" || element.isContentEditable) return true;
  if (tag !== "input") return false;
  const type = ((element as HTMLInputElement).type || "text").toLowerCase();
  return !["checkbox", "radio", "button", "submit", "reset", "range"].includes(type);
}

/**
 * Whether a screen's own shortcuts may act on a key pressed with focus on `target`: on the grid
 * (or inside it) or with nothing in particular focused. On a button, link or other control the key
 * does what the browser does there (Enter and Space press a focused button).
 */
export function acceptsPageShortcuts(target: EventTarget | null | undefined, grid: Element | null): boolean {
  if (!target || typeof (target as HTMLElement).tagName !== "string") return true;
  const element = target as HTMLElement;
  if (grid && (element === grid || grid.contains(element))) return true;
  const tag = element.tagName.toLowerCase();
  if (tag === "body" || tag === "html" || tag === "main") return true;
  return !(["button", "a", "select", "input", "textarea", "summary"].includes(tag) || element.getAttribute("role") === "button" || element.isContentEditable);
}

/**
 * The action a key press asks for in the given scopes, or null. Browser and OS combinations
 * (Ctrl/Cmd/Alt + key) are never taken, and while typing in a field only `whileTyping` keys act.
 * The first matching row of the table wins, so list narrower scopes first when keys overlap.
 */
export function matchShortcut(event: KeyLike, scopes: readonly ShortcutScope[] = ["global", "review"]): ShortcutAction | null {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  const typing = isTyping(event.target);
  const pressed = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  for (const shortcut of SHORTCUTS) {
    if (!scopes.includes(shortcut.scope)) continue;
    if (typing && !shortcut.whileTyping) continue;
    if (shortcut.shift && !event.shiftKey) continue;
    if (shortcut.keys.some((key) => (key.length === 1 ? key.toLowerCase() : key) === pressed)) return shortcut.action;
  }
  return null;
}

export function shortcutFor(action: ShortcutAction): Shortcut {
  const found = SHORTCUTS.find((shortcut) => shortcut.action === action);
  if (!found) throw new Error(`no shortcut for ${action}`);
  return found;
}

/** A row's keys as written on screen, Shift included: "Shift+←". */
export function keyLabels(shortcut: Shortcut): string[] {
  return shortcut.keys.map((key) => (shortcut.shift ? `Shift+${keyLabel(key)}` : keyLabel(key)));
}

/** "Space / X" for an action: what a button's hint or aria-keyshortcuts shows. */
export function keysOf(action: ShortcutAction): string {
  return keyLabels(shortcutFor(action)).join(" / ");
}
