/** Rows shaped like the API's, for unit tests. */
import type { Face } from "./api/client";
import type { ReviewItem, ReviewPage } from "./review/reviewState";

export function face(id: number, change: Partial<Face> = {}): Face {
  return {
    id,
    crop_url: `/media/faces/${id}.jpg`,
    identity: 1,
    identity_name: "Ada",
    status: "unverified",
    split: "train",
    version: 0,
    source: "crop",
    photo: null,
    frame: null,
    video: null,
    source_path: "",
    group_key: `crop:${id}`,
    box: null,
    landmarks: null,
    detector_score: null,
    quality: 0.9,
    embedding_model: "",
    duplicate_of: null,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...change,
  } as Face;
}

export function item(id: number, change: Partial<ReviewItem> = {}): ReviewItem {
  return { key: `face-${id}`, face: face(id), claim: { id: 1, name: "Ada" }, suggestions: [], marked: false, decided: null, ...change };
}

export function page(count: number, key = "p1"): ReviewPage {
  return { key, title: "Ada", claim: { id: 1, name: "Ada" }, references: [], items: Array.from({ length: count }, (_, i) => item(i + 1)) };
}
