/**
 * Where review pages come from and where decisions go; the screen talks to either source alike.
 *
 * - `QueueSource`: a review queue built by a training run or a chunk promotion. Items are leased
 *   (`POST /review/queues/{id}/next/`), a page of decisions goes in one all-or-nothing request
 *   (`POST /review/decisions/`, 409 lists stale faces), and undo takes back a whole operation.
 * - `IdentityFacesSource`: with no queue, the unverified faces of one identity after another
 *   (`GET /faces/?identity=&status=unverified`), decided face by face with `POST /faces/{id}/label/`
 *   and undone with `POST /label-events/{id}/undo/`.
 */
import { ApiError, api, type Face, type Identity, type LabelRequest, type Queue, type QueueItem, type RetryOptions, type SimilarFaces } from "../api/client";
import { groupByClaim, type Decision, type IdentityRef, type ReviewFace, type ReviewItem, type ReviewPage, type Suggestion, type Verdict } from "./reviewState";

export interface PageOutcome {
  /** Decisions saved, by item index. */
  decided: Map<number, Decision>;
  /** Faces refused because they changed since shown (409): refreshed, left open on the page. */
  stale: ReviewFace[];
  /** Other failures, by item index. */
  failed: Map<number, string>;
  eventIds: number[];
  operation: string | null;
}

/** One face's verdict in a decision on several faces; a relabel names the identity. */
export interface PageVerdict {
  index: number;
  verdict: Verdict;
  identity?: IdentityRef | null;
}

