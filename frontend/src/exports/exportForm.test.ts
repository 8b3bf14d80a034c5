import { describe, expect, it } from "vitest";

import { describeFilter, EMPTY_FORM, formatBytes, stillWorking, versionBody, type DatasetVersion } from "./exportForm";

describe("versionBody", () => {
  it("sends chunks as sorted unique numbers and trims the name", () => {
    const answer = versionBody({ ...EMPTY_FORM, name: "  spring  ", chunks: "2, 1 2", splits: ["train"], distractors: true });
    expect(answer).toEqual({ body: { name: "spring", distractors: true, status: "verified", chunks: [1, 2], splits: ["train"], sources: [] } });
  });

  it("refuses a chunk that is not a whole number, naming it", () => {
    expect(versionBody({ ...EMPTY_FORM, chunks: "1, two" })).toEqual({ error: 'Chunks are whole numbers separated by commas ("two" is not one).' });
  });
});

describe("formatBytes", () => {
  it("reads bytes in powers of 1024", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(50 * 1024 * 1024)).toBe("50 MB");
    expect(formatBytes(-1)).toBe("–");
  });
});

describe("describeFilter", () => {
  it("says which faces a version holds", () => {
    expect(describeFilter({ chunks: [1], distractors: true, status: "non_excluded", splits: ["train", "val"], sources: [] }))
      .toBe("VIPs of chunk 1 + distractors · verified and unverified · splits train, val");
    expect(describeFilter({})).toBe("all VIPs · verified");
  });
});

describe("stillWorking", () => {
  const version = (state: string, builds: string[] = []) => ({ state, builds: builds.map((s) => ({ state: s })) }) as unknown as DatasetVersion;
  it("polls while a version freezes or a build runs, and stops when all are done", () => {
    expect(stillWorking([version("pending")])).toBe(true);
    expect(stillWorking([version("ready", ["ready", "running"])])).toBe(true);
    expect(stillWorking([version("ready", ["ready", "failed"]), version("failed")])).toBe(false);
  });
});
