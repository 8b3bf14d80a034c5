import { describe, expect, it } from "vitest";

import { SHORTCUTS, isTyping, keyLabel, keysOf, matchShortcut, type ShortcutAction } from "./shortcuts";

const press = (key: string, extra: Partial<KeyboardEventInit> & { target?: EventTarget | null } = {}) => ({ key, ...extra });

describe("the shortcut table", () => {
  it("gives every key (with or without Shift) at most one action per scope", () => {
    for (const scope of ["review", "relabel", "global", "tags"] as const) {
      const keys = SHORTCUTS.filter((s) => s.scope === scope).flatMap((s) => s.keys.map((k) => `${s.shift ? "shift+" : ""}${k.toLowerCase()}`));
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it("does not let a review key shadow a global one", () => {
    const global = SHORTCUTS.filter((s) => s.scope === "global").flatMap((s) => s.keys);
    const review = SHORTCUTS.filter((s) => s.scope === "review").flatMap((s) => s.keys);
    expect(review.filter((key) => global.includes(key))).toEqual([]);
  });

  it("maps the tag review keys, and leaves the global ones alone", () => {
    const expected: [string, ShortcutAction][] = [
      ["ArrowDown", "tagNext"],
      ["j", "tagNext"],
      ["ArrowUp", "tagPrevious"],
      ["K", "tagPrevious"],
      ["Enter", "tagConfirm"],
      ["y", "tagConfirm"],
      ["n", "tagReject"],
      ["x", "tagReject"],
      ["o", "tagOpenVideo"],
      ["?", "help"],
      ["Escape", "closeDialog"],
    ];
    for (const [key, action] of expected) expect(matchShortcut(press(key), ["tags", "global"]), key).toBe(action);
    expect(matchShortcut(press("Enter"), ["review", "global"])).toBe("confirm");
    const global = SHORTCUTS.filter((s) => s.scope === "global").flatMap((s) => s.keys);
    expect(SHORTCUTS.filter((s) => s.scope === "tags").flatMap((s) => s.keys).filter((key) => global.includes(key))).toEqual([]);
  });

  it("maps the review keys the annotators learn", () => {
    const expected: [string, ShortcutAction][] = [
      ["ArrowLeft", "moveLeft"],
      ["ArrowRight", "moveRight"],
      ["ArrowUp", "moveUp"],
      ["ArrowDown", "moveDown"],
      [" ", "toggleWrong"],
      ["x", "toggleWrong"],
      ["Enter", "confirm"],
      ["r", "relabel"],
      ["u", "unknown"],
      ["n", "notAFace"],
      ["z", "undo"],
      ["s", "skip"],
      ["?", "help"],
      ["Escape", "closeDialog"],
    ];
    for (const [key, action] of expected) expect(matchShortcut(press(key))).toBe(action);
  });

  it("extends the selected range with Shift+arrows, and moves with the plain arrows", () => {
    expect(matchShortcut(press("ArrowRight", { shiftKey: true }))).toBe("extendRight");
    expect(matchShortcut(press("ArrowLeft", { shiftKey: true }))).toBe("extendLeft");
    expect(matchShortcut(press("ArrowUp", { shiftKey: true }))).toBe("extendUp");
    expect(matchShortcut(press("ArrowDown", { shiftKey: true }))).toBe("extendDown");
    expect(matchShortcut(press("ArrowRight"))).toBe("moveRight");
    expect(matchShortcut(press("?", { shiftKey: true }))).toBe("help"); // Shift is how "?" is typed
    expect(keysOf("extendRight")).toBe("Shift+→");
  });

  it("matches letters in either case (caps lock on)", () => {
    expect(matchShortcut(press("X"))).toBe("toggleWrong");
    expect(matchShortcut(press("Z"))).toBe("undo");
  });

  it("leaves browser and system combinations alone", () => {
    expect(matchShortcut(press("r", { ctrlKey: true }))).toBeNull();
    expect(matchShortcut(press("z", { metaKey: true }))).toBeNull();
    expect(matchShortcut(press("s", { altKey: true }))).toBeNull();
  });

  it("stays out of the way while the user types, except for Escape", () => {
    const input = document.createElement("input");
    expect(isTyping(input)).toBe(true);
    expect(matchShortcut(press("u", { target: input }))).toBeNull();
    expect(matchShortcut(press("Enter", { target: input }))).toBeNull();
    expect(matchShortcut(press("Escape", { target: input }))).toBe("closeDialog");
    const checkbox = Object.assign(document.createElement("input"), { type: "checkbox" });
    expect(isTyping(checkbox)).toBe(false);
  });

  it("uses the relabel rows, which work inside the search field, only in the relabel scope", () => {
    const input = document.createElement("input");
    expect(matchShortcut(press("ArrowDown", { target: input }), ["relabel", "global"])).toBe("optionDown");
    expect(matchShortcut(press("Enter", { target: input }), ["relabel", "global"])).toBe("applyOption");
    expect(matchShortcut(press("ArrowDown"), ["review", "global"])).toBe("moveDown");
  });

  it("writes keys the way the help overlay shows them", () => {
    expect(keyLabel(" ")).toBe("Space");
    expect(keyLabel("ArrowLeft")).toBe("←");
    expect(keyLabel("r")).toBe("R");
    expect(keysOf("toggleWrong")).toBe("Space / X");
  });
});

describe("acceptsPageShortcuts", () => {
  it("takes keys on the grid or with nothing focused, never on a control", async () => {
    const { acceptsPageShortcuts } = await import("./shortcuts");
    const grid = document.createElement("ol");
    const cell = document.createElement("li");
    grid.append(cell);
    const button = document.createElement("button");
    const select = document.createElement("select");
    expect(acceptsPageShortcuts(grid, grid)).toBe(true);
    expect(acceptsPageShortcuts(cell, grid)).toBe(true);
    expect(acceptsPageShortcuts(document.body, grid)).toBe(true);
    expect(acceptsPageShortcuts(button, grid)).toBe(false);
    expect(acceptsPageShortcuts(select, grid)).toBe(false);
  });
});
