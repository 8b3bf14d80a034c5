/** Import photos, folders of photos and videos by drag and drop; a server folder by path. Per-file errors listed. */
import { useRef, useState, type DragEvent } from "react";

import { ApiError, api, type FileOutcome, type Job, type UploadResponse } from "../api/client";
import { JobProgress } from "../components/JobProgress";
import { fileKind, filesFromDrop, filesFromInput, parentFolder, photoBatches, type PickedFile } from "./importing";

interface BatchResult {
  key: string;
  label: string;
  outcomes: FileOutcome[];
  job: number | null;
  error?: string;
}

interface JobErrors {
  errors?: { name?: string; error?: string; code?: string }[];
  [key: string]: unknown;
}

export function ImportPanel() {
  const [picked, setPicked] = useState<PickedFile[]>([]);
  const [over, setOver] = useState(false);
  const [hint, setHint] = useState("");
  const [byFolder, setByFolder] = useState(true);
  const [uploading, setUploading] = useState(false);
  const [progress, setProgress] = useState(0);
  const [results, setResults] = useState<BatchResult[]>([]);
  const [jobErrors, setJobErrors] = useState<Record<number, JobErrors>>({});
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const photos = picked.filter((entry) => fileKind(entry.file) === "photo");
  const videos = picked.filter((entry) => fileKind(entry.file) === "video");
  const others = picked.filter((entry) => fileKind(entry.file) === "other");
  const hasFolders = photos.some((entry) => parentFolder(entry.path) !== null);

  async function onDrop(event: DragEvent<HTMLDivElement>) {
    event.preventDefault();
    setOver(false);
    setPicked([...picked, ...(await filesFromDrop(event.dataTransfer))]);
  }

  async function ensureIdentities(names: string[]): Promise<Map<string, string>> {
    // Folder names become identities; missing ones are created (admins may), so the hint resolves.
    const problems = new Map<string, string>();
    for (const name of names) {
      const found = await api.identities.list({ search: name, page_size: 50 });
      if (found.results.some((identity) => identity.name === name)) continue;
      try {
        await api.identities.create({ name });
      } catch (error) {
        problems.set(name, error instanceof Error ? error.message : String(error));
      }
    }
    return problems;
  }

  async function upload() {
    setUploading(true);
    setResults([]);
    setProgress(0);
    const batches = photoBatches(
      photos.map((entry) => ({ ...entry, size: entry.file.size })),
      { hint: hint.trim() || null, byFolder: byFolder && hasFolders },
    );
    const total = [...photos, ...videos].reduce((sum, entry) => sum + entry.file.size, 0) || 1;
    let sent = 0;
    const done: BatchResult[] = [];
    const refused = others.map((entry) => ({ name: entry.path, status: "error" as const, code: "unsupported", error: "Not a photo or a video: not uploaded." }));
    if (refused.length) done.push({ key: "refused", label: "Skipped here", outcomes: refused, job: null });
    setResults([...done]);

    const folderProblems = byFolder && hasFolders ? await ensureIdentities([...new Set(batches.map((b) => b.identity).filter((n): n is string => Boolean(n)))]) : new Map();

    const send = async (label: string, files: PickedFile[], call: (form: FormData, onProgress: (f: number) => void) => Promise<UploadResponse>, identity: string | null) => {
      const bytes = files.reduce((sum, entry) => sum + entry.file.size, 0);
      const form = new FormData();
      for (const entry of files) form.append("files", entry.file, entry.file.name);
      if (identity) form.append("identity", identity);
      let result: BatchResult;
      if (identity && folderProblems.has(identity)) {
        result = { key: `${label}-${sent}`, label, job: null, outcomes: files.map((entry) => ({ name: entry.path, status: "error", error: folderProblems.get(identity) })) };
      } else {
        try {
          const answer = await call(form, (fraction) => setProgress((sent + fraction * bytes) / total));
          result = { key: `${label}-${sent}`, label, outcomes: answer.files, job: answer.job ?? null };
        } catch (error) {
          const body = error instanceof ApiError ? (error.body as Partial<UploadResponse> | null) : null;
          result = {
            key: `${label}-${sent}`,
            label,
            job: body?.job ?? null,
            outcomes: body?.files ?? files.map((entry) => ({ name: entry.path, status: "error", error: error instanceof Error ? error.message : String(error) })),
            error: error instanceof Error ? error.message : String(error),
          };
        }
      }
      sent += bytes;
      setProgress(sent / total);
      done.push(result);
      setResults([...done]);
    };

    for (const batch of batches) {
      await send(batch.identity ? `Photos of ${batch.identity}` : "Photos", batch.items, api.uploads.photos, batch.identity);
    }
    for (const video of videos) await send(`Video ${video.path}`, [video], api.uploads.videos, null);
    setPicked([]);
    setUploading(false);
  }

  return (
    <section className="panel" aria-labelledby="import-title">
      <h2 id="import-title">Import photos and videos</h2>
      <div
        className={over ? "dropzone over" : "dropzone"}
        data-testid="dropzone"
        onDragOver={(event) => {
          event.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(event) => void onDrop(event)}
      >
        <p>Drop photos, videos or folders here (a folder per person: its name is the identity).</p>
        <p>
          <button type="button" className="secondary" onClick={() => fileInput.current?.click()}>
            Choose files
          </button>{" "}
          <button type="button" className="secondary" onClick={() => folderInput.current?.click()}>
            Choose a folder
          </button>
        </p>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          accept="image/*,video/*"
          data-testid="file-input"
          onChange={(event) => {
            setPicked([...picked, ...filesFromInput(event.target.files)]);
            event.target.value = "";
          }}
        />
        <input
          ref={folderInput}
          type="file"
          multiple
          hidden
          {...{ webkitdirectory: "" }}
          onChange={(event) => {
            setPicked([...picked, ...filesFromInput(event.target.files)]);
            event.target.value = "";
          }}
        />
      </div>
      {picked.length > 0 && (
        <div className="picked">
          <p>
            {photos.length} photos, {videos.length} videos{others.length ? `, ${others.length} other files (skipped)` : ""} ready.{" "}
            <button type="button" className="link" onClick={() => setPicked([])}>
              Clear
            </button>
          </p>
          <div className="form-grid">
            <label htmlFor="import-hint">Photos are of (identity name or id, optional)</label>
            <input id="import-hint" value={hint} onChange={(event) => setHint(event.target.value)} placeholder="empty: bulk import, faces are unknown" />
            {hasFolders && (
              <>
                <span>Folders</span>
                <label className="inline">
                  <input type="checkbox" checked={byFolder} onChange={(event) => setByFolder(event.target.checked)} /> Folder names are identities (created when missing)
                </label>
              </>
            )}
          </div>
          <button type="button" onClick={() => void upload()} disabled={uploading || (!photos.length && !videos.length)}>
            Upload {photos.length + videos.length} files
          </button>
        </div>
      )}
      {(uploading || progress > 0) && (
        <div className="progress" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(progress * 100)}>
          <div className="progress-fill" style={{ width: `${Math.round(progress * 100)}%` }} />
        </div>
      )}
      {results.map((result) => (
        <div key={result.key} className="batch" data-testid="upload-result">
          <h3>
            {result.label}: {result.outcomes.filter((o) => o.status === "accepted").length} accepted, {result.outcomes.filter((o) => o.status === "duplicate").length} duplicates,{" "}
            {result.outcomes.filter((o) => o.status === "error").length} errors
          </h3>
          {result.error && !result.outcomes.length && <p className="error">{result.error}</p>}
          <OutcomeList outcomes={result.outcomes} />
          {result.job && (
            <>
              <JobProgress jobId={result.job} title={`${result.label}: detecting faces`} onFinished={(job: Job) => setJobErrors((all) => ({ ...all, [job.id]: (job.result ?? {}) as JobErrors }))} />
              {jobErrors[result.job]?.errors?.length ? <OutcomeList outcomes={jobErrors[result.job].errors!.map((e) => ({ name: e.name ?? "?", status: "error" as const, error: e.error, code: e.code }))} /> : null}
            </>
          )}
        </div>
      ))}
      <ServerFolderImport />
    </section>
  );
}

