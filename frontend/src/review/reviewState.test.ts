import { describe, expect, it } from "vitest";

import { item, page } from "../test-fixtures";
import {
  claimGroups,
  groupByClaim,
  initialReviewState,
  moveCursor,
  moveInGroups,
  pendingVerdicts,
  reviewReducer,
  selectedIndexes,
  targetIndexes,
  type ReviewAction,
  type ReviewPage,
  type ReviewState,
} from "./reviewState";

function run(actions: ReviewAction[], state: ReviewState = initialReviewState): ReviewState {
  return actions.reduce(reviewReducer, state);
}

const loaded = (count = 10, columns = 4) => run([{ type: "setColumns", columns }, { type: "pageLoaded", page: page(count) }]);

describe("moving the cursor", () => {
  it("moves by one sideways and by a row up and down, staying on the page", () => {
    expect(moveCursor(0, "right", 10, 4)).toBe(1);
    expect(moveCursor(0, "left", 10, 4)).toBe(0);
    expect(moveCursor(1, "down", 10, 4)).toBe(5);
    expect(moveCursor(5, "up", 10, 4)).toBe(1);
    expect(moveCursor(1, "up", 10, 4)).toBe(1);
    expect(moveCursor(7, "down", 10, 4)).toBe(7); // no face below: stay
    expect(moveCursor(9, "right", 10, 4)).toBe(9);
  });

  it("follows the grid's column count", () => {
    const state = run([{ type: "move", direction: "down" }, { type: "move", direction: "down" }], loaded(20, 6));
    expect(state.cursor).toBe(12);
  });
});

describe("marking faces wrong", () => {
  it("toggles the face under the cursor and undoes the toggle", () => {
    let state = run([{ type: "move", direction: "right" }, { type: "toggleMark" }], loaded());
    expect(state.page!.items[1].marked).toBe(true);
    expect(pendingVerdicts(state.page!).filter((v) => v.verdict === "wrong")).toEqual([{ index: 1, verdict: "wrong" }]);
    state = run([{ type: "move", direction: "right" }, { type: "undoMark" }], state);
    expect(state.page!.items[1].marked).toBe(false);
    expect(state.cursor).toBe(1);
    expect(state.history).toEqual([]);
  });

  it("does not mark a face that is already decided", () => {
    const state = run([{ type: "decided", index: 0, decision: { verdict: "unknown", eventIds: [5] } }, { type: "setCursor", index: 0 }, { type: "toggleMark" }], loaded());
    expect(state.page!.items[0].marked).toBe(false);
    expect(state.history).toHaveLength(1);
  });
});

describe("decisions", () => {
  it("records a decision, moves to the next open face and leaves it out of the page confirmation", () => {
    const state = run([{ type: "setCursor", index: 2 }, { type: "decided", index: 2, decision: { verdict: "not_a_face", eventIds: [11] } }], loaded(4));
    expect(state.cursor).toBe(3);
    expect(state.page!.items[2].decided?.verdict).toBe("not_a_face");
    expect(pendingVerdicts(state.page!).map((v) => v.index)).toEqual([0, 1, 3]);
  });

  it("undoes a decision: the face is open again, with its fresh version", () => {
    let state = run([{ type: "decided", index: 1, decision: { verdict: "unknown", eventIds: [11] } }], loaded(4));
    const fresh = { ...state.page!.items[1].face, version: 2 };
    state = reviewReducer(state, { type: "undoneDecision", index: 1, face: fresh });
    expect(state.page!.items[1].decided).toBeNull();
    expect(state.page!.items[1].face.version).toBe(2);
    expect(state.cursor).toBe(1);
    expect(state.history).toEqual([]);
  });

  it("swaps in a refreshed face after a conflict, keeping the rest of the page", () => {
    const state = run([{ type: "toggleMark" }], loaded(3));
    const refreshed = reviewReducer(state, { type: "faceRefreshed", face: { ...state.page!.items[0].face, version: 5, identity_name: "Bob" } });
    expect(refreshed.page!.items[0].face.version).toBe(5);
    expect(refreshed.page!.items[0].marked).toBe(true);
  });
});

