import { describe, expect, it } from "vitest";

import { chosenInOrder, emptyChoice, extendChoice, rangeIndexes, toggleChoice } from "./rangeSelect";

const order = [10, 11, 12, 13, 14, 15];
const ids = (set: ReadonlySet<number>) => [...set].sort((a, b) => a - b);

describe("rangeIndexes", () => {
  it("covers both ends whichever way the range runs", () => {
    expect(rangeIndexes(2, 5)).toEqual([2, 3, 4, 5]);
    expect(rangeIndexes(5, 2)).toEqual([2, 3, 4, 5]);
    expect(rangeIndexes(3, 3)).toEqual([3]);
  });
});

describe("choosing cells with and without Shift", () => {
  it("toggles one cell with a plain click and makes it the anchor", () => {
    const once = toggleChoice(emptyChoice<number>(), 12);
    expect(ids(once.chosen)).toEqual([12]);
    expect(once.anchor).toBe(12);
    const twice = toggleChoice(once, 12);
    expect(ids(twice.chosen)).toEqual([]);
  });

  it("chooses every cell from the anchor to a shift-clicked cell, backwards too", () => {
    const anchored = toggleChoice(emptyChoice<number>(), 11);
    expect(ids(extendChoice(order, anchored, 14).chosen)).toEqual([11, 12, 13, 14]);
    const backwards = toggleChoice(emptyChoice<number>(), 14);
    expect(ids(extendChoice(order, backwards, 12).chosen)).toEqual([12, 13, 14]);
  });

  it("lets a range shrink again as Shift+arrows walk back, keeping what was chosen before it", () => {
    let state = toggleChoice(emptyChoice<number>(), 15); // chosen on its own, before the range
    state = toggleChoice(state, 10);
    state = extendChoice(order, state, 11);
    state = extendChoice(order, state, 12);
    expect(ids(state.chosen)).toEqual([10, 11, 12, 15]);
    state = extendChoice(order, state, 11);
    expect(ids(state.chosen)).toEqual([10, 11, 15]);
    expect(state.anchor).toBe(10);
  });

  it("starts the range at the target when there is no anchor on the list", () => {
    expect(ids(extendChoice(order, emptyChoice<number>(), 13).chosen)).toEqual([13]);
    const gone = { chosen: new Set([99]), anchor: 99, base: new Set([99]) };
    const state = extendChoice(order, gone, 13);
    expect(ids(state.chosen)).toEqual([13, 99]);
    expect(state.anchor).toBe(13);
    expect(extendChoice(order, state, 42)).toBe(state); // not on the list: nothing changes
  });

  it("lists the chosen cells in the grid's order", () => {
    expect(chosenInOrder(order, new Set([14, 10, 12]))).toEqual([10, 12, 14]);
  });
});
