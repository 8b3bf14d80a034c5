/**
 * The review screen's state as a pure reducer: the page on screen, the cursor, the selected range
 * (Shift+click, Shift+arrows), pending "wrong" marks, decisions already saved, and the undo
 * history. Network calls live in the screen; this module only says what the screen looks like
 * after each step (and is unit-tested alone).
 */
import { rangeIndexes } from "../components/rangeSelect";

/** The face fields a review page needs (both a full Face and a queue item's face have them). */
export interface ReviewFace {
  id: number;
  crop_url: string | null;
  identity: number | null;
  identity_name?: string | null;
  status: string;
  split: string;
  version: number;
  source: string;
  quality?: number | null;
}

export type Verdict = "confirm" | "wrong" | "relabel" | "unknown" | "not_a_face";

export interface IdentityRef {
  id: number;
  name: string;
}

export interface Suggestion extends IdentityRef {
  score: number | null;
}

export interface Decision {
  verdict: Verdict;
  /** The identity given by a relabel. */
  identity?: IdentityRef | null;
  /** Label events written, to undo it. */
  eventIds: number[];
  /** Queue operation id, when the queue API recorded it (undo by operation). */
  operation?: string | null;
}

export interface ReviewItem {
  key: string;
  face: ReviewFace;
  /** The identity this face is claimed to be (its label, or the model's suggestion). */
  claim: IdentityRef | null;
  /** Queue item id when the page came from a review queue. */
  itemId?: number;
  reason?: string;
  score?: number | null;
  suggestions: Suggestion[];
  marked: boolean;
  decided: Decision | null;
}

export interface ReviewPage {
  key: string;
  title: string;
  /** The identity every face of the page is claimed to be; null for a page of mixed claims. */
  claim: IdentityRef | null;
  references: ReviewFace[];
  items: ReviewItem[];
  /** How many are left to review, when known, and of what ("unverified faces of Ada"). */
  remaining?: number | null;
  remainingWhat?: string;
}

export type HistoryEntry =
  | { kind: "mark"; index: number }
  | { kind: "marks"; indexes: number[]; before: boolean[] }
  | { kind: "decision"; index: number; decision: Decision }
  | { kind: "decisions"; indexes: number[]; eventIds: number[]; operation?: string | null }
  | { kind: "page"; page: ReviewPage; eventIds: number[]; operation?: string | null; history: HistoryEntry[] }
  | { kind: "skip"; page: ReviewPage; operation?: string | null; history: HistoryEntry[] };

export type Dialog = null | "help" | "relabel";
export type View = "grid" | "single";

export interface ReviewState {
  page: ReviewPage | null;
  cursor: number;
  /** Where the selected range starts (it runs to the cursor); null when no range is selected. */
  anchor: number | null;
  columns: number;
  history: HistoryEntry[];
  view: View;
  loading: boolean;
  saving: boolean;
  finished: boolean;
  dialog: Dialog;
  message: { text: string; tone: "info" | "error" } | null;
}

export const initialReviewState: ReviewState = {
  page: null,
  cursor: 0,
  anchor: null,
  columns: 8,
  history: [],
  view: "grid",
  loading: true,
  saving: false,
  finished: false,
  dialog: null,
  message: null,
};

export type Direction = "left" | "right" | "up" | "down";

export type ReviewAction =
  | { type: "loading" }
  | { type: "pageLoaded"; page: ReviewPage | null; keepHistory?: boolean }
  | { type: "move"; direction: Direction; extend?: boolean }
  | { type: "setCursor"; index: number; extend?: boolean }
  | { type: "clearSelection" }
  | { type: "setColumns"; columns: number }
  | { type: "toggleMark" }
  | { type: "saving"; saving: boolean }
  | { type: "decided"; index: number; decision: Decision }
  | { type: "decidedMany"; decisions: [number, Decision][]; eventIds: number[]; operation?: string | null }
  | { type: "faceRefreshed"; face: ReviewFace }
  | { type: "pageDone"; eventIds: number[]; operation?: string | null }
  | { type: "skipped"; operation?: string | null }
  | { type: "undoMark" }
  | { type: "undoneDecision"; index: number; face?: ReviewFace }
  | { type: "undoneDecisions"; faces?: ReviewFace[] }
  | { type: "pageRestored"; faces?: ReviewFace[] }
  | { type: "openDialog"; dialog: Exclude<Dialog, null> }
  | { type: "closeDialog" }
  | { type: "toggleHelp" }
  | { type: "toggleView" }
  | { type: "message"; text: string; tone?: "info" | "error" }
  | { type: "clearMessage" };