describe("pages", () => {
  it("confirming a page keeps it in the history so undo brings it back, marks and all", () => {
    let state = run([{ type: "move", direction: "right" }, { type: "toggleMark" }, { type: "pageDone", eventIds: [1, 2, 3] }], loaded(3));
    expect(state.page).toBeNull();
    expect(state.loading).toBe(true);
    state = reviewReducer(state, { type: "pageLoaded", page: page(2, "p2"), keepHistory: true });
    expect(state.page!.key).toBe("p2");
    const last = state.history[state.history.length - 1];
    expect(last.kind === "page" && last.eventIds).toEqual([1, 2, 3]);
    state = reviewReducer(state, { type: "pageRestored" });
    expect(state.page!.key).toBe("p1");
    expect(state.page!.items[1].marked).toBe(true);
    // The mark made before confirming is undoable again.
    expect(state.history.map((entry) => entry.kind)).toEqual(["mark"]);
  });

  it("skipping a page is undoable too", () => {
    let state = run([{ type: "skipped" }, { type: "pageLoaded", page: page(2, "p2"), keepHistory: true }], loaded(3));
    expect(state.history[0].kind).toBe("skip");
    state = reviewReducer(state, { type: "pageRestored" });
    expect(state.page!.key).toBe("p1");
  });

  it("says when nothing is left", () => {
    const state = reviewReducer(initialReviewState, { type: "pageLoaded", page: null });
    expect(state.finished).toBe(true);
    expect(state.loading).toBe(false);
  });
});

describe("dialogs and views", () => {
  it("toggles help and the single-face view", () => {
    let state = run([{ type: "toggleHelp" }], loaded());
    expect(state.dialog).toBe("help");
    state = run([{ type: "toggleHelp" }, { type: "toggleView" }], state);
    expect(state.dialog).toBeNull();
    expect(state.view).toBe("single");
  });
});

