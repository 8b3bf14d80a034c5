/**
 * Range selection over an ordered list of face cells (Shift+click, Shift+arrow keys), one rule for
 * every face grid. A selection has an anchor (the cell where the range started) and the cells
 * chosen before that range began (`base`); a range adds every cell from the anchor to the target.
 * Pure functions, unit-tested alone.
 */

/** The indexes from `anchor` to `target`, both included, in ascending order. */
export function rangeIndexes(anchor: number, target: number): number[] {
  const [low, high] = anchor <= target ? [anchor, target] : [target, anchor];
  return Array.from({ length: high - low + 1 }, (_, offset) => low + offset);
}

export interface Choice<T> {
  chosen: ReadonlySet<T>;
  /** Where the range started: the last cell toggled by itself. */
  anchor: T | null;
  /** What was chosen when the anchor was set: a range is added to this, so it can shrink again. */
  base: ReadonlySet<T>;
}

export function emptyChoice<T>(): Choice<T> {
  return { chosen: new Set(), anchor: null, base: new Set() };
}

/** A plain click (or Space) on `target`: it alone flips, and becomes the anchor of the next range. */
export function toggleChoice<T>(state: Choice<T>, target: T): Choice<T> {
  const chosen = new Set(state.chosen);
  if (chosen.has(target)) chosen.delete(target);
  else chosen.add(target);
  return { chosen, anchor: target, base: chosen };
}

/**
 * Shift+click or Shift+arrow onto `target`: every cell of `order` from the anchor to `target` is
 * chosen, on top of what was chosen before the range began. Without an anchor on the list, the
 * range starts at `target` (which is chosen).
 */
export function extendChoice<T>(order: readonly T[], state: Choice<T>, target: T): Choice<T> {
  const to = order.indexOf(target);
  if (to < 0) return state;
  const from = state.anchor === null ? -1 : order.indexOf(state.anchor);
  const anchor = from < 0 ? target : (state.anchor as T);
  const base = from < 0 ? state.chosen : state.base;
  const chosen = new Set(base);
  for (const index of rangeIndexes(from < 0 ? to : from, to)) chosen.add(order[index]);
  return { chosen, anchor, base };
}

/** The chosen cells of `order`, in its order (what a bulk action acts on). */
export function chosenInOrder<T>(order: readonly T[], chosen: ReadonlySet<T>): T[] {
  return order.filter((cell) => chosen.has(cell));
}
