import { describe, expect, it } from "vitest";

import type { Run } from "../api/provisional";
import { headline, identityHistory, perClassPoints, reliabilityOf, runState, sweepAt, sweepOf, sweepPoints } from "./metrics";

const sweep = {
  thresholds: [0.2, 0.5, 0.8, 0.80001],
  distractor_accuracy: [0.1, 0.6, 0.95, 1],
  identification_accuracy: [0.9, 0.8, 0.5, 0],
  total_accuracy: [0.5, 0.7, 0.72, 0.5],
  kept_accuracy: [0.6, 0.85, 0.97, null],
  vip_acceptance: [1, 0.9, 0.5, 0],
  mean_f1: [0.7, 0.82, 0.6, 0],
};

const run: Run = {
  id: 3,
  job: { id: 12, state: "succeeded", progress: 1 },
  metrics: { val: { mean_f1: 0.8 }, test: { f1_auc: 0.61, at_max_mean_f1: { mean_f1: 0.83, total_accuracy: 0.9 } } },
  per_class: [
    { identity: 5, name: "Ada", precision: 0.9, recall: 0.7, f1: 0.79, support: 20, diagnosis: "ok" },
    { identity: 6, name: "Bob", precision: 0.4, recall: 0.9, f1: 0.55, support: 12, diagnosis: "low_precision" },
    { class_index: -1, name: "Distractor", precision: 0.95, recall: 0.9 },
  ],
  curves: { val: { sweep, reliability: { bin_edges: [0, 0.5, 1], confidence: [0.3, null], accuracy: [0.25, null], count: [10, 0] } } },
};

describe("reading a run's results", () => {
  it("finds the validation sweep and turns it into points, dropping missing values", () => {
    const points = sweepPoints(sweepOf(run));
    expect(points).toHaveLength(4);
    expect(points[1]).toMatchObject({ threshold: 0.5, kept_accuracy: 0.85, mean_f1: 0.82 });
    expect(points[3].kept_accuracy).toBeNull();
    expect(sweepAt(points, 0.79)?.threshold).toBe(0.8);
    expect(sweepAt(points, null)).toBeNull();
  });

  it("gives one scatter point per VIP, without the Distractor row", () => {
    expect(perClassPoints(run).map((p) => [p.name, p.precision, p.recall, p.diagnosis])).toEqual([
      ["Ada", 0.9, 0.7, "ok"],
      ["Bob", 0.4, 0.9, "low_precision"],
    ]);
  });

  it("keeps the calibration bins that have samples", () => {
    expect(reliabilityOf(run)).toEqual([{ confidence: 0.3, accuracy: 0.25, count: 10 }]);
  });

  it("finds headline metrics on a split", () => {
    expect(headline(run, "test")).toMatchObject({ f1_auc: 0.61, mean_f1: 0.83, total_accuracy: 0.9 });
    expect(headline(run, "val")).toMatchObject({ mean_f1: 0.8 });
    expect(headline({ metrics: undefined })).toEqual({});
  });

  it("reads the state from a nested job or flat fields", () => {
    expect(runState(run)).toMatchObject({ state: "succeeded", progress: 1, jobId: 12 });
    expect(runState({ id: 1, job: 4, state: "running", progress: 0.5 })).toMatchObject({ state: "running", progress: 0.5, jobId: 4 });
  });

  it("follows one identity across runs, oldest first", () => {
    const later: Run = { ...run, id: 7, per_class: [{ identity: 5, name: "Ada", precision: 0.95, recall: 0.8 }] };
    expect(identityHistory([later, run], 5)).toEqual([
      { run: 3, precision: 0.9, recall: 0.7, f1: 0.79 },
      { run: 7, precision: 0.95, recall: 0.8, f1: null },
    ]);
    expect(identityHistory([run], 42)).toEqual([]);
  });
});
