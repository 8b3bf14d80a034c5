/**
 * What the review screen works through, chosen from the address bar: which review queue (or which
 * identities' unverified faces, in what order) and how many faces a page holds. Pure functions.
 */
import type { Identity, Queue } from "../api/client";
import type { IdentityRef } from "./reviewState";
import { DEFAULT_PAGE_SIZE, queueOrder, unverifiedCount } from "./sources";

/** Identities to review, in order: the one asked for first, then VIPs and the most unverified. */
export function reviewOrder(identities: Identity[], first: number | null): IdentityRef[] {
  const open = identities.filter((identity) => unverifiedCount(identity) > 0 || identity.id === first);
  open.sort(
    (a, b) =>
      Number(b.id === first) - Number(a.id === first) ||
      Number(b.role === "vip") - Number(a.role === "vip") ||
      unverifiedCount(b) - unverifiedCount(a) ||
      a.name.localeCompare(b.name),
  );
  return open.map(({ id, name }) => ({ id, name }));
}

/** The page sizes the page-size picker offers (a ?size= between them is offered too). */
export const PAGE_SIZES = [24, 32, 40, 48, 60];

/** The page size asked for by ?size=, kept within 24..60; the default when absent or not a number. */
export function clampPageSize(value: string | null): number {
  const size = Number(value);
  return Number.isFinite(size) && size > 0 ? Math.min(60, Math.max(24, Math.round(size))) : DEFAULT_PAGE_SIZE;
}

/**
 * What to review: the queue asked for (?queue=), else unverified faces when asked for
 * (?identity=<id> or ?identity=all), else the most urgent open queue, else unverified faces.
 */
export function chooseWork(queues: Queue[], queueParam: number | null, wantsFaces: boolean): { queue: Queue | null } {
  if (queueParam !== null) return { queue: queues.find((queue) => queue.id === queueParam) ?? null };
  if (wantsFaces) return { queue: null };
  return { queue: queueOrder(queues).find((queue) => queue.open_count > 0) ?? null };
}
