import { describe, expect, it } from "vitest";

import type { Identity, Queue } from "../api/client";
import { chooseWork, clampPageSize, reviewOrder } from "./reviewWork";
import { DEFAULT_PAGE_SIZE } from "./sources";

const person = (id: number, name: string, faces: number, verified: number, role = "member") =>
  ({ id, name, role, face_count: faces, verified_count: verified }) as unknown as Identity;
const queue = (id: number, kind: string, open_count: number, is_open = true) => ({ id, kind, is_open, title: kind, open_count }) as unknown as Queue;

describe("reviewOrder", () => {
  it("puts the identity asked for first, then VIPs, then the most unverified, then by name", () => {
    const order = reviewOrder([person(1, "Bo", 5, 1), person(2, "Al", 5, 1), person(3, "Vi", 2, 1, "vip"), person(4, "Done", 3, 3), person(5, "Big", 20, 0)], null);
    expect(order).toEqual([
      { id: 3, name: "Vi" },
      { id: 5, name: "Big" },
      { id: 2, name: "Al" },
      { id: 1, name: "Bo" },
    ]);
    expect(reviewOrder([person(1, "Bo", 5, 1), person(4, "Done", 3, 3)], 4).map((ref) => ref.id)).toEqual([4, 1]);
  });
});

describe("chooseWork", () => {
  const queues = [queue(1, "lookalikes", 4), queue(2, "likely_wrong", 0), queue(3, "label_errors", 2)];
  it("takes the queue asked for, even an empty or unknown one", () => {
    expect(chooseWork(queues, 2, false).queue?.id).toBe(2);
    expect(chooseWork(queues, 9, false).queue).toBeNull();
  });
  it("reviews faces when asked, else the most urgent open queue with items", () => {
    expect(chooseWork(queues, null, true).queue).toBeNull();
    expect(chooseWork(queues, null, false).queue?.id).toBe(3);
    expect(chooseWork([queue(2, "likely_wrong", 0)], null, false).queue).toBeNull();
  });
});

describe("clampPageSize", () => {
  it("keeps ?size= within 24..60 and falls back to the default", () => {
    expect(clampPageSize("32")).toBe(32);
    expect(clampPageSize("5")).toBe(24);
    expect(clampPageSize("500")).toBe(60);
    expect(clampPageSize(null)).toBe(DEFAULT_PAGE_SIZE);
    expect(clampPageSize("abc")).toBe(DEFAULT_PAGE_SIZE);
  });
});
