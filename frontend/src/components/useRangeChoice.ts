/**
 * Choosing faces on a grid of checkboxes, the same way on every screen that chooses faces: a click
 * (or Space) flips one face, Shift+click chooses the range from the last face flipped, the arrow
 * keys move between the faces' boxes and Shift+arrows choose the faces passed over
 * (`rangeSelect.ts` holds the rule). Each box carries `data-choose={faceId}`.
 */
import { useState, type KeyboardEvent } from "react";

import { moveCursor, type Direction } from "../review/reviewState";
import { emptyChoice, extendChoice, toggleChoice, type Choice } from "./rangeSelect";

const ARROWS: Record<string, Direction> = { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "up", ArrowDown: "down" };

export interface RangeChoice {
  chosen: ReadonlySet<number>;
  /** A click on a face's box: alone it flips that face; with Shift it chooses the range up to it. */
  choose: (id: number, shift: boolean) => void;
  /** For the grid's element: arrows move between the boxes (rows as laid out), Shift+arrows choose. */
  onKeyDown: (event: KeyboardEvent<HTMLElement>) => void;
  chooseAll: () => void;
  clear: () => void;
}

export function useRangeChoice(order: readonly number[]): RangeChoice {
  const [choice, setChoice] = useState<Choice<number>>(emptyChoice);
  function onKeyDown(event: KeyboardEvent<HTMLElement>) {
    const direction = ARROWS[event.key];
    const from = order.indexOf(Number((event.target as HTMLElement).dataset.choose));
    if (!direction || from < 0 || event.ctrlKey || event.metaKey || event.altKey) return;
    const boxes = [...event.currentTarget.querySelectorAll<HTMLInputElement>("input[data-choose]")];
    const top = boxes[0]?.closest("li")?.offsetTop;
    const columns = Math.max(1, boxes.filter((box) => box.closest("li")?.offsetTop === top).length);
    const to = moveCursor(from, direction, order.length, columns);
    event.preventDefault();
    if (to === from) return;
    boxes[to]?.focus();
    // A plain arrow moves where the next range starts; Shift+arrow chooses from there to the new face.
    if (!event.shiftKey) setChoice((state) => ({ ...state, anchor: order[to], base: state.chosen }));
    else setChoice((state) => extendChoice(order, state.anchor === null ? { ...state, anchor: order[from], base: state.chosen } : state, order[to]));
  }
  return {
    chosen: choice.chosen,
    choose: (id, shift) => setChoice((state) => (shift ? extendChoice(order, state, id) : toggleChoice(state, id))),
    onKeyDown,
    chooseAll: () => setChoice({ chosen: new Set(order), anchor: null, base: new Set(order) }),
    clear: () => setChoice(emptyChoice()),
  };
}
