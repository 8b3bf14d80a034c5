/**
 * The one API client: every call the UI makes to /api/v1/ goes through `request` here.
 *
 * - Session auth: the browser's session cookie travels with every call (same origin).
 * - CSRF: unsafe methods send the `csrftoken` cookie back as the X-CSRFToken header.
 * - Errors: any non-2xx answer throws an `ApiError` carrying the status and the server's
 *   `detail`; 409 (a face changed since it was shown) is `ApiError.isConflict`.
 * - Types: the row shapes come from the generated `schema.d.ts` (`npm run gen:api` after
 *   regenerating openapi.yaml); the JSON documents inside some rows (a run's metrics and curves,
 *   an item's payload, /status/'s dictionaries) are spelled out in `results.ts`.
 */
import type { ActiveModel, ConfusedPair, CurationStatus, ItemPayload, PerClassRow, RunMetrics } from "./results";
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type Face = Schemas["Face"];
export type FaceStatus = Schemas["FaceStatusEnum"];
export type Identity = Schemas["Identity"];
export type LabelEvent = Schemas["LabelEvent"];
export type Job = Schemas["Job"];
export type Me = Schemas["Me"];
export type User = Schemas["User"];
export type Frame = Schemas["Frame"];
export type Video = Schemas["Video"];
export type Photo = Schemas["Photo"];
export type UserRole = Schemas["UserRoleEnum"];
export type QualityReport = Schemas["QualityReport"];
export type AnnotatorQuality = Schemas["AnnotatorQuality"];
export type FaceLabelResponse = Schemas["FaceLabelResponse"];
export type LabelRequest = Partial<Schemas["LabelRequestRequest"]>;
export type SimilarFaces = Schemas["SimilarFaces"];
export type UploadResponse = Schemas["UploadResponse"];
export type FileOutcome = Schemas["FileOutcome"];
export type FaceImportRequest = Schemas["FaceImportRequestRequest"];

/** A run as listed, with its metrics document typed. */
export type RunRow = Omit<Schemas["RunList"], "metrics"> & { metrics: RunMetrics | null };
/** A run in detail: VIP set, per-class report and confused pairs typed. */
export type RunDetail = Omit<Schemas["RunDetail"], "metrics" | "per_class" | "vips" | "confused_pairs"> & {
  metrics: RunMetrics | null;
  per_class: PerClassRow[] | null;
  vips: { index: number; identity: number; name: string; chunk?: number | null }[] | null;
  confused_pairs: ConfusedPair[] | null;
};
export type RunCurves = Schemas["RunCurves"];
export type Queue = Schemas["Queue"];
export type QueueItem = Omit<Schemas["Item"], "payload"> & { payload: ItemPayload | null };
export type DecisionRequest = Schemas["DecisionRequestRequest"];
export type DecisionBatchResult = Schemas["DecisionBatchResult"];
export type OperatingPointState = Schemas["OperatingPointState"];
export type VideoTag = Schemas["VideoTagDetail"];
export type FacePrediction = Schemas["FacePrediction"];
export type IdentitySuggestion = Schemas["IdentitySuggestion"];
export type SuggestionSide = Schemas["SuggestionSide"];
export type SuggestionKind = Schemas["MergeSplitKindEnum"];
export type IdentityOperation = Schemas["IdentityOperation"];
export type MergeRequest = Schemas["MergeRequestRequest"];
export type SplitRequest = Schemas["SplitRequestRequest"];
export type ReviewTag = Schemas["ReviewTag"];
export type TagEvidence = Schemas["Evidence"];
export type DatasetVersion = Schemas["DatasetVersion"];
export type ExportBuild = Schemas["ExportBuild"];
export type VersionComparison = Schemas["VersionComparison"];
export type { ActiveModel, CurationStatus };

export interface Page<T> {
  count: number;
  next?: string | null;
  previous?: string | null;
  results: T[];
}

