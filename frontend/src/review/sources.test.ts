import { afterEach, describe, expect, it, vi } from "vitest";

import { setFetch } from "../api/client";
import { face, item, page } from "../test-fixtures";
import { IdentityFacesSource, QueueSource, labelRequestFor, mapLimit, pagesFromItems, queueAction, queueOrder, reviewItemOf, suggestionsFromSimilar } from "./sources";

afterEach(() => setFetch(null));

describe("what each verdict writes on a face", () => {
  const entry = item(7, { face: face(7, { version: 4 }) });

  it("confirm verifies the claimed identity; wrong removes it and keeps the face unverified", () => {
    expect(labelRequestFor(entry, "confirm")).toMatchObject({ identity: 1, status: "verified", expected_version: 4 });
    expect(labelRequestFor(entry, "wrong")).toMatchObject({ identity: null, status: "unverified", expected_version: 4, reason: "review: not Ada" });
  });

  it("relabel, unknown and not-a-face", () => {
    expect(labelRequestFor(entry, "relabel", { id: 9, name: "Bob" })).toMatchObject({ identity: 9, status: "verified" });
    expect(labelRequestFor(entry, "unknown")).toMatchObject({ identity: null, status: "verified" });
    const notAFace = labelRequestFor(entry, "not_a_face");
    expect(notAFace).toMatchObject({ status: "not_a_face" });
    expect("identity" in notAFace).toBe(false);
    expect(() => labelRequestFor(entry, "relabel")).toThrow();
  });
});

describe("suggestions from similar faces", () => {
  it("ranks other identities by their best similarity and leaves out the claim and non-faces", () => {
    const rows = [
      { score: 0.9, face: face(1, { identity: 1, identity_name: "Ada" }) },
      { score: 0.8, face: face(2, { identity: 2, identity_name: "Bob" }) },
      { score: 0.85, face: face(3, { identity: 3, identity_name: "Cy" }) },
      { score: 0.7, face: face(4, { identity: 2, identity_name: "Bob" }) },
      { score: 0.95, face: face(5, { identity: 4, identity_name: "Dee", status: "not_a_face" }) },
      { score: 0.99, face: face(6, { identity: null, identity_name: null }) },
    ];
    expect(suggestionsFromSimilar(rows, 1)).toEqual([
      { id: 3, name: "Cy", score: 0.85 },
      { id: 2, name: "Bob", score: 0.8 },
    ]);
  });
});

describe("mapLimit", () => {
  it("keeps the order and never runs more than the limit at once", async () => {
    let running = 0;
    let most = 0;
    const results = await mapLimit([5, 1, 4, 2, 3], 2, async (value) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, value));
      running -= 1;
      return value * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});

describe("reviewing an identity's faces through the faces API", () => {
  it("confirms a page face by face and reports a stale face (409) without losing the others", async () => {
    const calls: string[] = [];
    setFetch(
      vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
        const path = String(url);
        calls.push(`${init?.method ?? "GET"} ${path}`);
        if (path === "/api/v1/faces/2/label/") return new Response(JSON.stringify({ detail: "Face 2 changed since it was shown", code: "stale" }), { status: 409 });
        if (path === "/api/v1/faces/2/") return new Response(JSON.stringify(face(2, { version: 3, identity_name: "Bob" })), { status: 200 });
        const id = Number(path.split("/")[4]);
        return new Response(JSON.stringify({ face: face(id, { version: 1 }), event: { id: 100 + id } }), { status: 200 });
      }) as unknown as typeof fetch,
    );
    const source = new IdentityFacesSource([{ id: 1, name: "Ada" }], 24);
    const shown = page(3);
    shown.items[2].marked = true;
    const outcome = await source.confirmPage(shown, [
      { index: 0, verdict: "confirm" },
      { index: 1, verdict: "confirm" },
      { index: 2, verdict: "wrong" },
    ]);
    expect([...outcome.decided.keys()].sort()).toEqual([0, 2]);
    expect(outcome.eventIds.sort()).toEqual([101, 103]);
    expect(outcome.stale.map((f) => [f.id, f.version])).toEqual([[2, 3]]);
    expect(outcome.failed.size).toBe(0);
    expect(calls).toContain("GET /api/v1/faces/2/");
  });

  it("serves pages of unverified faces with the identity's verified faces beside them, and skips what it showed", async () => {
    const unverified = Array.from({ length: 30 }, (_, i) => face(i + 1));
    setFetch(
      vi.fn(async (url: RequestInfo | URL) => {
        const query = new URL(String(url), "http://x").searchParams;
        if (query.get("status") === "verified") return new Response(JSON.stringify({ count: 1, results: [face(99, { status: "verified" })] }));
        if (query.get("page_size") === "1") return new Response(JSON.stringify({ count: unverified.length, results: [] }));
        const size = Number(query.get("page_size"));
        const number = Number(query.get("page"));
        const results = unverified.slice((number - 1) * size, number * size);
        return new Response(JSON.stringify({ count: unverified.length, next: number * size < unverified.length ? "more" : null, results }));
      }) as unknown as typeof fetch,
    );
    const source = new IdentityFacesSource([{ id: 1, name: "Ada" }], 24);
    const first = await source.next();
    expect(first!.items.map((i) => i.face.id)).toEqual(unverified.slice(0, 24).map((f) => f.id));
    expect(first!.references.map((f) => f.id)).toEqual([99]);
    expect(first!.remaining).toBe(30);
    // Nothing was decided (a skip): the next page holds the six faces not shown yet.
    const second = await source.next();
    expect(second!.items.map((i) => i.face.id)).toEqual([25, 26, 27, 28, 29, 30]);
    expect(await source.next()).toBeNull();
  });
});

