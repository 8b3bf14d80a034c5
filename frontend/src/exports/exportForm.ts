/**
 * The exports screen's pure parts: the new-version form as the API body, sizes and checksums
 * as people read them, and which versions still need polling.
 */
import type { Schemas } from "../api/client";

export type DatasetVersion = Schemas["DatasetVersion"];
export type ExportBuild = Schemas["ExportBuild"];
export type ExportFormat = Schemas["FormatEnum"];
export type VersionCreate = Schemas["VersionCreateRequest"];

export const FORMATS: { value: ExportFormat; label: string }[] = [
  { value: "imagefolder", label: "ImageFolder zip" },
  { value: "jsonl", label: "JSONL manifest" },
  { value: "csv", label: "CSV manifest" },
  { value: "parquet", label: "Parquet (with images)" },
  { value: "webdataset", label: "WebDataset tar shards" },
];

export interface VersionForm {
  name: string;
  distractors: boolean;
  status: "verified" | "non_excluded";
  /** VIP chunks as typed: "1, 2" (empty: all). */
  chunks: string;
  splits: string[];
  sources: string[];
}

export const EMPTY_FORM: VersionForm = { name: "", distractors: false, status: "verified", chunks: "", splits: [], sources: [] };

/** The request body for a form, or the message saying what to fix. */
export function versionBody(form: VersionForm): { body: VersionCreate } | { error: string } {
  const parts = form.chunks.split(/[\s,]+/).filter(Boolean);
  const chunks: number[] = [];
  for (const part of parts) {
    if (!/^\d+$/.test(part)) return { error: `Chunks are whole numbers separated by commas ("${part}" is not one).` };
    chunks.push(Number(part));
  }
  return {
    body: {
      name: form.name.trim(),
      distractors: form.distractors,
      status: form.status,
      chunks: [...new Set(chunks)].sort((a, b) => a - b),
      splits: form.splits as VersionCreate["splits"],
      sources: form.sources as VersionCreate["sources"],
    },
  };
}

/** A size in bytes as people read it: 512 B, 1.5 KB, 12.3 MB (powers of 1024). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A version's filter in words: "VIPs of chunks 1, 2 · verified · train, val". */
export function describeFilter(filters: unknown): string {
  const f = (filters && typeof filters === "object" ? filters : {}) as Partial<Record<string, unknown>>;
  const list = (value: unknown) => (Array.isArray(value) && value.length ? value.join(", ") : "");
  const parts = [list(f.chunks) ? `VIPs of chunk ${list(f.chunks)}` : "all VIPs"];
  if (f.distractors) parts[0] += " + distractors";
  parts.push(f.status === "non_excluded" ? "verified and unverified" : "verified");
  if (list(f.splits)) parts.push(`splits ${list(f.splits)}`);
  if (list(f.sources)) parts.push(`sources ${list(f.sources)}`);
  return parts.join(" · ");
}

/** True while a version is freezing or one of its builds is queued or running. */
export function stillWorking(versions: DatasetVersion[]): boolean {
  return versions.some((version) => version.state === "pending" || version.builds.some((build) => build.state === "queued" || build.state === "running"));
}
