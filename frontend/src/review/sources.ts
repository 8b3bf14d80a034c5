/**
 * Where review pages come from and where decisions go.
 *
 * `IdentityFacesSource` reviews the unverified faces of one identity after another through the
 * faces API (`GET /faces/?identity=&status=unverified`, `POST /faces/{id}/label/`, undo through
 * `POST /label-events/{id}/undo/`). A queue-backed source implements the same interface once the
 * review-queue API serves leased items, so the screen does not care which one it talks to.
 */
import { ApiError, api, type Face, type Identity, type LabelRequest, type SimilarFaces } from "../api/client";
import type { Decision, IdentityRef, ReviewItem, ReviewPage, Suggestion, Verdict } from "./reviewState";

export interface PageOutcome {
  /** Decisions saved, by item index. */
  decided: Map<number, Decision>;
  /** Faces refused because they changed since shown (409): refreshed, left open on the page. */
  stale: Face[];
  /** Other failures, by item index. */
  failed: Map<number, string>;
  eventIds: number[];
  operation: string | null;
}

export interface ReviewSource {
  readonly description: string;
  /** The next page to review, or null when nothing is left. */
  next(): Promise<ReviewPage | null>;
  /** Put a page back in front (undo brought an older page back on screen). */
  putBack(page: ReviewPage): void;
  decide(item: ReviewItem, verdict: Verdict, identity?: IdentityRef | null): Promise<Decision>;
  confirmPage(page: ReviewPage, verdicts: { index: number; verdict: Verdict }[]): Promise<PageOutcome>;
  skip(page: ReviewPage): Promise<void>;
  undo(eventIds: number[], operation?: string | null): Promise<void>;
  refresh(faceIds: number[]): Promise<Face[]>;
  suggestions(item: ReviewItem): Promise<Suggestion[]>;
}

export const DEFAULT_PAGE_SIZE = 40;

/** The label a verdict gives a face, as the faces API wants it. */
export function labelRequestFor(item: ReviewItem, verdict: Verdict, identity?: IdentityRef | null): LabelRequest {
  const claim = item.claim;
  const base = { expected_version: item.face.version };
  switch (verdict) {
    case "confirm":
      return { ...base, identity: claim ? claim.id : item.face.identity, status: "verified", reason: "review: confirmed" };
    case "wrong":
      return { ...base, identity: null, status: "unverified", reason: claim ? `review: not ${claim.name}` : "review: wrong" };
    case "relabel":
      if (!identity) throw new Error("relabel needs an identity");
      return { ...base, identity: identity.id, status: "verified", reason: "review: relabelled" };
    case "unknown":
      return { ...base, identity: null, status: "verified", reason: "review: unknown person" };
    case "not_a_face":
      return { ...base, status: "not_a_face", reason: "review: not a face" };
  }
}

/** Run `work` over `items` with at most `limit` at a time, keeping the results in order. */
export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Identities ranked by a face's nearest neighbours (best similarity per identity): the top-k
 * suggestions when no trained model has scored the face yet. Faces of every status
 * count (not-a-face ones do not); the identity the face is claimed to be is left out.
 */
export function suggestionsFromSimilar(similar: SimilarFaces["results"], exclude: number | null, k = 5): Suggestion[] {
  const scores = new Map<number, { name: string; score: number }>();
  for (const row of similar) {
    const identity = row.face.identity;
    if (identity === null || identity === exclude || row.face.status === "not_a_face") continue;
    const current = scores.get(identity);
    if (!current || row.score > current.score) scores.set(identity, { name: row.face.identity_name ?? `#${identity}`, score: row.score });
  }
  return [...scores.entries()]
    .sort((a, b) => b[1].score - a[1].score)
    .slice(0, k)
    .map(([id, { name, score }]) => ({ id, name, score }));
}

export function unverifiedCount(identity: Identity): number {
  return Math.max(0, (identity.face_count ?? 0) - (identity.verified_count ?? 0));
}

function itemFor(face: Face, claim: IdentityRef): ReviewItem {
  return { key: `face-${face.id}`, face, claim, suggestions: [], marked: false, decided: null };
}

/** Unverified faces of identities, one identity after another, `pageSize` faces a page. */
export class IdentityFacesSource implements ReviewSource {
  readonly description = "unverified faces of each identity";
  private readonly identities: IdentityRef[];
  private current = 0;
  private readonly seen = new Set<number>();
  private readonly buffer: ReviewPage[] = [];
  private pending: Promise<ReviewPage | null> | null = null;
  private readonly references = new Map<number, Promise<Face[]>>();

