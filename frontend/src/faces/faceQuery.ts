/**
 * The faces screen's filters: read from the address bar (so a search can be shared and reloaded)
 * and turned into the faces API's query, with the confidence range checked first.
 */
import type { Query } from "../api/client";

export const FACE_FILTERS = ["identity", "status", "split", "source", "queue_kind", "confidence_min", "confidence_max", "labelled_by"] as const;
export type FaceFilterKey = (typeof FACE_FILTERS)[number];

export const CHOICES: Partial<Record<FaceFilterKey, { value: string; label: string }[]>> = {
  status: [
    { value: "unverified", label: "unverified" },
    { value: "verified", label: "verified" },
    { value: "not_a_face", label: "not a face" },
    { value: "excluded", label: "excluded" },
  ],
  split: ["train", "val", "test"].map((value) => ({ value, label: value })),
  source: [
    { value: "photo", label: "photo" },
    { value: "frame", label: "video frame" },
    { value: "crop", label: "imported crop" },
  ],
  queue_kind: [
    { value: "likely_wrong", label: "likely wrong label" },
    { value: "label_errors", label: "suspected label error" },
    { value: "lookalikes", label: "distractor like a VIP" },
    { value: "low_precision", label: "low-precision VIP" },
    { value: "low_recall", label: "low-recall VIP (suggested)" },
    { value: "confused_pairs", label: "confused pair" },
    { value: "non_faces", label: "probable non-face" },
    { value: "chunk_verification", label: "new VIP to verify" },
    { value: "sent", label: "sent to review by hand" },
  ],
};

/** The API query for the filters in `params`, or a message saying what is wrong with them. */
export function faceQuery(params: URLSearchParams): { query: Query } | { error: string } {
  const query: Query = {};
  for (const key of FACE_FILTERS) {
    const value = params.get(key)?.trim();
    if (value) query[key] = value;
  }
  for (const key of ["confidence_min", "confidence_max"] as const) {
    if (query[key] === undefined) continue;
    const value = Number(query[key]);
    if (!Number.isFinite(value) || value < 0 || value > 1) return { error: "Confidence is a number from 0 to 1." };
    query[key] = value;
  }
  if (query.confidence_min !== undefined && query.confidence_max !== undefined && Number(query.confidence_min) > Number(query.confidence_max)) {
    return { error: "The lowest confidence is above the highest: swap them." };
  }
  return { query };
}

/** The address bar after setting one filter: empty removes it, and any change goes back to page 1. */
export function withFilter(params: URLSearchParams, key: string, value: string): URLSearchParams {
  const next = new URLSearchParams(params);
  if (value) next.set(key, value);
  else next.delete(key);
  if (key !== "page") next.delete("page");
  if (key !== "like") next.delete("like");
  return next;
}
