import { describe, expect, it } from "vitest";

import { jobKindLabel, readResult } from "./jobResult";

describe("readResult", () => {
  it("splits an import's result into headline numbers, per-file errors and outcomes", () => {
    const view = readResult({
      files: 3,
      imported: 1,
      error: 2,
      faces_created: 1,
      errors: [
        { name: "a.txt", status: "error", code: "unsupported", error: "Not an image." },
        { name: "b.jpg", status: "error", code: "no_face", error: "No face found." },
      ],
      outcomes: [{ name: "c.jpg", status: "imported", faces: 1 }],
      timings: { total: 2 },
    });
    expect(view.numbers).toEqual([["files", 3], ["imported", 1], ["error", 2], ["faces created", 1]]);
    expect(view.errors.map((row) => [row.name, row.code])).toEqual([["a.txt", "unsupported"], ["b.jpg", "no_face"]]);
    expect(view.outcomes).toEqual([{ name: "c.jpg", status: "imported", code: undefined, error: undefined, faces: 1 }]);
    expect(view.others).toEqual(["timings"]);
  });

  it("reads nothing from a missing or odd result", () => {
    expect(readResult(null)).toEqual({ numbers: [], errors: [], outcomes: [], others: [] });
    expect(readResult([1, 2]).numbers).toEqual([]);
  });
});

describe("jobKindLabel", () => {
  it("names known kinds and leaves others as they are", () => {
    expect(jobKindLabel("exports.build")).toBe("build an export");
    expect(jobKindLabel("something.new")).toBe("something.new");
  });
});