describe("reviewing a queue", () => {
  const queue = { id: 4, title: "Suspected label errors among VIP faces", kind: "label_errors" as const };
  const leased = (id: number, identity: number | null, faceIdentity: number | null, score = 1) => ({
    id,
    queue: 4,
    kind: "label_errors",
    score,
    state: "open" as const,
    identity,
    identity_name: identity ? `P${identity}` : null,
    payload: { reason: "noisy", suggestions: [{ identity: 9, name: "Nine", probability: 0.7 }] },
    face: { id: 100 + id, crop_url: null, identity: faceIdentity, identity_name: null, status: "unverified", split: "train", version: 2, source: "crop", detector_score: null, quality: null },
    served_version: 2,
    leased_to: "ann",
    leased_until: null,
  });

  it("maps verdicts to queue actions: confirm a label, accept a suggestion, reject it, or say unknown", () => {
    const labelled = reviewItemOf(leased(1, 5, 5));
    const suggested = reviewItemOf(leased(2, 5, null));
    expect(queueAction(labelled, "confirm", "label_errors")).toBe("confirm");
    expect(queueAction(suggested, "confirm", "low_recall")).toBe("accept");
    expect(queueAction(labelled, "wrong", "label_errors")).toBe("unknown");
    expect(queueAction(suggested, "wrong", "low_recall")).toBe("reject");
    expect(queueAction(labelled, "wrong", "non_faces")).toBe("not_a_face");
    expect(queueAction(labelled, "relabel", "label_errors")).toBe("relabel");
    expect(reviewItemOf(leased(1, 5, 5)).suggestions).toEqual([{ id: 9, name: "Nine", score: 0.7 }]);
  });

  it("pages leased items by claimed identity, small groups together on one mixed page", () => {
    const items = [...Array.from({ length: 8 }, (_, i) => leased(i + 1, 5, 5, 10 - i)), leased(20, 6, 6, 3), leased(21, null, null, 9)];
    const pages = pagesFromItems(items, queue);
    expect(pages.map((p) => [p.claim?.name ?? null, p.items.length])).toEqual([
      ["P5", 8],
      [null, 2],
    ]);
    expect(pages[1].items.map((i) => i.itemId)).toEqual([21, 20]); // most likely wrong first
  });

  it("groups a mixed page by claimed identity, the group of the likeliest mistake first", () => {
    const items = [leased(1, 5, 5, 2), leased(2, 6, 6, 9), leased(3, 5, 5, 8), leased(4, 6, 6, 1)];
    const [mixed] = pagesFromItems(items, queue);
    expect(mixed.items.map((i) => [i.claim?.id, i.itemId])).toEqual([
      [6, 2],
      [6, 4],
      [5, 3],
      [5, 1],
    ]);
  });

  it("sends a page as one request and, on 409, reloads just the stale faces", async () => {
    const bodies: unknown[] = [];
    setFetch(
      vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
        if (String(url) === "/api/v1/review/decisions/") {
          bodies.push(JSON.parse(String(init?.body)));
          return new Response(JSON.stringify({ detail: "1 of these faces changed", code: "stale", stale: [{ item: 2, face: 102, version_seen: 2, version_now: 3 }] }), { status: 409 });
        }
        return new Response(JSON.stringify(face(102, { version: 3 })), { status: 200 });
      }) as unknown as typeof fetch,
    );
    const source = new QueueSource(queue);
    const shown = pagesFromItems([leased(1, 5, 5), leased(2, 5, 5)], queue, 1)[0];
    shown.items[1].marked = true;
    const outcome = await source.confirmPage(shown, [
      { index: 0, verdict: "confirm" },
      { index: 1, verdict: "wrong" },
    ]);
    expect(bodies[0]).toEqual({ decisions: [{ item: 1, action: "confirm", version: 2 }, { item: 2, action: "unknown", version: 2 }] });
    expect(outcome.decided.size).toBe(0);
    expect(outcome.stale.map((f) => [f.id, f.version])).toEqual([[102, 3]]);
  });
});

describe("which queue the review screen opens by default", () => {
  const queue = (id: number, kind: string, is_open = true) =>
    ({ id, kind, is_open, title: kind, open_count: 3 }) as unknown as Parameters<typeof queueOrder>[0][number];

  it("puts the merged most-likely-wrong queue first, then new VIPs, then the specific views", () => {
    const ordered = queueOrder([queue(1, "lookalikes"), queue(2, "chunk_verification"), queue(3, "likely_wrong"), queue(4, "label_errors")]);
    expect(ordered.map((q) => q.kind)).toEqual(["likely_wrong", "chunk_verification", "label_errors", "lookalikes"]);
  });

  it("leaves closed queues out and prefers the newest queue of a kind", () => {
    const ordered = queueOrder([queue(3, "likely_wrong", false), queue(5, "likely_wrong"), queue(4, "likely_wrong")]);
    expect(ordered.map((q) => q.id)).toEqual([5, 4]);
  });
});
