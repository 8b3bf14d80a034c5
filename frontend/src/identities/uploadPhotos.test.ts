import { describe, expect, it } from "vitest";

import { outcomeLines } from "./UploadPhotos";

describe("outcomeLines", () => {
  it("gives each file one line, its reason without its own name repeated", () => {
    expect(
      outcomeLines([
        { name: "a.jpg", status: "accepted" },
        { name: "b.jpg", status: "duplicate" },
        { name: "c (1).txt", status: "error", code: "unsupported", error: "c (1).txt: not an image the server can read." },
        { name: "d.jpg", status: "error", code: "too_big" },
      ]),
    ).toEqual([
      { name: "a.jpg", status: "accepted", text: "uploaded: finding faces…" },
      { name: "b.jpg", status: "duplicate", text: "already imported" },
      { name: "c (1).txt", status: "error", text: "not an image the server can read." },
      { name: "d.jpg", status: "error", text: "too_big" },
    ]);
  });
});
