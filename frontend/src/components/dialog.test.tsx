import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";

import { Dialog, nextFocus } from "./dialog";

afterEach(cleanup);

describe("nextFocus", () => {
  it("moves through the dialog's controls and wraps at both ends", () => {
    const items = ["close", "open source", "zoom"];
    expect(nextFocus(items, "close", false)).toBe("open source");
    expect(nextFocus(items, "zoom", false)).toBe("close");
    expect(nextFocus(items, "close", true)).toBe("zoom");
    expect(nextFocus(items, null, false)).toBe("close");
    expect(nextFocus([], null, false)).toBeNull();
  });
});

function Opener() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Open
      </button>
      {open && (
        <Dialog labelledBy="t" onClose={() => setOpen(false)}>
          <h2 id="t">Example</h2>
          <input aria-label="first" />
          <button type="button">second</button>
        </Dialog>
      )}
    </>
  );
}

describe("a dialog", () => {
  it("takes focus, keeps Tab and Shift+Tab inside, closes on Escape and gives focus back to its opener", () => {
    render(<Opener />);
    const opener = screen.getByRole("button", { name: "Open" });
    opener.focus();
    fireEvent.click(opener);
    const first = screen.getByRole("textbox", { name: "first" });
    const second = screen.getByRole("button", { name: "second" });
    expect(screen.getByRole("dialog", { name: "Example" })).toBeTruthy();
    expect(document.activeElement).toBe(first);
    fireEvent.keyDown(document.activeElement!, { key: "Tab" });
    expect(document.activeElement).toBe(second);
    fireEvent.keyDown(document.activeElement!, { key: "Tab" });
    expect(document.activeElement).toBe(first); // wraps, never leaves the dialog
    fireEvent.keyDown(document.activeElement!, { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(second);
    fireEvent.keyDown(document.activeElement!, { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.activeElement).toBe(opener);
  });
});