export interface ReviewSource {
  readonly description: string;
  /** The next page to review, or null when nothing is left. */
  next(): Promise<ReviewPage | null>;
  /** Put a page back in front (undo brought an older page back on screen). */
  putBack(page: ReviewPage): void;
  decide(item: ReviewItem, verdict: Verdict, identity?: IdentityRef | null): Promise<Decision>;
  /** Decide several faces of the page at once (Enter on a page, a key on a selected range). */
  confirmPage(page: ReviewPage, verdicts: PageVerdict[]): Promise<PageOutcome>;
  /** Leave the page's open faces for later (or for someone else); answers an undoable operation, if any. */
  skip(page: ReviewPage): Promise<string | null>;
  undo(eventIds: number[], operation?: string | null): Promise<void>;
  refresh(faceIds: number[]): Promise<ReviewFace[]>;
  suggestions(item: ReviewItem): Promise<Suggestion[]>;
  /** Verified faces of an identity, to compare with. */
  references(identity: number): Promise<ReviewFace[]>;
  /** Give back whatever the source holds (leases) when the screen leaves it. */
  close(): void;
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

/** One cache of reference faces per source: an identity's best verified faces. */
function referenceCache(): (identity: number) => Promise<ReviewFace[]> {
  const cache = new Map<number, Promise<ReviewFace[]>>();
  return (identity) => {
    let found = cache.get(identity);
    if (!found) {
      found = api.faces
        .list({ identity, status: "verified", page_size: 8, ordering: "-quality" })
        .then((answer) => answer.results)
        .catch(() => []);
      cache.set(identity, found);
    }
    return found;
  };
}

async function similarSuggestions(item: ReviewItem): Promise<Suggestion[]> {
  try {
    const similar = await api.faces.similar(item.face.id, 30);
    return suggestionsFromSimilar(similar.results, item.claim?.id ?? null);
  } catch {
    return [];
  }
}

/** Unverified faces of identities, one identity after another, `pageSize` faces a page. */
export class IdentityFacesSource implements ReviewSource {
  readonly description = "unverified faces of each identity";
  private readonly identities: IdentityRef[];
  private current = 0;
  private readonly seen = new Set<number>();
  private readonly buffer: ReviewPage[] = [];
  private pending: Promise<ReviewPage | null> | null = null;
  readonly references = referenceCache();

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
        const [references, count] = await Promise.all([this.references(claim.id), this.remaining(claim.id)]);
        return {
          key: `identity-${claim.id}-${faces[0].id}`,
          title: claim.name,
          claim,
          references,
          items: faces.map((face) => itemFor(face, claim)),
          remaining: count,
          remainingWhat: `unverified faces of ${claim.name}`,
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

  async decide(item: ReviewItem, verdict: Verdict, identity?: IdentityRef | null): Promise<Decision> {
    const answer = await api.faces.label(item.face.id, labelRequestFor(item, verdict, identity));
    return { verdict, identity: identity ?? null, eventIds: answer.event ? [answer.event.id] : [] };
  }

  async confirmPage(page: ReviewPage, verdicts: PageVerdict[]): Promise<PageOutcome> {
    const outcome: PageOutcome = { decided: new Map(), stale: [], failed: new Map(), eventIds: [], operation: null };
    await mapLimit(verdicts, 4, async ({ index, verdict, identity }) => {
      try {
        const decision = await this.decide(page.items[index], verdict, identity);
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

  async skip(): Promise<string | null> {
    // Nothing to release: skipped faces stay unverified and come back in a later session.
    return null;
  }

  async undo(eventIds: number[]): Promise<void> {
    // Newest first: each undo restores the label its event replaced.
    for (const id of [...eventIds].sort((a, b) => b - a)) await api.labelEvents.undo(id);
  }

  refresh(faceIds: number[]): Promise<ReviewFace[]> {
    return mapLimit(faceIds, 4, (id) => api.faces.get(id));
  }

  suggestions(item: ReviewItem): Promise<Suggestion[]> {
    return similarSuggestions(item);
  }

  close(): void {}
}

/**
 * Review queues in the order annotators should empty them. The default is the merged queue
 * (`likely_wrong`: both directions, most likely wrong label first), then new VIPs to verify; the
 * specific queues after them are secondary views of the same run.
 */
export const QUEUE_PRIORITY = ["likely_wrong", "chunk_verification", "label_errors", "non_faces", "confused_pairs", "low_precision", "lookalikes", "low_recall"];

export function queueOrder(queues: Queue[]): Queue[] {
  const rank = (queue: Queue) => (QUEUE_PRIORITY.indexOf(queue.kind) + 1 || QUEUE_PRIORITY.length + 1) * 1e6 - queue.id;
  return [...queues].filter((queue) => queue.is_open).sort((a, b) => rank(a) - rank(b));
}

/**
 * The queue action a verdict stands for. A page claims its faces are one identity: for a face
 * already labelled so, Enter confirms the label; for a face the model suggests (labelled otherwise
 * or unknown), Enter accepts the suggestion. Marking it wrong rejects a suggestion, or says the
 * labelled person is someone unknown; in the non-faces queue, wrong means not a face.
 */
export function queueAction(item: ReviewItem, verdict: Verdict, kind: string): string {
  const suggested = item.claim !== null && item.face.identity !== item.claim.id;
  switch (verdict) {
    case "confirm":
      return suggested ? "accept" : "confirm";
    case "wrong":
      if (kind === "non_faces") return "not_a_face";
      return suggested ? "reject" : "unknown";
    case "relabel":
      return "relabel";
    case "unknown":
      return "unknown";
    case "not_a_face":
      return "not_a_face";
  }
}

/** Pages from leased items: one page per claimed identity with enough faces, the rest on one mixed page. */
export function pagesFromItems(items: QueueItem[], queue: Pick<Queue, "id" | "title" | "kind">, minGroup = 8): ReviewPage[] {
  const groups = new Map<number | null, QueueItem[]>();
  for (const entry of items) groups.set(entry.identity, [...(groups.get(entry.identity) ?? []), entry]);
  const pages: ReviewPage[] = [];
  const mixed: QueueItem[] = [];
  for (const [identity, members] of groups) {
    if (identity !== null && members.length >= minGroup) {
      const claim = { id: identity, name: members[0].identity_name ?? `#${identity}` };
      pages.push({ key: `queue-${queue.id}-${members[0].id}`, title: claim.name, claim, references: [], items: members.map(reviewItemOf) });
    } else {
      mixed.push(...members);
    }
  }
  if (mixed.length) {
    mixed.sort((a, b) => b.score - a.score);
    // Grouped by claimed identity, so each group sits beside that identity's verified faces.
    pages.push({ key: `queue-${queue.id}-mixed-${mixed[0].id}`, title: queue.title, claim: null, references: [], items: groupByClaim(mixed.map(reviewItemOf)) });
  }
  return pages;
}

export function reviewItemOf(entry: QueueItem): ReviewItem {
  const suggestions = (entry.payload?.suggestions ?? []).map((s) => ({ id: s.identity, name: s.name, score: s.probability ?? null }));
  return {
    key: `item-${entry.id}`,
    itemId: entry.id,
    face: { ...entry.face, crop_url: entry.face.crop_url, identity_name: entry.face.identity_name ?? null },
    claim: entry.identity !== null ? { id: entry.identity, name: entry.identity_name ?? `#${entry.identity}` } : null,
    reason: entry.payload?.reason,
    score: entry.score,
    suggestions,
    marked: false,
    decided: null,
  };
}

/** The stale items a 409 from the decisions endpoint lists. */
function staleOf(error: ApiError): { item: number; face: number }[] {
  const body = error.body as { stale?: { item: number; face: number }[] } | null;
  return Array.isArray(body?.stale) ? body!.stale! : [];
}

/** A review queue's open items, leased a page at a time, decided a page at a time. */
export class QueueSource implements ReviewSource {
  readonly description: string;
  readonly references = referenceCache();
  private readonly seen = new Set<number>();
  private readonly buffer: ReviewPage[] = [];
  private pending: Promise<void> | null = null;
  private onScreen = 0;

  constructor(private readonly queue: Pick<Queue, "id" | "title" | "kind">, private readonly pageSize = DEFAULT_PAGE_SIZE) {
    this.description = queue.title;
  }

  /** Told (with a sentence to show) when a decision post is retried after a retryable server error. */
  onRetry: ((message: string) => void) | null = null;

  private retry(): RetryOptions {
    return {
      onRetry: (attempt, attempts, error) =>
        this.onRetry?.(`Saving failed (${error.message}); trying again (${attempt + 1} of ${attempts})…`),
    };
  }

  async next(): Promise<ReviewPage | null> {
    if (!this.buffer.length) await (this.pending ?? this.fill());
    this.pending = null;
    const page = this.buffer.shift() ?? null;
    this.onScreen = page?.items.length ?? 0;
    if (page) {
      if (page.claim) page.references = await this.references(page.claim.id);
      page.remaining = await api.review
        .queue(this.queue.id)
        .then((queue) => queue.open_count)
        .catch(() => null);
      page.remainingWhat = "open items in this queue";
      if (!this.buffer.length) this.prefetch();
    }
    return page;
  }

  /** Lease the next page while this one is reviewed (your own leases come back first, so ask for both). */
  prefetch(): void {
    if (this.pending) return;
    this.pending = this.fill().catch(() => undefined);
  }

  private async fill(): Promise<void> {
    const items = await api.review.next(this.queue.id, Math.min(200, this.onScreen + this.pageSize));
    const fresh = items.filter((entry) => !this.seen.has(entry.id));
    fresh.forEach((entry) => this.seen.add(entry.id));
    const pages = pagesFromItems(fresh, this.queue);
    pages.forEach((page) => page.items.forEach((entry) => preloadImage(entry.face.crop_url)));
    this.buffer.push(...pages);
  }

  putBack(page: ReviewPage): void {
    this.buffer.unshift(page);
  }

  private request(item: ReviewItem, verdict: Verdict, identity?: IdentityRef | null) {
    if (item.itemId === undefined) throw new Error("not a queue item");
    const action = queueAction(item, verdict, this.queue.kind);
    return { item: item.itemId, action: action as "confirm", identity: action === "relabel" ? identity?.id ?? null : undefined, version: item.face.version };
  }

  async decide(item: ReviewItem, verdict: Verdict, identity?: IdentityRef | null): Promise<Decision> {
    const answer = await api.review.decide([this.request(item, verdict, identity)], this.retry());
    return { verdict, identity: identity ?? null, eventIds: answer.label_events, operation: answer.operation };
  }

  async confirmPage(page: ReviewPage, verdicts: PageVerdict[]): Promise<PageOutcome> {
    const outcome: PageOutcome = { decided: new Map(), stale: [], failed: new Map(), eventIds: [], operation: null };
    try {
      const answer = await api.review.decide(verdicts.map(({ index, verdict, identity }) => this.request(page.items[index], verdict, identity)), this.retry());
      for (const { index, verdict, identity } of verdicts) outcome.decided.set(index, { verdict, identity: identity ?? null, eventIds: [], operation: answer.operation });
      outcome.eventIds = answer.label_events;
      outcome.operation = answer.operation;
    } catch (error) {
      if (!(error instanceof ApiError) || !error.isConflict) throw error;
      const stale = staleOf(error);
      if (stale.length) {
        outcome.stale = await this.refresh(stale.map((entry) => entry.face));
      } else {
        // Decided elsewhere or leased to someone else: the whole page is refused; say which item.
        const itemId = (error.body as { item?: number } | null)?.item;
        const index = page.items.findIndex((entry) => entry.itemId === itemId);
        outcome.failed.set(index >= 0 ? index : verdicts[0].index, error.message);
      }
    }
    return outcome;
  }

  async skip(page: ReviewPage): Promise<string | null> {
    const open = page.items.filter((entry) => !entry.decided && entry.itemId !== undefined);
    if (!open.length) return null;
    const answer = await api.review.decide(open.map((entry) => ({ item: entry.itemId!, action: "skip" as const, version: entry.face.version })), this.retry());
    return answer.operation;
  }

  async undo(eventIds: number[], operation?: string | null): Promise<void> {
    if (operation) await api.review.undo(operation);
    else for (const id of [...eventIds].sort((a, b) => b - a)) await api.labelEvents.undo(id);
  }

  refresh(faceIds: number[]): Promise<ReviewFace[]> {
    return mapLimit(faceIds, 4, (id) => api.faces.get(id));
  }

  async suggestions(item: ReviewItem): Promise<Suggestion[]> {
    return item.suggestions.length ? item.suggestions : similarSuggestions(item);
  }

  close(): void {
    void api.review.release(this.queue.id).catch(() => undefined);
  }
}

export function preloadImage(url: string | null | undefined): void {
  if (!url || typeof Image === "undefined") return;
  const image = new Image();
  image.decoding = "async";
  image.src = url;
}
