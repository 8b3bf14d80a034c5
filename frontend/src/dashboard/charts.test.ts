import { describe, expect, it } from "vitest";

import { LABELS_PER_SPOT, UNIT_TICKS, stackLabels } from "./charts";

describe("the per-VIP chart stays readable when many VIPs sit at one point", () => {
  it("writes a few names at a crowded spot and says how many more sit there", () => {
    const points = Array.from({ length: 7 }, (_, i) => ({ name: `VIP ${i}`, precision: 1, recall: 1 }));
    const stacked = stackLabels([...points, { name: "Alone", precision: 0.5, recall: 0.4 }]);
    expect(stacked.filter((p) => !p.hidden)).toHaveLength(LABELS_PER_SPOT + 1);
    expect(stacked[LABELS_PER_SPOT - 1].more).toBe(7 - (LABELS_PER_SPOT - 1));
    expect(stacked[7]).toMatchObject({ stack: 0, more: 0, hidden: false });
  });

  it("leaves two VIPs at one spot both named", () => {
    const stacked = stackLabels([{ precision: 0.9, recall: 0.8 }, { precision: 0.9, recall: 0.8 }]);
    expect(stacked.map((p) => [p.stack, p.hidden, p.more])).toEqual([[0, false, 0], [1, false, 0]]);
  });
});

describe("chart axes", () => {
  it("tick at round values", () => {
    expect(UNIT_TICKS).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});