describe("selecting a range (Shift+arrows, Shift+click)", () => {
  const right = { type: "move", direction: "right", extend: true } as const;

  it("runs from where Shift was first held to the cursor, and a plain move drops it", () => {
    let state = run([{ type: "setCursor", index: 2 }, right, right], loaded());
    expect(selectedIndexes(state)).toEqual([2, 3, 4]);
    state = reviewReducer(state, { type: "move", direction: "left", extend: true });
    expect(selectedIndexes(state)).toEqual([2, 3]);
    state = reviewReducer(state, { type: "move", direction: "down", extend: true }); // 4 columns: 3 -> 7
    expect(selectedIndexes(state)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(selectedIndexes(reviewReducer(state, { type: "move", direction: "right" }))).toEqual([]);
    expect(selectedIndexes(reviewReducer(state, { type: "clearSelection" }))).toEqual([]);
  });

  it("selects from the cursor to a shift-clicked face, backwards too", () => {
    const state = run([{ type: "setCursor", index: 6 }, { type: "setCursor", index: 1, extend: true }], loaded());
    expect(selectedIndexes(state)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(state.cursor).toBe(1);
  });

  it("acts on the range's open faces, else on the face under the cursor", () => {
    let state = run([{ type: "decided", index: 3, decision: { verdict: "unknown", eventIds: [1] } }, { type: "setCursor", index: 2 }], loaded());
    expect(targetIndexes(state)).toEqual([2]);
    state = run([right, right], state);
    expect(targetIndexes(state)).toEqual([2, 4]); // face 3 is decided already
  });

  it("marks the whole range wrong with one key, unmarks it with the next, and undoes it in one step", () => {
    let state = run([{ type: "setCursor", index: 1 }, { type: "toggleMark" }, { type: "setCursor", index: 0 }, right, right], loaded());
    state = reviewReducer(state, { type: "toggleMark" });
    expect(state.page!.items.map((entry) => entry.marked).slice(0, 4)).toEqual([true, true, true, false]);
    expect(selectedIndexes(state)).toEqual([]); // the range was acted on
    state = run([{ type: "setCursor", index: 0 }, right, right, { type: "toggleMark" }], state);
    expect(state.page!.items.map((entry) => entry.marked).slice(0, 4)).toEqual([false, false, false, false]);
    state = reviewReducer(state, { type: "undoMark" });
    expect(state.page!.items.map((entry) => entry.marked).slice(0, 4)).toEqual([true, true, true, false]);
    state = reviewReducer(state, { type: "undoMark" });
    expect(state.page!.items.map((entry) => entry.marked).slice(0, 4)).toEqual([false, true, false, false]); // as before the range
  });

  it("records a range's decisions as one step that undo takes back together", () => {
    let state = run([{ type: "setCursor", index: 1 }, right, right], loaded(6));
    state = reviewReducer(state, {
      type: "decidedMany",
      decisions: [1, 2, 3].map((index) => [index, { verdict: "not_a_face", eventIds: [index * 10] }]),
      eventIds: [10, 20, 30],
    });
    expect(state.page!.items.map((entry) => entry.decided?.verdict ?? null)).toEqual([null, "not_a_face", "not_a_face", "not_a_face", null, null]);
    expect(state.cursor).toBe(4);
    expect(state.anchor).toBeNull();
    expect(state.history).toEqual([{ kind: "decisions", indexes: [1, 2, 3], eventIds: [10, 20, 30], operation: null }]);
    state = reviewReducer(state, { type: "undoneDecisions", faces: [{ ...state.page!.items[2].face, version: 4 }] });
    expect(state.page!.items.every((entry) => entry.decided === null)).toBe(true);
    expect(state.page!.items[2].face.version).toBe(4);
    expect(state.history).toEqual([]);
  });
});

describe("a page of mixed claims", () => {
  const claim = (id: number) => ({ id, name: `P${id}` });
  const mixed = (claims: (number | null)[]): ReviewPage => ({
    key: "m",
    title: "errors",
    claim: null,
    references: [],
    items: claims.map((id, n) => item(n + 1, { claim: id === null ? null : claim(id) })),
  });

  it("groups faces by claimed identity, the group of the first (likeliest wrong) face first", () => {
    const grouped = groupByClaim(mixed([5, 6, null, 5, 6, 7]).items);
    expect(grouped.map((entry) => entry.claim?.id ?? null)).toEqual([5, 5, 6, 6, null, 7]);
    expect(grouped.map((entry) => entry.face.id)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it("lists the groups with where each starts; a page of one claim is one group", () => {
    expect(claimGroups(mixed([5, 5, 6, null])).map(({ claim: c, start, size }) => [c?.id ?? null, start, size])).toEqual([
      [5, 0, 2],
      [6, 2, 1],
      [null, 3, 1],
    ]);
    expect(claimGroups(page(4))).toEqual([{ claim: { id: 1, name: "Ada" }, start: 0, size: 4 }]);
  });

  it("moves up and down by rows within a group and into the next group at the same column", () => {
    // groups of 6 and 3 faces, 4 columns: rows [0-3] [4-5] | [6-8]
    expect(moveInGroups(1, "down", [6, 3], 4)).toBe(5);
    expect(moveInGroups(3, "down", [6, 3], 4)).toBe(5); // the row below is short: its last face
    expect(moveInGroups(5, "down", [6, 3], 4)).toBe(7);
    expect(moveInGroups(4, "down", [6, 3], 4)).toBe(6);
    expect(moveInGroups(8, "up", [6, 3], 4)).toBe(5); // column 2 of a two-face row: its last face
    expect(moveInGroups(6, "up", [6, 3], 4)).toBe(4);
    expect(moveInGroups(7, "down", [6, 3], 4)).toBe(7); // nothing below: stay
    expect(moveInGroups(5, "right", [6, 3], 4)).toBe(6); // sideways runs through the page
    expect(moveInGroups(7, "down", [10], 4)).toBe(moveCursor(7, "down", 10, 4));
  });
});
