/**
 * The review screen's state as a pure reducer: the page on screen, the cursor, pending "wrong"
 * marks, decisions already saved, and the undo history. Network calls live in the screen; this
 * module only says what the screen looks like after each step (and is unit-tested alone).
 */
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
  | { kind: "decision"; index: number; decision: Decision }
  | { kind: "page"; page: ReviewPage; eventIds: number[]; operation?: string | null; history: HistoryEntry[] }
  | { kind: "skip"; page: ReviewPage; operation?: string | null; history: HistoryEntry[] };

export type Dialog = null | "help" | "relabel";
export type View = "grid" | "single";

export interface ReviewState {
  page: ReviewPage | null;
  cursor: number;
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
  | { type: "move"; direction: Direction }
  | { type: "setCursor"; index: number }
  | { type: "setColumns"; columns: number }
  | { type: "toggleMark" }
  | { type: "saving"; saving: boolean }
  | { type: "decided"; index: number; decision: Decision }
  | { type: "faceRefreshed"; face: ReviewFace }
  | { type: "pageDone"; eventIds: number[]; operation?: string | null }
  | { type: "skipped"; operation?: string | null }
  | { type: "undoMark" }
  | { type: "undoneDecision"; index: number; face?: ReviewFace }
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
        loading: false,
        saving: false,
        finished: page === null,
        history: action.keepHistory ? state.history : [],
      };
    }
    case "move":
      if (!state.page) return state;
      return { ...state, cursor: moveCursor(state.cursor, action.direction, state.page.items.length, state.columns) };
    case "setCursor":
      if (!state.page || action.index < 0 || action.index >= state.page.items.length) return state;
      return { ...state, cursor: action.index };
    case "setColumns":
      return action.columns > 0 && action.columns !== state.columns ? { ...state, columns: action.columns } : state;
    case "toggleMark": {
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
      return { ...state, page: null, loading: true, saving: false, history: [entry], cursor: 0 };
    }
    case "skipped": {
      if (!state.page) return state;
      return {
        ...state,
        page: null,
        loading: true,
        history: [{ kind: "skip", page: state.page, operation: action.operation ?? null, history: state.history }],
        cursor: 0,
      };
    }
    case "undoMark": {
      const last = state.history[state.history.length - 1];
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
