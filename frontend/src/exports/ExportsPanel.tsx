/**
 * Exports (admins): create a dataset version from a filter, watch it freeze, build its formats,
 * download the files (sizes and SHA-256 beside each), and compare two versions per identity.
 */
import { useState, type FormEvent } from "react";

import { api, type DatasetVersion, type ExportBuild, type VersionComparison } from "../api/client";
import { when } from "../components/format";
import { useInterval, useLoad } from "../hooks";
import { describeFilter, EMPTY_FORM, FORMATS, formatBytes, stillWorking, versionBody, type ExportFormat, type VersionForm } from "./exportForm";

const SPLITS = ["train", "val", "test"];
const SOURCES = ["photo", "frame", "crop"]; // frame: a face found in a video frame

export function ExportsPanel() {
  const versions = useLoad(() => api.exports.versions(), []);
  const rows = versions.data?.results ?? [];
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | null>(null);
  useInterval(versions.reload, 1000, stillWorking(rows));
  const done = (text: string, error = false) => {
    setNotice({ text, error });
    versions.reload();
  };
  return (
    <>
      {notice && (
        <p className={notice.error ? "error" : "ok"} role="status">
          {notice.text}
        </p>
      )}
      <NewVersion onDone={done} />
      <section className="panel" aria-labelledby="versions-title">
        <h2 id="versions-title">Dataset versions</h2>
        {versions.error && <p className="error">{versions.error}</p>}
        {!rows.length && !versions.loading && <p className="muted">No dataset version yet: create one above.</p>}
        <div className="version-list" data-testid="versions">
          {rows.map((version) => (
            <VersionCard key={version.id} version={version} onDone={done} />
          ))}
        </div>
      </section>
      <Compare versions={rows.filter((version) => version.state === "ready")} />
    </>
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toggle(list: string[], value: string): string[] {
  return list.includes(value) ? list.filter((item) => item !== value) : [...list, value];
}

function NewVersion({ onDone }: { onDone: (text: string, error?: boolean) => void }) {
  const [form, setForm] = useState<VersionForm>(EMPTY_FORM);
  const [busy, setBusy] = useState(false);
  const set = (change: Partial<VersionForm>) => setForm((current) => ({ ...current, ...change }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = versionBody(form);
    if ("error" in parsed) return onDone(parsed.error, true);
    setBusy(true);
    try {
      const version = await api.exports.create(parsed.body);
      onDone(`Version ${version.id} created: its faces are being frozen.`);
      setForm(EMPTY_FORM);
    } catch (error) {
      onDone(message(error), true);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="new-version-title">
      <h2 id="new-version-title">New dataset version</h2>
      <p className="muted">A version freezes the faces the filter selects now: relabelling later never changes it.</p>
      <form onSubmit={(event) => void submit(event)}>
        <div className="form-grid">
          <label htmlFor="version-name">Name</label>
          <input id="version-name" value={form.name} maxLength={200} onChange={(event) => set({ name: event.target.value })} placeholder="e.g. spring release" />
          <label htmlFor="version-status">Faces</label>
          <select id="version-status" value={form.status} onChange={(event) => set({ status: event.target.value as VersionForm["status"] })}>
            <option value="verified">verified only</option>
            <option value="non_excluded">verified and unverified</option>
          </select>
          <label htmlFor="version-chunks">VIP chunks</label>
          <input id="version-chunks" value={form.chunks} onChange={(event) => set({ chunks: event.target.value })} placeholder="all (or e.g. 1, 2)" />
          <span>Distractors</span>
          <label className="inline">
            <input type="checkbox" checked={form.distractors} onChange={(event) => set({ distractors: event.target.checked })} /> include candidates and unknown people
          </label>
          <span>Splits</span>
          <span>
            {SPLITS.map((split) => (
              <label key={split} className="inline">
                <input type="checkbox" checked={form.splits.includes(split)} onChange={() => set({ splits: toggle(form.splits, split) })} /> {split}{" "}
              </label>
            ))}
            <span className="muted">(none ticked: all)</span>
          </span>
          <span>Sources</span>
          <span>
            {SOURCES.map((source) => (
              <label key={source} className="inline">
                <input type="checkbox" checked={form.sources.includes(source)} onChange={() => set({ sources: toggle(form.sources, source) })} /> {source}{" "}
              </label>
            ))}
            <span className="muted">(none ticked: all)</span>
          </span>
        </div>
        <button type="submit" disabled={busy}>
          Create version
        </button>
      </form>
    </section>
  );
}

function VersionCard({ version, onDone }: { version: DatasetVersion; onDone: (text: string, error?: boolean) => void }) {
  const [format, setFormat] = useState<ExportFormat>("imagefolder");
  async function build() {
    try {
      const answer = await api.exports.build(version.id, format);
      onDone(`Building ${answer.format} of version ${version.id}.`);
    } catch (error) {
      onDone(message(error), true);
    }
  }
  const title = `Version ${version.id}${version.name ? `: ${version.name}` : ""}`;
  return (
    <article className="version" data-version={version.id} data-state={version.state} aria-label={title}>
      <header className="version-head">
        <h3 className="long-name" title={title}>
          {title}
        </h3>
        <span className={`badge state-${version.state}`}>{version.state === "pending" ? "freezing" : version.state}</span>
      </header>
      <p className="muted">
        {describeFilter(version.filters)} · by {version.created_by ?? "–"} · {when(version.created_at)}
      </p>
      {version.error && <p className="error">{version.error}</p>}
      {version.state === "ready" && (
        <>
          <p>
            <strong>{version.face_count}</strong> {version.face_count === 1 ? "face" : "faces"} in <strong>{version.class_count}</strong>{" "}
            {version.class_count === 1 ? "class" : "classes"} · content hash <code title={version.content_hash}>{version.content_hash.slice(0, 12)}</code>
          </p>
          <div className="filters">
            <label htmlFor={`format-${version.id}`}>Format</label>
            <select id={`format-${version.id}`} value={format} onChange={(event) => setFormat(event.target.value as ExportFormat)}>
              {FORMATS.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
            <button type="button" onClick={() => void build()}>
              Build
            </button>
          </div>
          {version.builds.length > 0 && <Builds builds={version.builds} />}
        </>
      )}
    </article>
  );
}

function Builds({ builds }: { builds: ExportBuild[] }) {
  return (
    <div className="table-scroll">
      <table className="data compact">
        <thead>
          <tr>
            <th scope="col">Format</th>
            <th scope="col">State</th>
            <th scope="col">File</th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col">SHA-256</th>
          </tr>
        </thead>
        <tbody>
          {builds.map((build) =>
            build.state !== "ready" || build.files.length === 0 ? (
              <tr key={build.id} data-build={build.format} data-state={build.state}>
                <td>{build.format}</td>
                <td>
                  <span className={`badge state-${build.state}`}>{build.state}</span>
                  {build.state === "running" && ` ${Math.round((build.progress ?? 0) * 100)}%`}
                </td>
                <td colSpan={3} className={build.error ? "error" : "muted"}>
                  {build.error || (build.state === "ready" ? "no files" : "building…")}
                </td>
              </tr>
            ) : (
              build.files.map((file, index) => (
                <tr key={file.id} data-build={build.format} data-state={build.state} data-file={file.name}>
                  <td>{index === 0 ? build.format : ""}</td>
                  <td>{index === 0 && <span className={`badge state-${build.state}`}>{build.state}</span>}</td>
                  <td>
                    <a href={file.download_url} download>
                      {file.name}
                    </a>
                  </td>
                  <td className="num" title={`${file.size} bytes`}>
                    {formatBytes(file.size)}
                  </td>
                  <td>
                    <code className="checksum" title={file.sha256}>
                      {file.sha256}
                    </code>
                  </td>
                </tr>
              ))
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}

function Compare({ versions }: { versions: DatasetVersion[] }) {
  const [base, setBase] = useState("");
  const [other, setOther] = useState("");
  const [answer, setAnswer] = useState<VersionComparison | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function compare(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      setAnswer(await api.exports.compare(Number(base), Number(other)));
    } catch (caught) {
      setAnswer(null);
      setError(message(caught));
    }
  }
  const options = versions.map((version) => (
    <option key={version.id} value={version.id}>
      {version.id}
      {version.name ? `: ${version.name}` : ""}
    </option>
  ));
  return (
    <section className="panel" aria-labelledby="compare-title">
      <h2 id="compare-title">Compare two versions</h2>
      {versions.length < 2 ? (
        <p className="muted">Two frozen versions are needed to compare.</p>
      ) : (
        <form className="filters" onSubmit={(event) => void compare(event)}>
          <label htmlFor="compare-base">From</label>
          <select id="compare-base" value={base} required onChange={(event) => setBase(event.target.value)}>
            <option value="">choose…</option>
            {options}
          </select>
          <label htmlFor="compare-other">to</label>
          <select id="compare-other" value={other} required onChange={(event) => setOther(event.target.value)}>
            <option value="">choose…</option>
            {options}
          </select>
          <button type="submit">Compare</button>
        </form>
      )}
      {error && <p className="error">{error}</p>}
      {answer && (
        <div data-testid="comparison">
          <p>
            {answer.identical
              ? "The two versions hold the same faces with the same labels and splits."
              : `${answer.added} added, ${answer.removed} removed, ${answer.relabelled} relabelled, ${answer.moved_split} moved to another split.`}
          </p>
          {answer.per_identity.length > 0 && (
            <div className="table-scroll">
              <table className="data compact">
                <thead>
                  <tr>
                    <th scope="col">Identity</th>
                    <th scope="col" className="num">
                      Added
                    </th>
                    <th scope="col" className="num">
                      Removed
                    </th>
                    <th scope="col" className="num">
                      Relabelled to it
                    </th>
                    <th scope="col" className="num">
                      Relabelled away
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {answer.per_identity.map((row) => (
                    <tr key={row.label} data-label={row.label}>
                      <td className="long-name" title={row.label}>
                        {row.label}
                      </td>
                      <td className="num">{row.added}</td>
                      <td className="num">{row.removed}</td>
                      <td className="num">{row.relabelled_in}</td>
                      <td className="num">{row.relabelled_out}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