export const API_ROOT = "/api/v1/";

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly code: string | null;

  constructor(status: number, body: unknown, fallback: string) {
    super(errorMessage(body, fallback));
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.code = body && typeof body === "object" && "code" in body ? String((body as { code: unknown }).code) : null;
  }

  /** The server refused a stale write: someone changed the row since this client read it. */
  get isConflict(): boolean {
    return this.status === 409;
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }

  /** The server says the same request may succeed if sent again (503 with `retryable`, e.g. while the
   * database restarts): nothing was done, so sending it again is safe. */
  get isRetryable(): boolean {
    const retryable = !!this.body && typeof this.body === "object" && (this.body as { retryable?: unknown }).retryable === true;
    return this.status === 503 || retryable;
  }

  /** Not logged in (any more): the session expired or was logged out elsewhere. */
  get isUnauthenticated(): boolean {
    return this.status === 401 || (this.status === 403 && /credentials were not provided|not authenticated/i.test(this.message));
  }
}

export interface RetryOptions {
  /** Tries in all, the first included (default 3). */
  attempts?: number;
  /** Wait before the n-th retry: n × delayMs (default 1000). */
  delayMs?: number;
  /** Called before each retry, to say so on screen. */
  onRetry?: (attempt: number, attempts: number, error: ApiError) => void;
  /** Tests replace the wait. */
  sleep?: (ms: number) => Promise<void>;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Send, and send again while the server answers a retryable error (503), a few times with growing waits. */
export async function withRetry<T>(send: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 3);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof ApiError) || !error.isRetryable || attempt >= attempts) throw error;
      options.onRetry?.(attempt, attempts, error);
      await (options.sleep ?? wait)((options.delayMs ?? 1000) * attempt);
    }
  }
}

/** A readable message from a DRF error body: `detail`, or the first field error. */
export function errorMessage(body: unknown, fallback: string): string {
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 300);
  if (Array.isArray(body) && body.length) return errorMessage(body[0], fallback);
  if (body && typeof body === "object") {
    const record = body as Record<string, unknown>;
    if (typeof record.detail === "string") return record.detail;
    for (const [field, value] of Object.entries(record)) {
      if (field === "code") continue;
      const inner = errorMessage(value, "");
      if (inner) return field === "non_field_errors" || field === "errors" ? inner : `${field}: ${inner}`;
    }
  }
  return fallback;
}

/** The value of a cookie, or "" (Django's `csrftoken` is readable by scripts by design). */
export function readCookie(name: string, cookies: string = typeof document === "undefined" ? "" : document.cookie): string {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export type Query = Record<string, string | number | boolean | null | undefined | (string | number)[]>;

export function buildUrl(path: string, query?: Query): string {
  const base = path.startsWith("/") ? path : API_ROOT + path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => params.append(key, String(item)));
    else params.append(key, String(value));
  }
  const search = params.toString();
  return search ? `${base}${base.includes("?") ? "&" : "?"}${search}` : base;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Progress of an upload, 0-1 (uses XMLHttpRequest, which reports upload progress). */
  onUploadProgress?: (fraction: number) => void;
  /** Let the request finish after the page is gone (releasing leases on the way out). */
  keepalive?: boolean;
}

type Fetch = typeof fetch;
let fetchImpl: Fetch | null = null;

/** Tests swap the network; the app uses the browser's fetch. */
export function setFetch(impl: Fetch | null): void {
  fetchImpl = impl;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const url = buildUrl(path, options.query);
  const headers: Record<string, string> = { Accept: "application/json" };
  if (UNSAFE.has(method)) headers["X-CSRFToken"] = readCookie("csrftoken");
  let body: BodyInit | undefined;
  if (options.body instanceof FormData) {
    body = options.body;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  if (options.onUploadProgress && body instanceof FormData) {
    return xhrRequest<T>(method, url, headers, body, options);
  }
  const response = await (fetchImpl ?? fetch)(url, {
    method,
    headers,
    body,
    credentials: "same-origin",
    signal: options.signal,
    keepalive: options.keepalive,
  });
  return parseResponse<T>(response.status, response.statusText, await response.text());
}

function parseResponse<T>(status: number, statusText: string, text: string): T {
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (status < 200 || status >= 300) {
    if (typeof data === "string" && /<html/i.test(data)) data = null; // a server error page: say less
    throw new ApiError(status, data, `${status} ${statusText || "request failed"}`);
  }
  return data as T;
}

function xhrRequest<T>(method: string, url: string, headers: Record<string, string>, body: FormData, options: RequestOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.withCredentials = true;
    for (const [key, value] of Object.entries(headers)) xhr.setRequestHeader(key, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) options.onUploadProgress?.(event.loaded / event.total);
    };
    xhr.onload = () => {
      try {
        resolve(parseResponse<T>(xhr.status, xhr.statusText, xhr.responseText));
      } catch (error) {
        reject(error);
      }
    };
    xhr.onerror = () => reject(new ApiError(0, null, "Network error: the server could not be reached."));
    options.signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(body);
  });
}

