/**
 * A job's result document read for people: headline numbers, per-file errors and outcomes (the
 * import jobs' `errors` / `outcomes` lists), and whatever else it holds. Job kinds with names.
 */
export const JOB_KINDS: { value: string; label: string }[] = [
  { value: "media.import_faces", label: "import faces" },
  { value: "media.process_photos", label: "process photos" },
  { value: "media.process_video", label: "process a video" },
  { value: "media.process_videos", label: "process several videos" },
  { value: "training.run", label: "training run" },
  { value: "tagging.tag_video", label: "tag a video" },
  { value: "tagging.tag_videos", label: "tag videos" },
  { value: "exports.freeze_version", label: "freeze a dataset version" },
  { value: "exports.build", label: "build an export" },
  { value: "faces.rebuild_index", label: "rebuild the similarity index" },
  { value: "identities.compute_suggestions", label: "compute merge/split suggestions" },
  { value: "maintenance.reassign_splits", label: "reassign splits" },
];

export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"];

export function jobKindLabel(kind: string): string {
  return JOB_KINDS.find((entry) => entry.value === kind)?.label ?? kind;
}

export interface FileRow {
  name: string;
  status: string;
  code?: string;
  error?: string;
  faces?: number;
}

export interface ResultView {
  /** Plain numbers and words, in the document's order (lists and objects left out). */
  numbers: [string, string | number | boolean][];
  errors: FileRow[];
  outcomes: FileRow[];
  /** Everything else (nested objects, other lists), for the raw view. */
  others: string[];
}

function fileRows(value: unknown): FileRow[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((row): row is Record<string, unknown> => Boolean(row) && typeof row === "object" && typeof (row as { name?: unknown }).name === "string")
    .map((row) => ({
      name: String(row.name),
      status: String(row.status ?? ""),
      code: typeof row.code === "string" ? row.code : undefined,
      error: typeof row.error === "string" ? row.error : undefined,
      faces: typeof row.faces === "number" ? row.faces : undefined,
    }));
}

export function readResult(result: unknown): ResultView {
  const view: ResultView = { numbers: [], errors: [], outcomes: [], others: [] };
  if (!result || typeof result !== "object" || Array.isArray(result)) return view;
  for (const [key, value] of Object.entries(result as Record<string, unknown>)) {
    if (key === "errors") view.errors = fileRows(value);
    else if (key === "outcomes") view.outcomes = fileRows(value);
    else if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") view.numbers.push([key.replace(/_/g, " "), value]);
    else if (value !== null) view.others.push(key);
  }
  return view;
}
