/**
 * Merge and split suggestions: what an accepted suggestion sends, and how its evidence reads.
 * The screen (SuggestionsScreen.tsx) only renders these; the rules live here, tested.
 */
import type { IdentitySuggestion, MergeRequest, SplitRequest } from "../api/client";
import { num } from "../components/format";

export interface MergePlan {
  /** The identity merged away (A): the suggestion's first side. */
  from: { id: number; name: string };
  /** The identity kept (B): the suggestion's second side. */
  into: { id: number; name: string };
  body: Pick<MergeRequest, "into" | "suggestion">;
}

/** A merge as the suggestion orders its sides: sides[0] goes away into sides[1]. Null if it is not a usable merge. */
export function mergePlan(suggestion: IdentitySuggestion): MergePlan | null {
  if (suggestion.kind !== "merge" || suggestion.sides.length < 2) return null;
  const [away, keep] = suggestion.sides;
  if (away.identity === keep.identity) return null;
  return {
    from: { id: away.identity, name: away.name },
    into: { id: keep.identity, name: keep.name },
    body: { into: keep.identity, suggestion: suggestion.id },
  };
}

export interface SplitPlan {
  /** The identity split (A). */
  identity: { id: number; name: string };
  body: Pick<SplitRequest, "faces" | "new_name" | "suggestion">;
}

/** A split moves the second (smaller) cluster's faces to a new identity named `newName`; an error message when it cannot. */
export function splitPlan(suggestion: IdentitySuggestion, newName: string): SplitPlan | string {
  if (suggestion.kind !== "split" || suggestion.sides.length < 2) return "This is not a split suggestion.";
  const name = newName.trim();
  if (!name) return "Give the new identity a name.";
  const moving = suggestion.sides[1];
  const faces = moving.face_ids ?? [];
  if (faces.length === 0) return "The suggestion lists no faces to move: compute suggestions again.";
  return {
    identity: { id: suggestion.identity.id, name: suggestion.identity.name },
    body: { faces, new_name: name, suggestion: suggestion.id },
  };
}

/** The name the split prompt proposes: "<name> (2)". */
export function defaultSplitName(suggestion: IdentitySuggestion): string {
  return `${suggestion.identity.name} (2)`;
}

export interface EvidenceRow {
  label: string;
  value: string;
  /** What the number means, for a tooltip. */
  hint: string;
}

function numberAt(record: Record<string, unknown>, key: string): number | undefined {
  const value = record[key];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The evidence of a suggestion as label/value rows, in the order worth reading; missing numbers are left out. */
export function evidenceRows(suggestion: IdentitySuggestion): EvidenceRow[] {
  const evidence = (suggestion.evidence ?? {}) as Record<string, unknown>;
  const rows: EvidenceRow[] = [
    { label: "Score", value: num(suggestion.score, 3), hint: "Higher: likelier. Merge and split scores differ in scale." },
  ];
  const add = (key: string, label: string, hint: string, format: (value: number) => string = (value) => num(value, 3)) => {
    const value = numberAt(evidence, key);
    if (value !== undefined) rows.push({ label, value: format(value), hint });
  };
  add("centroid_cosine", "Centroid cosine", "Cosine similarity of the two sides' mean embeddings (1 = identical).");
  if (suggestion.kind === "merge") {
    const k = numberAt(evidence, "neighbours_k");
    add("neighbour_mixing", k ? `Neighbour mixing (k=${k})` : "Neighbour mixing", "How often each side's faces have the other's among their nearest neighbours, relative to one identity (0-1).");
    const confusion = evidence.confusion;
    if (confusion && typeof confusion === "object") {
      const record = confusion as Record<string, unknown>;
      const parts = ["a_as_b", "b_as_a"].map((key) => numberAt(record, key)).filter((value): value is number => value !== undefined);
      if (parts.length === 2) rows.push({ label: "Model confusion", value: `${num(parts[0], 2)} / ${num(parts[1], 2)}`, hint: "Faces of A predicted as B / of B predicted as A by the run's model." });
    }
  } else {
    add("silhouette", "Silhouette", "How well the faces fall into two clusters (-1 to 1; higher: two clearer groups).");
    add("between_within_ratio", "Between / within", "Distance between the clusters over the spread inside them.");
  }
  return rows;
}
