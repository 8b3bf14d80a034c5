import { describe, expect, it } from "vitest";

import { nextFocus } from "./dialog";

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
