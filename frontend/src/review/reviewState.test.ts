import { describe, expect, it } from "vitest";

import { page } from "../test-fixtures";
import { initialReviewState, moveCursor, pendingVerdicts, reviewReducer, type ReviewAction, type ReviewState } from "./reviewState";

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