export function undecidedIndexes(page: ReviewPage | null): number[] {
  if (!page) return [];
  return page.items.flatMap((item, index) => (item.decided ? [] : [index]));
}

/** What Enter decides for each face still open on the page: wrong if marked, else confirm. */
export function pendingVerdicts(page: ReviewPage): { index: number; verdict: Verdict }[] {
  return undecidedIndexes(page).map((index) => ({ index, verdict: page.items[index].marked ? "wrong" : "confirm" }));
}

/** The faces a range covers (anchor to cursor), or none without an anchor. */
export function selectedIndexes(state: Pick<ReviewState, "page" | "anchor" | "cursor">): number[] {
  if (!state.page || state.anchor === null) return [];
  return rangeIndexes(state.anchor, state.cursor).filter((index) => index < state.page!.items.length);
}

/** The open faces a key acts on: the selected range's, else the one under the cursor. */
export function targetIndexes(state: Pick<ReviewState, "page" | "anchor" | "cursor">): number[] {
  if (!state.page) return [];
  const indexes = state.anchor === null ? [state.cursor] : selectedIndexes(state);
  return indexes.filter((index) => state.page!.items[index] && !state.page!.items[index].decided);
}

/** A run of consecutive faces claimed to be the same identity (a mixed page shows one per claim). */
export interface ClaimGroup {
  claim: IdentityRef | null;
  start: number;
  size: number;
}

/** The page's faces as groups by claimed identity, in page order: one group on a page of one claim. */
export function claimGroups(page: ReviewPage): ClaimGroup[] {
  if (page.claim) return [{ claim: page.claim, start: 0, size: page.items.length }];
  const groups: ClaimGroup[] = [];
  page.items.forEach((item, index) => {
    const last = groups[groups.length - 1];
    if (last && (last.claim?.id ?? null) === (item.claim?.id ?? null)) last.size += 1;
    else groups.push({ claim: item.claim, start: index, size: 1 });
  });
  return groups;
}

/**
 * Items of a mixed page in groups by claimed identity (faces claimed by nobody form one group),
 * keeping the given order otherwise: groups come in the order of their first face, so on a page
 * sorted most likely wrong first, the group holding the likeliest mistake comes first.
 */