export const get = <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>("GET", path, { query, signal });
export const post = <T>(path: string, body?: unknown, options: Omit<RequestOptions, "body"> = {}) =>
  request<T>("POST", path, { ...options, body });
export const patch = <T>(path: string, body?: unknown) => request<T>("PATCH", path, { body });

/** `get`, but a 404 (an endpoint that does not exist on this server yet) answers null. */
export async function getOptional<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T | null> {
  try {
    return await get<T>(path, query, signal);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

/** `getAll`, but a 404 (an endpoint this server does not have) answers null. */
export async function getAllOptional<T>(path: string, query: Query = {}): Promise<T[] | null> {
  try {
    return await getAll<T>(path, query);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

/** Every page of a list endpoint (for small lists: identities, runs, users); a plain array is taken as is. */
export async function getAll<T>(path: string, query: Query = {}, limit = 5000): Promise<T[]> {
  const rows: T[] = [];
  for (let page = 1; rows.length < limit; page += 1) {
    const answer = await get<Page<T> | T[]>(path, { page_size: 500, ...query, page });
    if (Array.isArray(answer)) return answer;
    rows.push(...answer.results);
    if (!answer.next) break;
  }
  return rows;
}

// --- Endpoints ---------------------------------------------------------------------------

export const api = {
  me: () => get<Me>("me/"),

  identities: {
    list: (query: Query = {}) => get<Page<Identity>>("identities/", query),
    all: (query: Query = {}) => getAll<Identity>("identities/", { merged: false, ...query }),
    get: (id: number) => get<Identity>(`identities/${id}/`),
    create: (body: Partial<Schemas["IdentityRequest"]> & { name: string }) => post<Identity>("identities/", body),
    /** Rename or edit an identity (admins); each edit is recorded in its history. */
    update: (id: number, body: Schemas["PatchedIdentityRequest"]) => patch<Identity>(`identities/${id}/`, body),
    /** Every edit of an identity, newest first. */
    history: (id: number) => get<Page<Schemas["IdentityEvent"]>>(`identities/${id}/history/`, { page_size: 50 }),
    /** Open merge and split suggestions about an identity, most likely first. */
    suggestions: (identity: number) => getOptional<Page<IdentitySuggestion>>("identities/suggestions/", { identity, status: "open", page_size: 10 }),
    /** Suggestions of a kind and status, most likely first (the server's order). */
    listSuggestions: (query: Query = {}) => get<Page<IdentitySuggestion>>("identities/suggestions/", { status: "open", page_size: 50, ...query }),
    /** Close a suggestion as wrong: it is not suggested again. */
    dismissSuggestion: (id: number) => post<IdentitySuggestion>(`identities/suggestions/${id}/dismiss/`),
    /** Recompute every suggestion (admins): a job; `run` adds that model's confusions to the evidence. */
    computeSuggestions: (run?: number | null) => post<Job>("identities/suggestions/compute/", run ? { run } : {}),
    /** Merge identity `id` (A) into `body.into` (B), admins. */
    merge: (id: number, body: Partial<MergeRequest> & { into: number }) => post<IdentityOperation>(`identities/${id}/merge/`, body),
    /** Move some of identity `id`'s faces to another identity or a new one, admins. */
    split: (id: number, body: Partial<SplitRequest> & { faces: number[] }) => post<IdentityOperation>(`identities/${id}/split/`, body),
    undoOperation: (id: number) => post<IdentityOperation>(`identities/operations/${id}/undo/`),
  },

  faces: {
    list: (query: Query = {}, signal?: AbortSignal) => get<Page<Face>>("faces/", query, signal),
    get: (id: number) => get<Face>(`faces/${id}/`),
    label: (id: number, body: LabelRequest) => post<FaceLabelResponse>(`faces/${id}/label/`, body),
    /** Nearest faces in the similarity index, best first (empty until the index is built). */
    similar: (id: number, k = 20) => get<SimilarFaces>(`faces/${id}/similar/`, { k }),
  },

  photos: {
    get: (id: number) => get<Photo>(`photos/${id}/`),
  },

  frames: {
    get: (id: number) => get<Frame>(`frames/${id}/`),
  },

  labelEvents: {
    list: (query: Query = {}) => get<Page<LabelEvent>>("label-events/", query),
    undo: (id: number) => post<LabelEvent>(`label-events/${id}/undo/`),
  },

  videos: {
    list: (query: Query = {}) => get<Page<Video>>("videos/", query),
    get: (id: number) => get<Video>(`videos/${id}/`),
    frames: (video: number) => getAll<Frame>("frames/", { video, ordering: "index" }),
    faces: (video: number) => getAll<Face>("faces/", { video }),
  },

  jobs: {
    list: (query: Query = {}) => get<Page<Job>>("jobs/", query),
    get: (id: number, signal?: AbortSignal) => get<Job>(`jobs/${id}/`, undefined, signal),
    cancel: (id: number) => post<Job>(`jobs/${id}/cancel/`),
  },

  annotators: {
    /** Quality numbers of every annotator with a decision in the range (admins). */
    quality: (query: Query = {}) => get<QualityReport>("annotators/quality/", query),
    /** Your own quality numbers. */
    mine: (query: Query = {}) => get<QualityReport>("annotators/quality/me/", query),
    undoRange: (id: number, body: Schemas["RangeRequest"]) =>
      post<Schemas["RangeUndoResult"]>(`annotators/${id}/decisions/undo/`, body),
    secondReview: (id: number, body: Schemas["RangeRequest"]) =>
      post<Schemas["SecondReviewResult"]>(`annotators/${id}/decisions/second-review/`, body),
    /** Accept or discard every held decision of one annotator (made in the range, if given); undo with review.undo. */
    settleHeld: (id: number, what: "accept" | "discard", body: Schemas["HeldRangeRequest"] = {}) =>
      post<Schemas["HeldSettleResult"]>(`annotators/${id}/held/${what}/`, body),
  },

  users: {
    list: () => getAll<User>("users/"),
    create: (body: Schemas["UserRequest"]) => post<User>("users/", body),
    update: (id: number, body: Schemas["PatchedUserRequest"]) => patch<User>(`users/${id}/`, body),
  },

  uploads: {
    /** Multipart `files` (+ optional `identity` hint); 202 with the job, per-file outcomes. */
    photos: (form: FormData, onUploadProgress?: (f: number) => void) =>
      post<UploadResponse>("photos/upload/", form, { onUploadProgress }),
    videos: (form: FormData, onUploadProgress?: (f: number) => void) =>
      post<UploadResponse>("videos/upload/", form, { onUploadProgress }),
    /** Import a face folder that is on the server (root/<identity name>/<image>). */
    faceFolder: (body: FaceImportRequest) => post<Job>("imports/faces/", body),
  },

  index: {
    status: () => get<Schemas["IndexStatus"]>("index/"),
    rebuild: () => post<Job>("index/rebuild/"),
  },

  runs: {
    list: (query: Query = {}) => get<Page<RunRow>>("runs/", { page_size: 100, ordering: "-id", ...query }),
    get: (id: number) => get<RunDetail>(`runs/${id}/`),
    curves: (id: number) => get<RunCurves>(`runs/${id}/curves/`),
    /** Runs side by side, and per identity its precision/recall/F1 in each (one request). */
    compare: (ids: number[]) => get<Schemas["RunCompare"]>("runs/compare/", { ids: ids.join(",") }),
    start: (body: Partial<Schemas["RunStartRequest"]>) => post<RunDetail>("runs/", body),
    accept: (id: number) => post<RunDetail>(`runs/${id}/accept/`),
    cancel: (id: number) => post<RunDetail>(`runs/${id}/cancel/`),
  },

  curation: {
    status: () => get<CurationStatus>("status/"),
    /** The active model's operating point; far options at `unknownShare` (default: the current point's, else tagged videos'). */
    operatingPoint: (unknownShare?: number) =>
      get<OperatingPointState>("operating-point/", unknownShare === undefined ? undefined : { unknown_share: unknownShare }),
    setOperatingPoint: (body: Schemas["OperatingPointRequestRequest"]) => post<Schemas["OperatingPoint"]>("operating-point/", body),
    /** Make the model active before the current one active again (admins). */
    rollback: () => post<CurationStatus>("active-model/rollback/"),
    promoteChunk: (body: Partial<Schemas["PromoteRequestRequest"]> = {}) => post<Schemas["Promotion"]>("chunks/promote/", body),
    chunks: () => get<Page<Schemas["Chunk"]>>("chunks/"),
  },

  review: {
    queues: (query: Query = {}) => get<Page<Queue>>("review/queues/", { is_open: true, page_size: 100, ...query }),
    queue: (id: number) => get<Queue>(`review/queues/${id}/`),
    /** Lease up to `limit` items of a queue: your own unexpired leases first. */
    next: (queue: number, limit: number) => post<QueueItem[]>(`review/queues/${queue}/next/`, { limit }),
    release: (queue: number) => post<{ released: number }>(`review/queues/${queue}/release/`, undefined, { keepalive: true }),
    /** A page of decisions, all or nothing (409 lists the stale items). */
    /** Retried while the server answers 503 retryable (e.g. the database restarting); `retry.onRetry` hears of it. */
    decide: (decisions: DecisionRequest[], retry: RetryOptions = {}) =>
      withRetry(() => post<DecisionBatchResult>("review/decisions/", { decisions }), retry),
    undo: (operation: string) => post<Schemas["UndoResult"]>(`review/operations/${operation}/undo/`),
    /** A new queue of chosen faces, reviewed in the order given. */
    sendFaces: (faces: number[], title = "") => post<Queue>("review/queues/from-faces/", { faces, title }),
  },

  exports: {
    /** Dataset versions, newest first, with their builds and files. */
    versions: () => get<Page<DatasetVersion>>("exports/versions/", { page_size: 50, ordering: "-created_at" }),
    /** A new version from a filter: its faces freeze in a job. */
    create: (body: Schemas["VersionCreateRequest"]) => post<DatasetVersion>("exports/versions/", body),
    /** Build one format of a version (a job; a second request reuses the first build). */
    build: (version: number, format: Schemas["FormatEnum"]) => post<ExportBuild>(`exports/versions/${version}/build/`, { format }),
    /** What changed from `base` to `other`, in total and per identity. */
    compare: (base: number, other: number) => get<VersionComparison>(`exports/versions/${base}/compare/`, { to: other }),
  },

  tagging: {
    /** The video's tags with their supporting frames; null where tagging is not installed. */
    tags: (video: number) => getAllOptional<VideoTag>(`videos/${video}/tags/`),
    /** Paginated by the server although the schema says a list: read every page. */
    predictions: (video: number) => getAllOptional<FacePrediction>(`videos/${video}/predictions/`),
    /** Tag (or re-tag) a video with the model in force (admins): a job. */
    start: (video: number) => post<Job>(`videos/${video}/tags/`),
    confirm: (tag: number, note = "") => post<Schemas["TagDecisionResponse"]>(`tags/${tag}/confirm/`, { note }),
    reject: (tag: number, note = "") => post<Schemas["TagDecisionResponse"]>(`tags/${tag}/reject/`, { note }),
    /** Take back a confirmation or rejection: proposed again (a confirmation's label changes undone too). */
    undo: (tag: number) => post<Schemas["TagDecisionResponse"]>(`tags/${tag}/undo/`),
    /** Tag every processed video never tagged yet (admins): one job. */
    tagUntagged: () => post<Job>("tags/start/", { scope: "untagged" }),
    /** Proposed tags, the closest to their threshold (least certain) first, each with its best frames. */
    review: (query: Query = {}) => get<Page<ReviewTag>>("tags/review/", { page_size: 50, ...query }),
  },
};

export function resultsOf<T>(answer: Page<T> | T[] | null | undefined): T[] {
  if (!answer) return [];
  return Array.isArray(answer) ? answer : answer.results;
}
