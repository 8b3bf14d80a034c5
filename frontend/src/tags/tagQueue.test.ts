import { describe, expect, it } from "vitest";

import type { ReviewTag } from "../api/client";
import { currentTag, initialTagQueue, tagQueueReducer, type TagQueueState } from "./tagQueue";

const tag = (id: number) => ({ id, video: 1, video_name: "v", identity: 2, identity_name: "Ann", confidence: 0.6, threshold: 0.5, margin: 0.1, evidence: [] }) as unknown as ReviewTag;

function loaded(ids: number[]): TagQueueState {
  return tagQueueReducer(initialTagQueue, { type: "loaded", tags: ids.map(tag) });
}

describe("the tag queue", () => {
  it("moves within the list and stops at its ends", () => {
    let state = loaded([1, 2, 3]);
    state = tagQueueReducer(state, { type: "move", by: -1 });
    expect(state.cursor).toBe(0);
    state = tagQueueReducer(state, { type: "move", by: 5 });
    expect(currentTag(state)?.id).toBe(3);
  });

  it("drops a decided tag and stays on the row that took its place", () => {
    let state = tagQueueReducer(loaded([1, 2, 3]), { type: "move", by: 1 });
    state = tagQueueReducer(state, { type: "start", id: 2 });
    expect(state.pending).toBe(2);
    state = tagQueueReducer(state, { type: "decided", id: 2, verdict: "confirmed" });
    expect(state.tags.map((row) => row.id)).toEqual([1, 3]);
    expect(currentTag(state)?.id).toBe(3);
    expect(state.pending).toBeNull();
    expect(state.decided).toEqual([{ tag: tag(2), verdict: "confirmed" }]);
  });

  it("keeps the cursor on the last row when the last tag is decided, and on its tag when an earlier one is", () => {
    let state = tagQueueReducer(loaded([1, 2]), { type: "move", by: 1 });
    state = tagQueueReducer(state, { type: "decided", id: 2, verdict: "rejected" });
    expect(currentTag(state)?.id).toBe(1);
    state = tagQueueReducer(loaded([1, 2, 3]), { type: "select", id: 3 });
    state = tagQueueReducer(state, { type: "decided", id: 1, verdict: "rejected" });
    expect(currentTag(state)?.id).toBe(3);
  });

  it("remembers at each load how many decisions came before it", () => {
    let state = tagQueueReducer(loaded([1, 2, 3]), { type: "decided", id: 1, verdict: "confirmed" });
    state = tagQueueReducer(state, { type: "decided", id: 2, verdict: "rejected" });
    expect(state.decidedAtLoad).toBe(0);
    state = tagQueueReducer(state, { type: "loaded", tags: [tag(4)] });
    expect(state.decidedAtLoad).toBe(2);
    state = tagQueueReducer(state, { type: "decided", id: 4, verdict: "confirmed" });
    expect(state.decided.length - state.decidedAtLoad).toBe(1);
  });

  it("takes one decision at a time", () => {
    let state = tagQueueReducer(loaded([1, 2]), { type: "start", id: 1 });
    state = tagQueueReducer(state, { type: "start", id: 2 });
    expect(state.pending).toBe(1);
  });

  it("keeps a tag after a failed request, and drops one someone else decided", () => {
    let state = tagQueueReducer(tagQueueReducer(loaded([1, 2]), { type: "start", id: 1 }), { type: "failed", id: 1, message: "boom" });
    expect(state.tags).toHaveLength(2);
    expect(state.error).toBe("boom");
    expect(state.pending).toBeNull();
    state = tagQueueReducer(state, { type: "failed", id: 1, message: "already rejected", gone: true });
    expect(state.tags.map((row) => row.id)).toEqual([2]);
  });

  it("follows its tag across a reload", () => {
    let state = tagQueueReducer(loaded([1, 2, 3]), { type: "select", id: 2 });
    state = tagQueueReducer(state, { type: "loaded", tags: [tag(0), tag(1), tag(2)] });
    expect(currentTag(state)?.id).toBe(2);
  });
});
