import { describe, expect, it } from "vitest";

import type { RunCurves, RunDetail } from "../api/client";
import { calibrationOf, headline, identityHistory, perClassPoints, sweepAt, sweepOf, sweepPoints } from "./metrics";

const sweep = {
  thresholds: [0.2, 0.5, 0.8, 1.00001],
  distractor_accuracy: [0.1, 0.6, 0.95, 1],
  identification_accuracy: [0.9, 0.8, 0.5, 0],
  total_accuracy: [0.5, 0.7, 0.72, 0.5],
  kept_accuracy: [0.6, 0.85, 0.97, null],
  vip_acceptance: [1, 0.9, 0.5, 0],
  mean_f1: [0.7, 0.82, 0.6, 0],
};

// The shapes webapp/training/services.py stores (from ml.train's result).
const curves: RunCurves = {
  sweeps: { val: sweep, test: null },
  calibration: {
    val: {
      before: { vip: { ece: 0.12, curve: { bin_edges: [0, 0.5, 1], confidence: [0.3, 0.9], accuracy: [0.1, 0.6], count: [10, 30] } } },
      after: { vip: { ece: 0.03, curve: { bin_edges: [0, 0.5, 1], confidence: [0.35, null], accuracy: [0.33, null], count: [12, 0] } } },
    },
  },
  operating_points: { max_mean_f1: 0.5 },
  history: { loss: [1, 0.5] },
};

const detail = {
  id: 3,
  metrics: { val: { mean_f1: 0.8, f1_auc: 0.6 }, test: { mean_f1: 0.83, f1_auc: 0.61, total_accuracy: 0.9 }, operating_points: { max_mean_f1: 0.5 } },
  per_class: [
    { class_index: 0, identity: 5, name: "Ada", precision: 0.9, recall: 0.7, f1: 0.79, support: 20, diagnosis: "ok", reasons: [] },
    { class_index: 1, identity: 6, name: "Bob", precision: 0.4, recall: 0.9, f1: 0.55, support: 12, diagnosis: "low_precision", reasons: ["precision below 0.5"] },
    { class_index: 2, identity: 7, name: "Cy", precision: null, recall: null, diagnosis: "ok" },
  ],
} as unknown as RunDetail;

describe("reading a run's results", () => {
  it("takes the validation sweep and turns it into points, the reject-all threshold clamped to 1", () => {
    const points = sweepPoints(sweepOf(curves));
    expect(points).toHaveLength(4);
    expect(points[1]).toMatchObject({ threshold: 0.5, kept_accuracy: 0.85, mean_f1: 0.82 });
    expect(points[3]).toMatchObject({ threshold: 1, kept_accuracy: null });
    expect(sweepAt(points, 0.79)?.threshold).toBe(0.8);
    expect(sweepAt(points, null)).toBeNull();
    expect(sweepOf(curves, "test")).toBeNull();
  });

  it("gives one scatter point per VIP that has precision and recall", () => {
    expect(perClassPoints(detail).map((p) => [p.name, p.precision, p.recall, p.diagnosis])).toEqual([
      ["Ada", 0.9, 0.7, "ok"],
      ["Bob", 0.4, 0.9, "low_precision"],
    ]);
  });

  it("reads the reliability curves before and after temperature scaling, without empty bins", () => {
    const calibration = calibrationOf(curves);
    expect(calibration.points).toEqual([
      { confidence: 0.3, before: 0.1, count: 10 },
      { confidence: 0.35, after: 0.33, count: 12 },
      { confidence: 0.9, before: 0.6, count: 30 },
    ]);
    expect([calibration.eceBefore, calibration.eceAfter]).toEqual([0.12, 0.03]);
    expect(calibrationOf(null).points).toEqual([]);
  });

  it("finds headline metrics on a split", () => {
    expect(headline(detail, "test")).toMatchObject({ f1_auc: 0.61, mean_f1: 0.83, total_accuracy: 0.9 });
    expect(headline(detail, "val")).toMatchObject({ mean_f1: 0.8 });
    expect(headline({ metrics: null })).toEqual({});
  });

  it("follows one identity across compared runs, oldest first", () => {
    const compare = {
      runs: [],
      identities: [{ identity: 5, name: "Ada", runs: { "7": { precision: 0.95, recall: 0.8, f1: 0.87 }, "3": { precision: 0.9, recall: 0.7, f1: 0.79 } } }],
    };
    expect(identityHistory(compare, 5)).toEqual([
      { run: 3, precision: 0.9, recall: 0.7, f1: 0.79 },
      { run: 7, precision: 0.95, recall: 0.8, f1: 0.87 },
    ]);
    expect(identityHistory(compare, 42)).toEqual([]);
  });
});
