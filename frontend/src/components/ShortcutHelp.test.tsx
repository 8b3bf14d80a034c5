import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { SHORTCUTS, keyLabel } from "../shortcuts";
import { HelpOverlay, ShortcutLegend } from "./ShortcutHelp";

afterEach(cleanup);

describe("the help overlay", () => {
  it("renders one row per entry of the shortcut table, with its keys", () => {
    render(<HelpOverlay onClose={vi.fn()} />);
    const dialog = screen.getByRole("dialog", { name: "Keyboard shortcuts" });
    for (const shortcut of SHORTCUTS) {
      const row = dialog.querySelector(`tr[data-action="${shortcut.action}"]`) as HTMLElement;
      expect(row, shortcut.action).not.toBeNull();
      expect(within(row).getByText(shortcut.description)).toBeTruthy();
      for (const key of shortcut.keys) expect(within(row).getByText(keyLabel(key))).toBeTruthy();
    }
  });

  it("focuses its close button and closes with it", () => {
    const onClose = vi.fn();
    render(<HelpOverlay onClose={onClose} />);
    const close = screen.getByRole("button", { name: "Close" });
    expect(document.activeElement).toBe(close);
    close.click();
    expect(onClose).toHaveBeenCalledOnce();
  });

  it("lists the legend shortcuts on screen", () => {
    render(<ShortcutLegend />);
    const legend = screen.getByRole("list", { name: "Keyboard shortcuts" });
    // the arrows, Shift+arrows (a range), then the rows flagged for the legend
    expect(within(legend).getAllByRole("listitem")).toHaveLength(2 + SHORTCUTS.filter((s) => s.legend).length);
    expect(within(legend).getAllByRole("listitem")[1].textContent).toContain("select a range");
  });
});
