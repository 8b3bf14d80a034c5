/**
 * The tag review queue as a pure reducer: the loaded tags (least certain first, the server's
 * order), a cursor, the tag being decided, and what was decided. A decided tag leaves the list and
 * the cursor stays on the row that took its place, so Enter, Enter, … works down the queue.
 */
import type { ReviewTag } from "../api/client";

export type TagVerdict = "confirmed" | "rejected";

export interface DecidedTag {
  tag: ReviewTag;
  verdict: TagVerdict;
}

export interface TagQueueState {
  tags: ReviewTag[];
  cursor: number;
  /** The tag whose decision is in flight: keys wait for it. */
  pending: number | null;
  /** Newest first. */
  decided: DecidedTag[];
  /** How many of `decided` came before the latest load (the server's count at that load leaves them out). */
  decidedAtLoad: number;
  error: string | null;
}

export type TagQueueAction =
  | { type: "loaded"; tags: ReviewTag[] }
  | { type: "move"; by: number }
  | { type: "select"; id: number }
  | { type: "start"; id: number }
  | { type: "decided"; id: number; verdict: TagVerdict }
  | { type: "failed"; id: number; message: string; gone?: boolean };

export const initialTagQueue: TagQueueState = { tags: [], cursor: 0, pending: null, decided: [], decidedAtLoad: 0, error: null };

function clamp(cursor: number, length: number): number {
  return length === 0 ? 0 : Math.min(Math.max(cursor, 0), length - 1);
}

export function tagQueueReducer(state: TagQueueState, action: TagQueueAction): TagQueueState {
  switch (action.type) {
    case "loaded": {
      // Keep the cursor on the same tag across a reload where it is still there.
      const current = state.tags[state.cursor]?.id;
      const index = current === undefined ? -1 : action.tags.findIndex((tag) => tag.id === current);
      return {
        ...state,
        tags: action.tags,
        cursor: clamp(index >= 0 ? index : state.cursor, action.tags.length),
        pending: null,
        decidedAtLoad: state.decided.length,
      };
    }
    case "move":
      return { ...state, cursor: clamp(state.cursor + action.by, state.tags.length) };
    case "select": {
      const index = state.tags.findIndex((tag) => tag.id === action.id);
      return index < 0 ? state : { ...state, cursor: index };
    }
    case "start":
      if (state.pending !== null || !state.tags.some((tag) => tag.id === action.id)) return state;
      return { ...state, pending: action.id, error: null };
    case "decided": {
      const index = state.tags.findIndex((tag) => tag.id === action.id);
      if (index < 0) return { ...state, pending: null };
      const tags = state.tags.filter((tag) => tag.id !== action.id);
      const cursor = index < state.cursor ? state.cursor - 1 : state.cursor;
      return {
        ...state,
        tags,
        cursor: clamp(cursor, tags.length),
        pending: null,
        decided: [{ tag: state.tags[index], verdict: action.verdict }, ...state.decided].slice(0, 50),
        error: null,
      };
    }
    case "failed": {
      // A tag someone else decided meanwhile (409/404) leaves the queue; other errors keep it for a retry.
      const tags = action.gone ? state.tags.filter((tag) => tag.id !== action.id) : state.tags;
      return { ...state, tags, cursor: clamp(state.cursor, tags.length), pending: null, error: action.message };
    }
    default:
      return state;
  }
}

/** The tag under the cursor, if any. */
export function currentTag(state: TagQueueState): ReviewTag | undefined {
  return state.tags[state.cursor];
}
