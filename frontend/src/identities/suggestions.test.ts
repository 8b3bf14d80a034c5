import { describe, expect, it } from "vitest";

import type { IdentitySuggestion } from "../api/client";
import { defaultSplitName, evidenceRows, mergePlan, splitPlan } from "./suggestions";

function brief(id: number, name: string) {
  return { id, name, aliases: [], role: "vip" as const, popularity_rank: null, chunk: null, merged_into: null };
}

function suggestion(overrides: Partial<IdentitySuggestion>): IdentitySuggestion {
  return {
    id: 7,
    kind: "merge",
    status: "open",
    score: 0.91,
    identity: brief(1, "Ann"),
    other: brief(2, "Anne"),
    evidence: {},
    sides: [],
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    decided_by: "",
    decided_at: null,
    ...overrides,
  } as IdentitySuggestion;
}

const side = (identity: number, name: string, face_ids?: number[]) => ({ identity, name, faces: face_ids?.length ?? 5, cohesion: 0.8, face_ids, examples: [] });

describe("mergePlan", () => {
  it("merges the first side away into the second, as the suggestion orders them", () => {
    const plan = mergePlan(suggestion({ sides: [side(2, "Anne"), side(1, "Ann")] }));
    expect(plan).toEqual({ from: { id: 2, name: "Anne" }, into: { id: 1, name: "Ann" }, body: { into: 1, suggestion: 7 } });
  });

  it("refuses a split, or a merge of an identity into itself", () => {
    expect(mergePlan(suggestion({ kind: "split", sides: [side(1, "Ann"), side(1, "Ann")] }))).toBeNull();
    expect(mergePlan(suggestion({ sides: [side(1, "Ann"), side(1, "Ann")] }))).toBeNull();
    expect(mergePlan(suggestion({ sides: [side(1, "Ann")] }))).toBeNull();
  });
});

describe("splitPlan", () => {
  const split = suggestion({ kind: "split", other: null, sides: [side(1, "Ann", [1, 2, 3]), side(1, "Ann", [4, 5])] });

  it("moves the second cluster's faces to a new identity with the trimmed name", () => {
    expect(splitPlan(split, "  Ann B ")).toEqual({ identity: { id: 1, name: "Ann" }, body: { faces: [4, 5], new_name: "Ann B", suggestion: 7 } });
  });

  it("asks for a name and for faces", () => {
    expect(splitPlan(split, "  ")).toBe("Give the new identity a name.");
    expect(splitPlan(suggestion({ kind: "split", sides: [side(1, "Ann", [1]), side(1, "Ann", [])] }), "X")).toMatch(/no faces/);
    expect(splitPlan(suggestion({ sides: [side(2, "Anne"), side(1, "Ann")] }), "X")).toMatch(/not a split/);
  });

  it("proposes a default name", () => {
    expect(defaultSplitName(split)).toBe("Ann (2)");
  });
});

describe("evidenceRows", () => {
  it("reads a merge's score, cosine, neighbour mixing and confusion", () => {
    const rows = evidenceRows(
      suggestion({ evidence: { centroid_cosine: 0.8123, neighbour_mixing: 0.25, neighbours_k: 10, confusion: { a_as_b: 0.3, b_as_a: 0.1, mutual: 0.2 } } }),
    );
    expect(rows.map((row) => [row.label, row.value])).toEqual([
      ["Score", "0.910"],
      ["Centroid cosine", "0.812"],
      ["Neighbour mixing (k=10)", "0.250"],
      ["Model confusion", "0.30 / 0.10"],
    ]);
  });

  it("reads a split's silhouette and ratio, leaving out what is missing", () => {
    const rows = evidenceRows(suggestion({ kind: "split", evidence: { silhouette: 0.4, between_within_ratio: "n/a" } }));
    expect(rows.map((row) => row.label)).toEqual(["Score", "Silhouette"]);
  });
});
