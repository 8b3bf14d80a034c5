import { describe, expect, it } from "vitest";

import { faceQuery, withFilter } from "./faceQuery";

describe("faceQuery", () => {
  it("sends only the filters that are set, confidences as numbers", () => {
    const params = new URLSearchParams("identity=3&status=&confidence_min=0.2&labelled_by=ann&page=2&like=9");
    expect(faceQuery(params)).toEqual({ query: { identity: "3", confidence_min: 0.2, labelled_by: "ann" } });
  });

  it("refuses a confidence outside 0-1 or a range upside down", () => {
    expect(faceQuery(new URLSearchParams("confidence_max=1.5"))).toEqual({ error: "Confidence is a number from 0 to 1." });
    expect(faceQuery(new URLSearchParams("confidence_min=abc"))).toEqual({ error: "Confidence is a number from 0 to 1." });
    expect(faceQuery(new URLSearchParams("confidence_min=0.8&confidence_max=0.3"))).toEqual({ error: "The lowest confidence is above the highest: swap them." });
  });
});

describe("withFilter", () => {
  it("sets or clears one filter and goes back to the first page of the search", () => {
    const next = withFilter(new URLSearchParams("split=train&page=3&like=5"), "status", "verified");
    expect(next.toString()).toBe("split=train&status=verified");
    expect(withFilter(next, "split", "").toString()).toBe("status=verified");
    expect(withFilter(next, "page", "2").get("page")).toBe("2");
  });
});