export function groupByClaim<T extends { claim: IdentityRef | null }>(items: T[]): T[] {
  const groups = new Map<number | null, T[]>();
  for (const item of items) {
    const key = item.claim?.id ?? null;
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return [...groups.values()].flat();
}

/**
 * The cursor after moving on groups of faces laid out `columns` wide, each group starting a new
 * row: sideways runs through the page; up and down go by rows, into the neighbouring group at the
 * same column when the group ends.
 */
export function moveInGroups(cursor: number, direction: Direction, sizes: number[], columns: number): number {
  const count = sizes.reduce((sum, size) => sum + size, 0);
  if (sizes.length <= 1) return moveCursor(cursor, direction, count, columns);
  if (direction === "left" || direction === "right") return moveCursor(cursor, direction, count, columns);
  const starts = sizes.map((_, g) => sizes.slice(0, g).reduce((sum, size) => sum + size, 0));
  const group = starts.findIndex((start, g) => cursor >= start && cursor < start + sizes[g]);
  if (group < 0) return cursor;
  const offset = cursor - starts[group];
  const column = offset % columns;
  if (direction === "up") {
    if (offset >= columns) return cursor - columns;
    if (group === 0) return cursor;
    const size = sizes[group - 1];
    return starts[group - 1] + Math.min(Math.floor((size - 1) / columns) * columns + column, size - 1);
  }
  if (offset + columns < sizes[group]) return cursor + columns;
  if (Math.floor(offset / columns) < Math.floor((sizes[group] - 1) / columns)) return starts[group] + sizes[group] - 1;
  if (group === sizes.length - 1) return cursor;
  return starts[group + 1] + Math.min(column, sizes[group + 1] - 1);
}

/** The cursor after moving on a grid of `columns` columns, clamped to the page. */
export function moveCursor(cursor: number, direction: Direction, count: number, columns: number): number {
  if (count <= 0) return 0;
  const step = { left: -1, right: 1, up: -columns, down: columns }[direction];
  const next = cursor + step;
  if (next < 0) return direction === "up" ? cursor : 0;
  if (next >= count) return direction === "down" ? cursor : count - 1;
  return next;
}

/** The next face without a decision at or after `from` (wrapping), or `from` when all are decided. */
function nextOpen(page: ReviewPage, from: number): number {
  const n = page.items.length;
  for (let offset = 0; offset < n; offset += 1) {
    const index = (from + offset) % n;
    if (!page.items[index].decided) return index;
  }
  return Math.min(from, Math.max(n - 1, 0));
}

function replaceItem(page: ReviewPage, index: number, change: Partial<ReviewItem>): ReviewPage {
  return { ...page, items: page.items.map((item, i) => (i === index ? { ...item, ...change } : item)) };
}

export function reviewReducer(state: ReviewState, action: ReviewAction): ReviewState {
  switch (action.type) {
    case "loading":
      return { ...state, loading: true };
    case "pageLoaded": {
      const page = action.page;
      return {
        ...state,
        page,
        cursor: page ? nextOpen(page, 0) : 0,
        anchor: null,
        loading: false,
        saving: false,
        finished: page === null,
        history: action.keepHistory ? state.history : [],
      };
    }
    case "move": {
      if (!state.page) return state;
      const sizes = claimGroups(state.page).map((group) => group.size);
      const cursor = moveInGroups(state.cursor, action.direction, sizes, state.columns);
      return { ...state, cursor, anchor: action.extend ? state.anchor ?? state.cursor : null };
    }
    case "setCursor":
      if (!state.page || action.index < 0 || action.index >= state.page.items.length) return state;
      return { ...state, cursor: action.index, anchor: action.extend ? state.anchor ?? state.cursor : null };
    case "clearSelection":
      return state.anchor === null ? state : { ...state, anchor: null };
    case "setColumns":
      return action.columns > 0 && action.columns !== state.columns ? { ...state, columns: action.columns } : state;
    case "toggleMark": {
      if (state.anchor !== null && state.page) {
        // A range: mark every open face in it, or unmark them all when all are marked already.
        const indexes = targetIndexes(state);
        if (!indexes.length) return { ...state, anchor: null };
        const before = indexes.map((index) => state.page!.items[index].marked);
        const marked = before.some((value) => !value);
        const page = { ...state.page, items: state.page.items.map((item, i) => (indexes.includes(i) ? { ...item, marked } : item)) };
        return { ...state, page, anchor: null, history: [...state.history, { kind: "marks", indexes, before }] };
      }
      const item = state.page?.items[state.cursor];
      if (!state.page || !item || item.decided) return state;
      return {
        ...state,
        page: replaceItem(state.page, state.cursor, { marked: !item.marked }),
        history: [...state.history, { kind: "mark", index: state.cursor }],
      };
    }
    case "saving":
      return { ...state, saving: action.saving };
    case "decided": {
      if (!state.page) return state;
      const page = replaceItem(state.page, action.index, { decided: action.decision, marked: action.decision.verdict === "wrong" });
      return {
        ...state,
        page,
        saving: false,
        cursor: nextOpen(page, action.index),
        history: [...state.history, { kind: "decision", index: action.index, decision: action.decision }],
      };
    }
    case "decidedMany": {
      if (!state.page || !action.decisions.length) return state;
      const decided = new Map(action.decisions);
      const page = {
        ...state.page,
        items: state.page.items.map((item, i) => {
          const decision = decided.get(i);
          return decision ? { ...item, decided: decision, marked: decision.verdict === "wrong" } : item;
        }),
      };
      const indexes = [...decided.keys()].sort((a, b) => a - b);
      return {
        ...state,
        page,
        saving: false,
        anchor: null,
        cursor: nextOpen(page, indexes[indexes.length - 1]),
        history: [...state.history, { kind: "decisions", indexes, eventIds: action.eventIds, operation: action.operation ?? null }],
      };
    }
    case "faceRefreshed": {
      if (!state.page) return state;
      const index = state.page.items.findIndex((item) => item.face.id === action.face.id);
      if (index < 0) return state;
      return { ...state, page: replaceItem(state.page, index, { face: action.face }) };
    }
    case "pageDone": {
      if (!state.page) return state;
      const entry: HistoryEntry = {
        kind: "page",
        page: state.page,
        eventIds: action.eventIds,
        operation: action.operation ?? null,
        history: state.history,
      };
      return { ...state, page: null, loading: true, saving: false, history: [entry], cursor: 0, anchor: null };
    }
    case "skipped": {
      if (!state.page) return state;
      return {
        ...state,
        page: null,
        loading: true,
        history: [{ kind: "skip", page: state.page, operation: action.operation ?? null, history: state.history }],
        cursor: 0,
        anchor: null,
      };
    }
    case "undoMark": {
      const last = state.history[state.history.length - 1];
      if (state.page && last?.kind === "marks") {
        const before = new Map(last.indexes.map((index, n) => [index, last.before[n]]));
        return {
          ...state,
          page: { ...state.page, items: state.page.items.map((item, i) => (before.has(i) ? { ...item, marked: before.get(i)! } : item)) },
          cursor: last.indexes[0],
          anchor: null,
          history: state.history.slice(0, -1),
        };
      }
      if (!state.page || !last || last.kind !== "mark") return state;
      const item = state.page.items[last.index];
      return {
        ...state,
        page: replaceItem(state.page, last.index, { marked: !item.marked }),
        cursor: last.index,
        history: state.history.slice(0, -1),
      };
    }
    case "undoneDecision": {
      const last = state.history[state.history.length - 1];
      if (!state.page || !last || last.kind !== "decision") return state;
      const item = state.page.items[last.index];
      return {
        ...state,
        saving: false,
        page: replaceItem(state.page, last.index, { decided: null, marked: false, face: action.face ?? item.face }),
        cursor: last.index,
        history: state.history.slice(0, -1),
      };
    }
    case "undoneDecisions": {
      const last = state.history[state.history.length - 1];
      if (!state.page || !last || last.kind !== "decisions") return state;
      const fresh = new Map((action.faces ?? []).map((face) => [face.id, face]));
      const undone = new Set(last.indexes);
      const page = {
        ...state.page,
        items: state.page.items.map((item, i) => (undone.has(i) ? { ...item, decided: null, marked: false, face: fresh.get(item.face.id) ?? item.face } : item)),
      };
      return { ...state, saving: false, page, cursor: last.indexes[0], anchor: null, history: state.history.slice(0, -1) };
    }
    case "pageRestored": {
      const last = state.history[state.history.length - 1];
      if (!last || (last.kind !== "page" && last.kind !== "skip")) return state;
      const fresh = new Map((action.faces ?? []).map((face) => [face.id, face]));
      const page: ReviewPage = {
        ...last.page,
        items: last.page.items.map((item) => ({ ...item, face: fresh.get(item.face.id) ?? item.face })),
      };
      return {
        ...state,
        page,
        loading: false,
        saving: false,
        finished: false,
        cursor: nextOpen(page, 0),
        anchor: null,
        history: last.history,
      };
    }
    case "openDialog":
      return { ...state, dialog: action.dialog };
    case "closeDialog":
      return { ...state, dialog: null };
    case "toggleHelp":
      return { ...state, dialog: state.dialog === "help" ? null : "help" };
    case "toggleView":
      return { ...state, view: state.view === "grid" ? "single" : "grid" };
    case "message":
      return { ...state, saving: false, message: { text: action.text, tone: action.tone ?? "info" } };
    case "clearMessage":
      return { ...state, message: null };
    default:
      return state;
  }
}
