import { describe, expect, it } from "vitest";

import { farLabel, impliedPrecision, ruleSentence, unitValue } from "./operatingPoint";

describe("values between 0 and 1", () => {
  it("accepts a number inside the range", () => {
    expect(unitValue("0.001", "false-tag rate", { open: true })).toEqual({ value: 0.001 });
    expect(unitValue("1", "share of unknown faces")).toEqual({ value: 1 });
  });

  it("refuses values outside 0–1 with a message naming the field", () => {
    expect(unitValue("1.5", "share of unknown faces").error).toMatch(/share of unknown faces must lie between 0 and 1/);
    expect(unitValue("-0.1", "threshold").error).toMatch(/between 0 and 1/);
    expect(unitValue("0", "false-tag rate", { open: true }).error).toMatch(/strictly between 0 and 1/);
    expect(unitValue("abc", "threshold").error).toMatch(/must be a number/);
    expect(unitValue(" ", "threshold").error).toMatch(/Enter the threshold/);
  });
});

describe("false-tag rates said plainly", () => {
  it("gives the rate and one in how many unknown faces", () => {
    expect(farLabel(0.001)).toBe("0.1% (1 in 1,000)");
    expect(farLabel(0.01)).toBe("1% (1 in 100)");
    expect(farLabel(0.0001)).toBe("0.01% (1 in 10,000)");
  });
});

describe("implied precision", () => {
  it("falls as unknown faces dominate", () => {
    expect(impliedPrecision(0.9, 0.9, 0.01, 0.5)).toBeCloseTo(0.45 / 0.455, 6);
    expect(impliedPrecision(0.9, 0.9, 0.01, 0.9)!).toBeLessThan(impliedPrecision(0.9, 0.9, 0.01, 0.5)!);
    expect(impliedPrecision(0, 0, 0, 0.9)).toBeNull();
  });
});

describe("which rule chose the threshold", () => {
  it("names the rate asked for when val measures it", () => {
    expect(ruleSentence({ rule: "far", far: 0.01, estimate: { far_used: 0.01 } })).toBe(
      "chosen for a false-tag rate of 1% (1 in 100) on unknown faces");
  });

  it("says when val is too small for the rate asked and names the rate used", () => {
    expect(ruleSentence({ rule: "lowest_measurable_far", far: 0.001, estimate: { far_used: 0.025 } })).toBe(
      "chosen for a false-tag rate of 3% (1 in 40), the lowest val measures (0.1% (1 in 1,000) asked)");
  });

  it("says when the default precision stood in for a rate", () => {
    expect(ruleSentence({ rule: "target_precision_fallback", far: 0.001, target_precision: 0.99, estimate: {} })).toBe(
      "chosen for the default precision 99.0% instead of a false-tag rate of 0.1% (1 in 1,000)");
    expect(ruleSentence({ rule: "threshold" })).toBe("set directly");
  });
});