  constructor(identities: IdentityRef[], private readonly pageSize = DEFAULT_PAGE_SIZE) {
    this.identities = identities;
  }

  async next(): Promise<ReviewPage | null> {
    const page = this.buffer.shift() ?? (await (this.pending ?? this.load()));
    this.pending = null;
    if (page) this.prefetch();
    return page;
  }

  /** Load the page after the one on screen now, and warm the browser's cache with its images. */
  prefetch(): void {
    if (this.buffer.length || this.pending) return;
    this.pending = this.load().then((page) => {
      page?.items.forEach((item) => preloadImage(item.face.crop_url));
      return page;
    });
  }

  putBack(page: ReviewPage): void {
    this.buffer.unshift(page);
  }

  private async load(): Promise<ReviewPage | null> {
    while (this.current < this.identities.length) {
      const claim = this.identities[this.current];
      const faces = await this.unseenFaces(claim.id);
      if (faces.length) {
        faces.forEach((face) => this.seen.add(face.id));
        const [references, count] = await Promise.all([this.referencesOf(claim.id), this.remaining(claim.id)]);
        return {
          key: `identity-${claim.id}-${faces[0].id}`,
          title: claim.name,
          claim,
          references,
          items: faces.map((face) => itemFor(face, claim)),
          remaining: count,
        };
      }
      this.current += 1;
    }
    return null;
  }

  /** Up to a page of this identity's unverified faces not shown yet (skipped ones stay in the list). */
  private async unseenFaces(identity: number): Promise<Face[]> {
    const found: Face[] = [];
    for (let pageNumber = 1; pageNumber <= 20 && found.length < this.pageSize; pageNumber += 1) {
      const answer = await api.faces.list({ identity, status: "unverified", ordering: "id", page_size: this.pageSize * 2, page: pageNumber });
      for (const face of answer.results) if (!this.seen.has(face.id) && found.length < this.pageSize) found.push(face);
      if (!answer.next) break;
    }
    return found;
  }

  private async remaining(identity: number): Promise<number | null> {
    try {
      return (await api.faces.list({ identity, status: "unverified", page_size: 1 })).count;
    } catch {
      return null;
    }
  }

  private referencesOf(identity: number): Promise<Face[]> {
    let cached = this.references.get(identity);
    if (!cached) {
      cached = api.faces
        .list({ identity, status: "verified", page_size: 8, ordering: "-quality" })
        .then((answer) => answer.results)
        .catch(() => []);
      this.references.set(identity, cached);
    }
    return cached;
  }

  async decide(item: ReviewItem, verdict: Verdict, identity?: IdentityRef | null): Promise<Decision> {
    const answer = await api.faces.label(item.face.id, labelRequestFor(item, verdict, identity));
    return { verdict, identity: identity ?? null, eventIds: answer.event ? [answer.event.id] : [] };
  }

  async confirmPage(page: ReviewPage, verdicts: { index: number; verdict: Verdict }[]): Promise<PageOutcome> {
    const outcome: PageOutcome = { decided: new Map(), stale: [], failed: new Map(), eventIds: [], operation: null };
    await mapLimit(verdicts, 4, async ({ index, verdict }) => {
      try {
        const decision = await this.decide(page.items[index], verdict);
        outcome.decided.set(index, decision);
        outcome.eventIds.push(...decision.eventIds);
      } catch (error) {
        if (error instanceof ApiError && error.isConflict) {
          outcome.stale.push(await api.faces.get(page.items[index].face.id));
        } else {
          outcome.failed.set(index, error instanceof Error ? error.message : String(error));
        }
      }
    });
    return outcome;
  }

  async skip(): Promise<void> {
    // Nothing to release: skipped faces stay unverified and come back in a later session.
  }

  async undo(eventIds: number[]): Promise<void> {
    // Newest first: each undo restores the label its event replaced.
    for (const id of [...eventIds].sort((a, b) => b - a)) await api.labelEvents.undo(id);
  }

  refresh(faceIds: number[]): Promise<Face[]> {
    return mapLimit(faceIds, 4, (id) => api.faces.get(id));
  }

  async suggestions(item: ReviewItem): Promise<Suggestion[]> {
    if (item.suggestions.length) return item.suggestions;
    try {
      const similar = await api.faces.similar(item.face.id, 30);
      return suggestionsFromSimilar(similar.results, item.claim?.id ?? null);
    } catch {
      return [];
    }
  }
}

export function preloadImage(url: string | null | undefined): void {
  if (!url || typeof Image === "undefined") return;
  const image = new Image();
  image.decoding = "async";
  image.src = url;
}
