/** Photos of one identity, uploaded from its page by drag and drop (annotators and admins): each
 * batch is sent with the identity as the hint, and every file gets its own result line. */
import { useRef, useState, type DragEvent } from "react";

import { ApiError, api, type FileOutcome, type Identity, type Job, type UploadResponse } from "../api/client";
import { filesFromDrop, filesFromInput, fileKind, photoBatches, type PickedFile } from "../admin/importing";
import { JobProgress } from "../components/JobProgress";

interface Outcome {
  name: string;
  status: string;
  text: string;
}

const STATUS_TEXT: Record<string, string> = {
  accepted: "uploaded: finding faces…",
  imported: "imported",
  duplicate: "already imported",
};

/** One line per file: what happened to it (the reason without repeating its name). */
export function outcomeLines(outcomes: FileOutcome[]): Outcome[] {
  return outcomes.map((outcome) => {
    const reason = (outcome.error ?? outcome.code ?? "refused").replace(new RegExp(`^\\s*${outcome.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*[:-]\\s*`), "");
    return { name: outcome.name, status: outcome.status, text: outcome.status === "error" ? reason : STATUS_TEXT[outcome.status] ?? outcome.status };
  });
}

export function UploadPhotos({ identity, onDone }: { identity: Identity; onDone: () => void }) {
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState(false);
  const [lines, setLines] = useState<Outcome[]>([]);
  const [jobs, setJobs] = useState<number[]>([]);
  const input = useRef<HTMLInputElement>(null);

  async function upload(picked: PickedFile[]) {
    setBusy(true);
    const photos = picked.filter((entry) => fileKind(entry.file) === "photo");
    const refused = picked.filter((entry) => fileKind(entry.file) !== "photo").map((entry) => ({ name: entry.path, status: "error", text: "not a photo: not uploaded" }));
    const done: Outcome[] = [...refused];
    setLines([...done]);
    setJobs([]);
    for (const batch of photoBatches(photos.map((entry) => ({ ...entry, size: entry.file.size })), { hint: String(identity.id), byFolder: false })) {
      const form = new FormData();
      for (const entry of batch.items) form.append("files", entry.file, entry.file.name);
      form.append("identity", String(identity.id));
      try {
        const answer = await api.uploads.photos(form);
        done.push(...outcomeLines(answer.files));
        if (answer.job) setJobs((current) => [...current, answer.job!]);
      } catch (error) {
        const body = error instanceof ApiError ? (error.body as Partial<UploadResponse> | null) : null;
        const message = error instanceof Error ? error.message : String(error);
        done.push(...(body?.files ? outcomeLines(body.files) : batch.items.map((entry) => ({ name: entry.path, status: "error", text: message }))));
      }
      setLines([...done]);
    }
    setBusy(false);
  }

  function finished(job: Job) {
    const errors = ((job.result ?? {}) as { errors?: FileOutcome[] }).errors ?? [];
    if (errors.length) {
      const failed = new Map(outcomeLines(errors).map((line) => [line.name, line]));
      setLines((current) => current.map((line) => failed.get(line.name) ?? line));
    }
    setLines((current) => current.map((line) => (line.status === "accepted" ? { ...line, status: "imported", text: "imported" } : line)));
    onDone();
  }

  return (
    <section className="panel" aria-labelledby="upload-title">
      <h2 id="upload-title">Add photos of {identity.name}</h2>
      <div
        className={over ? "dropzone over" : "dropzone"}
        data-testid="identity-dropzone"
        onDragOver={(event: DragEvent<HTMLDivElement>) => {
          event.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(event: DragEvent<HTMLDivElement>) => {
          event.preventDefault();
          setOver(false);
          void filesFromDrop(event.dataTransfer).then(upload);
        }}
      >
        <p>
          Drop photos of this person here, or{" "}
          <button type="button" className="secondary" disabled={busy} onClick={() => input.current?.click()}>
            choose photos
          </button>
          . Faces found in them wait for review as this identity.
        </p>
        <input
          ref={input}
          type="file"
          multiple
          hidden
          accept="image/*"
          aria-label={`Photos of ${identity.name}`}
          onChange={(event) => {
            void upload(filesFromInput(event.target.files));
            event.target.value = "";
          }}
        />
      </div>
      {lines.length > 0 && (
        <ul className="outcomes" aria-label="Uploaded files" data-testid="identity-upload-results">
          {lines.map((line, index) => (
            <li key={`${line.name}-${index}`} className={line.status === "error" ? "error" : line.status === "duplicate" ? "muted" : "ok"} data-status={line.status}>
              <strong className="long-name" title={line.name}>
                {line.name}
              </strong>
              : {line.text}
            </li>
          ))}
        </ul>
      )}
      {jobs.map((job) => (
        <JobProgress key={job} jobId={job} title="Finding faces" onFinished={finished} />
      ))}
    </section>
  );
}