function OutcomeList({ outcomes }: { outcomes: FileOutcome[] }) {
  const problems = outcomes.filter((outcome) => outcome.status !== "accepted");
  if (!problems.length) return null;
  return (
    <ul className="outcomes" aria-label="Files not imported">
      {problems.map((outcome, index) => (
        <li key={`${outcome.name}-${index}`} className={outcome.status === "error" ? "error" : "muted"}>
          <strong>{outcome.name}</strong>: {outcome.status === "duplicate" ? "already imported" : outcome.error ?? outcome.code ?? "refused"}
        </li>
      ))}
    </ul>
  );
}

function ServerFolderImport() {
  const [path, setPath] = useState("");
  const [cropped, setCropped] = useState(true);
  const [role, setRole] = useState<"candidate" | "vip">("candidate");
  const [popularity, setPopularity] = useState("");
  const [job, setJob] = useState<number | null>(null);
  const [result, setResult] = useState<JobErrors | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function start() {
    setError(null);
    setResult(null);
    try {
      const answer = await api.uploads.faceFolder({ path, cropped, role, popularity: popularity || undefined });
      setJob(answer.id);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }

  return (
    <section aria-labelledby="folder-title" className="subsection">
      <h3 id="folder-title">Import a face folder on the server</h3>
      <p className="muted">A folder of the form root/&lt;identity name&gt;/&lt;image&gt; that the server can read. Re-running it is safe.</p>
      <div className="form-grid">
        <label htmlFor="folder-path">Folder</label>
        <input id="folder-path" value={path} onChange={(event) => setPath(event.target.value)} placeholder="/data/glint24" />
        <span>Images are</span>
        <label className="inline">
          <input type="checkbox" checked={cropped} onChange={(event) => setCropped(event.target.checked)} /> aligned face crops (skip detection)
        </label>
        <label htmlFor="folder-role">New identities are</label>
        <select id="folder-role" value={role} onChange={(event) => setRole(event.target.value as "candidate" | "vip")}>
          <option value="candidate">candidates</option>
          <option value="vip">VIPs</option>
        </select>
        <label htmlFor="folder-popularity">Popularity CSV (optional)</label>
        <input id="folder-popularity" value={popularity} onChange={(event) => setPopularity(event.target.value)} placeholder="/data/popularity.csv" />
      </div>
      <button type="button" disabled={!path.trim()} onClick={() => void start()}>
        Import folder
      </button>
      {error && <p className="error">{error}</p>}
      {job && <JobProgress jobId={job} title="Folder import" onFinished={(finished) => setResult((finished.result ?? {}) as JobErrors)} />}
      {result?.errors?.length ? (
        <ul className="outcomes error" aria-label="Import errors">
          {result.errors.map((entry, index) => (
            <li key={index}>
              <strong>{entry.name}</strong>: {entry.error}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
