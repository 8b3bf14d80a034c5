import { describe, expect, it } from "vitest";

import type { RunCurves, RunDetail } from "../api/client";
import { METRIC_HELP, calibrationOf, headline, identityHistory, perClassPoints, nextStep, runJustFinished, runStateText, sweepAt, sweepOf, sweepPoints } from "./metrics";

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

  it("reads the one named headline the server computed, never a split's own best threshold", () => {
    const named = { threshold: 0.78, split: "val", basis: "the operating point", label: "at the operating point 0.780", precision: 0.97, recall: 0.8, mean_f1: 0.85, distractor_accuracy: 0.99, vip_acceptance: 0.82, f1_auc: 0.7 };
    expect(headline({ ...detail, headline: named })).toEqual(named);
    expect(headline(detail)).toEqual({}); // metrics at max mean F1 on test are not a headline
    expect(headline(null)).toEqual({});
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

describe("run states said as what they are", () => {
  it("says a queued run waits for a worker and a running run shows its progress", () => {
    expect(runStateText("queued").hint).toMatch(/Waiting for a training worker/);
    expect(runStateText("running", 0.456).label).toBe("running 46%");
    expect(runStateText("running", 0, "snapshotting: freezing the label and split of every usable face").label).toBe(
      "snapshotting",
    );
    expect(runStateText("running", 0.3, "training the head").label).toBe("running 30%");
    expect(runStateText("failed").hint).toMatch(/active model is unchanged/);
  });
});

describe("metric explanations", () => {
  it("explains every headline metric in one line", () => {
    for (const key of ["precision", "recall", "mean_f1", "f1_auc", "total_accuracy"] as const) {
      expect(METRIC_HELP[key]).toMatch(/^[^\n]{20,160}$/);
    }
  });
});

describe("the next step on an empty dashboard", () => {
  it("walks a new team through promote, train, accept and review, pointing at UI screens", () => {
    expect(nextStep({ vip_count: 0 }, [])).toMatchObject({ title: "Promote the first chunk of VIPs", link: "/manage/training" });
    expect(nextStep({ vip_count: 5 }, [])).toMatchObject({ title: "Train a first model", action: "Admin › Training › Start retrain" });
    expect(nextStep({ vip_count: 5 }, [])?.detail).toContain("the labelled faces of the 5 VIPs");
    expect(nextStep({ vip_count: 1 }, [])?.detail).toContain("the labelled faces of the one VIP"); // not "1 VIPs'"
    expect(nextStep({ vip_count: 5, run_in_progress: { run: 2, state: "queued", progress: 0 } }, [{ id: 2, state: "queued" }])?.detail).toMatch(/waits for a training worker/);
    expect(nextStep({ vip_count: 5 }, [{ id: 1, state: "failed" }, { id: 3, state: "succeeded" }])).toMatchObject({ title: "Accept run 3" });
    expect(nextStep({ vip_count: 5, active_model: { run: 3 }, queues: [{ kind: "likely_wrong", open: 4 }] }, [{ id: 3, state: "succeeded" }])).toMatchObject({ link: "/review" });
    expect(nextStep({ vip_count: 5, active_model: { run: 3 }, queues: [] }, [{ id: 3, state: "succeeded" }])).toBeNull();
  });

  it("never tells the user to run a command or call the API", () => {
    for (const step of [nextStep({ vip_count: 0 }, []), nextStep({ vip_count: 5 }, [])]) {
      expect(`${step?.detail} ${step?.action}`).not.toMatch(/manage\.py|POST|\/api\//);
    }
  });
});

describe("a run that just finished", () => {
  it("is one that was queued or running at the last poll and is finished now", () => {
    expect(runJustFinished({ run: 4, state: "running" }, { run: 4, state: "succeeded" })).toEqual({ run: 4, state: "succeeded" });
    expect(runJustFinished({ run: 4, state: "queued" }, { run: 4, state: "failed" })).toEqual({ run: 4, state: "failed" });
    expect(runJustFinished({ run: 4, state: "succeeded" }, { run: 4, state: "succeeded" })).toBeNull();
    expect(runJustFinished(null, { run: 4, state: "succeeded" })).toBeNull();
    expect(runJustFinished({ run: 4, state: "running" }, { run: 4, state: "running" })).toBeNull();
  });
});
