import { describe, expect, it } from "vitest";

import { fileKind, parentFolder, photoBatches } from "./importing";

describe("sorting dropped files", () => {
  it("tells photos, videos and other files apart by type or extension", () => {
    expect(fileKind({ name: "a.JPG" })).toBe("photo");
    expect(fileKind({ name: "clip", type: "video/mp4" })).toBe("video");
    expect(fileKind({ name: "talk.mkv" })).toBe("video");
    expect(fileKind({ name: "notes.txt", type: "text/plain" })).toBe("other");
  });

  it("reads the person from the folder a photo was in", () => {
    expect(parentFolder("people/Ada Lovelace/1.jpg")).toBe("Ada Lovelace");
    expect(parentFolder("1.jpg")).toBeNull();
  });

  it("groups photos by folder (or the hint) and cuts batches by count and size", () => {
    const photos = [
      { path: "root/Ada/1.jpg", size: 10 },
      { path: "root/Ada/2.jpg", size: 10 },
      { path: "root/Ada/3.jpg", size: 10 },
      { path: "root/Bob/1.jpg", size: 50 },
      { path: "loose.jpg", size: 1 },
    ];
    const batches = photoBatches(photos, { hint: "Cy", byFolder: true, maxFiles: 2, maxBytes: 1000 });
    expect(batches.map((b) => [b.identity, b.items.length])).toEqual([
      ["Ada", 2],
      ["Ada", 1],
      ["Bob", 1],
      ["Cy", 1],
    ]);
    const bySize = photoBatches(photos.slice(0, 4), { hint: null, byFolder: false, maxFiles: 10, maxBytes: 25 });
    expect(bySize.map((b) => b.items.length)).toEqual([2, 1, 1]);
    expect(bySize.every((b) => b.identity === null)).toBe(true);
  });
});
