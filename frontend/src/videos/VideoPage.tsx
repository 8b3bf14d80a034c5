/** Videos: the list, and one video's sampled frames with the faces found in them. */
import { useMemo, useState } from "react";
import { Link, useParams } from "react-router-dom";

import { api, type Face, type FacePrediction, type Frame, type Video, type VideoTag } from "../api/client";
import { FaceImage } from "../components/FaceThumb";
import { JobProgress } from "../components/JobProgress";
import { num, pct, when } from "../components/format";
import { useDocumentTitle, useLoad } from "../hooks";
import { useSession } from "../session";

export function VideosScreen() {
  useDocumentTitle("Videos");
  const { isAdmin } = useSession();
  const videos = useLoad(() => api.videos.list({ page_size: 100, ordering: "-created_at" }), []);
  const [job, setJob] = useState<number | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const untagged = (videos.data?.results ?? []).filter((video) => video.status === "done" && !video.tagged_at).length;

  function tagUntagged() {
    setMessage(null);
    api.tagging
      .tagUntagged()
      .then((answer) => setJob(answer.id))
      .catch((error: Error) => setMessage(error.message));
  }

  return (
    <section aria-labelledby="videos-title">
      <h1 id="videos-title">Videos</h1>
      {videos.error && <p className="error">{videos.error}</p>}
      {isAdmin && (
        <div className="filters">
          <button type="button" disabled={!untagged || job !== null} onClick={tagUntagged}>
            Tag all untagged ({untagged})
          </button>
          <span className="muted">with the active model at the operating point</span>
        </div>
      )}
      {message && <p className="error">{message}</p>}
      {job && (
        <JobProgress
          jobId={job}
          title="Tagging untagged videos"
          onFinished={() => {
            setJob(null);
            videos.reload();
          }}
        />
      )}
      <div className="table-scroll">
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Video</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">Duration</th>
            <th scope="col" className="num">Size</th>
            <th scope="col" className="num">Faces</th>
            <th scope="col">Tags</th>
            <th scope="col">Uploaded</th>
          </tr>
        </thead>
        <tbody>
          {(videos.data?.results ?? []).map((video) => (
            <tr key={video.id} data-video={video.id}>
              <td className="long-name" title={video.original_name}>
                <Link to={`/videos/${video.id}`}>{video.original_name}</Link>
              </td>
              <td>
                <span className={`badge state-${video.status}`}>{video.status}</span>
                {video.error && <span className="error"> {video.error}</span>}
              </td>
              <td className="num">{video.duration != null ? `${num(video.duration, 1)} s` : "–"}</td>
              <td className="num">{video.width && video.height ? `${video.width}×${video.height}` : "–"}</td>
              <td className="num">{video.face_count ?? "–"}</td>
              <td className="video-tags">
                {video.tags.map((tag) => (
                  <span key={tag.id} className={`tag tag-${tag.status}`} title={`${tag.identity_name}: ${tag.status}, ${pct(tag.confidence, 0)}`}>
                    <Link to={`/identities/${tag.identity}`}>{tag.identity_name}</Link> {pct(tag.confidence, 0)}
                    {tag.status === "confirmed" ? " ✓" : ""}
                  </span>
                ))}
                {!video.tags.length && <span className="muted">{video.tagged_at ? "nobody tagged" : "not tagged yet"}</span>}
              </td>
              <td>{when(video.created_at)}</td>
            </tr>
          ))}
          {videos.data && !videos.data.results.length && (
            <tr>
              <td colSpan={7} className="muted">
                No videos yet. Admins upload them on the Admin page.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      </div>
    </section>
  );
}

/** Face boxes as percentages of the frame, so they scale with the image. */
export function boxStyle(box: unknown, width: number, height: number): { left: string; top: string; width: string; height: string } | null {
  if (!Array.isArray(box) || box.length < 4 || !width || !height) return null;
  const [x, y, w, h] = box.map(Number);
  if ([x, y, w, h].some((value) => !Number.isFinite(value))) return null;
  return { left: `${(x / width) * 100}%`, top: `${(y / height) * 100}%`, width: `${(w / width) * 100}%`, height: `${(h / height) * 100}%` };
}

export function VideoPage() {
  const id = Number(useParams().id);
  const data = useLoad(async () => {
    const [video, frames, faces, tags, predictions] = await Promise.all([
      api.videos.get(id),
      api.videos.frames(id),
      api.videos.faces(id),
      api.tagging.tags(id).catch(() => null),
      api.tagging.predictions(id).catch(() => null),
    ]);
    return { video, frames, faces, tags, predictions };
  }, [id]);
  useDocumentTitle(data.data?.video.original_name ?? "Video");
  if (data.error) return <p className="error">{data.error}</p>;
  if (!data.data) return <p className="muted">Loading…</p>;
  return <VideoDetail {...data.data} reload={data.reload} />;
}

function VideoDetail({
  video,
  frames,
  faces,
  tags,
  predictions,
  reload,
}: {
  video: Video;
  frames: Frame[];
  faces: Face[];
  tags: VideoTag[] | null;
  predictions: FacePrediction[] | null;
  reload: () => void;
}) {
  const [onlyWithFaces, setOnlyWithFaces] = useState(true);
  const predicted = useMemo(() => new Map((predictions ?? []).map((p) => [p.face, p])), [predictions]);
  const byFrame = useMemo(() => {
    const map = new Map<number, Face[]>();
    for (const face of faces) if (face.frame != null) map.set(face.frame, [...(map.get(face.frame) ?? []), face]);
    return map;
  }, [faces]);
  const people = useMemo(() => {
    const counts = new Map<string, { id: number | null; frames: Set<number> }>();
    for (const face of faces) {
      const name = face.identity_name ?? "unknown";
      const entry = counts.get(name) ?? { id: face.identity, frames: new Set<number>() };
      if (face.frame != null) entry.frames.add(face.frame);
      counts.set(name, entry);
    }
    return [...counts.entries()].sort((a, b) => b[1].frames.size - a[1].frames.size);
  }, [faces]);
  const shown = onlyWithFaces ? frames.filter((frame) => byFrame.has(frame.id)) : frames;

  return (
    <section aria-labelledby="video-title">
      <h1 id="video-title">{video.original_name}</h1>
      <p className="muted">
        {video.status} · {video.duration != null ? `${num(video.duration, 1)} s` : "?"} · {video.width}×{video.height} · {video.fps != null ? `${num(video.fps, 1)} fps` : ""} · {frames.length} sampled frames · {faces.length} faces
      </p>
      <Tags video={video} tags={tags} onChange={reload} />
      <section className="panel" aria-labelledby="people-title">
        <h2 id="people-title">Labelled faces in this video</h2>
        <ul className="tags">
          {people.map(([name, entry]) => (
            <li key={name} className="tag">
              {entry.id ? <Link to={`/identities/${entry.id}`}>{name}</Link> : <em>{name}</em>} <span className="muted">in {entry.frames.size} frames</span>
            </li>
          ))}
          {!people.length && <li className="muted">No faces found.</li>}
        </ul>
      </section>
      <label className="inline">
        <input type="checkbox" checked={onlyWithFaces} onChange={(event) => setOnlyWithFaces(event.target.checked)} /> Only frames with faces
      </label>
      <ul className="frames" data-testid="video-frames">
        {shown.map((frame) => (
          <li key={frame.id}>
            <FrameView frame={frame} faces={byFrame.get(frame.id) ?? []} predicted={predicted} width={video.width ?? 0} height={video.height ?? 0} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function Tags({ video, tags, onChange }: { video: Video; tags: VideoTag[] | null; onChange: () => void }) {
  const { isAdmin } = useSession();
  const [job, setJob] = useState<number | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  async function act(work: () => Promise<unknown>, done: string) {
    try {
      await work();
      setMessage(done);
      onChange();
    } catch (error) {
      setMessage(error instanceof Error ? error.message : String(error));
    }
  }

  return (
    <section className="panel" aria-labelledby="tags-title" data-testid="video-tags">
      <h2 id="tags-title">Predicted tags</h2>
      {tags === null && <p className="muted">Video tagging is not available on this server.</p>}
      {tags && !tags.length && <p className="muted">No tags yet{isAdmin ? ": tag the video with the active model." : "."}</p>}
      {message && (
        <p role="status" className="status-line">
          {message}
        </p>
      )}
      <ul className="tag-list">
        {(tags ?? []).map((tag) => (
          <li key={tag.id} className={`tag-row tag-${tag.status}`}>
            <div>
              <Link to={`/identities/${tag.identity}`}>{tag.identity_name}</Link> <strong>{pct(tag.confidence, 0)}</strong>{" "}
              <span className="muted">
                (threshold {num(tag.threshold, 2)}, margin {num(tag.margin, 2)}, {tag.frame_count} frames, run {tag.run})
              </span>{" "}
              <span className={`badge state-${tag.status === "confirmed" ? "succeeded" : tag.status === "rejected" ? "failed" : "queued"}`}>{tag.status}</span>
            </div>
            <ul className="thumbs">
              {tag.evidence.slice(0, 8).map((evidence) => (
                <li key={evidence.face} className="thumb" title={`frame ${evidence.frame_index} at ${num(evidence.timestamp, 1)} s`}>
                  <FaceImage face={{ id: evidence.face, crop_url: evidence.crop_url }} size={56} alt={`${tag.identity_name} at ${num(evidence.timestamp, 1)} s`} />
                  <span className="thumb-label">{pct(evidence.confidence, 0)}</span>
                </li>
              ))}
            </ul>
            {tag.status !== "proposed" && (
              <div className="filters">
                <span className="muted">
                  {tag.status} by {tag.reviewed_by ?? "someone"}
                </span>
                <button type="button" className="secondary" onClick={() => void act(() => api.tagging.undo(tag.id), `Undid the ${tag.status === "confirmed" ? "confirmation" : "rejection"} of ${tag.identity_name}.`)}>
                  Undo {tag.status === "confirmed" ? "confirmation" : "rejection"}
                </button>
              </div>
            )}
            {tag.status === "proposed" && (
              <div className="filters">
                <button type="button" onClick={() => void act(() => api.tagging.confirm(tag.id), `${tag.identity_name} confirmed in this video.`)}>
                  Confirm
                </button>
                <button type="button" className="secondary" onClick={() => void act(() => api.tagging.reject(tag.id), `${tag.identity_name} rejected.`)}>
                  Reject
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
      {isAdmin && tags !== null && (
        <button type="button" className="secondary" onClick={() => void api.tagging.start(video.id).then((answer) => setJob(answer.id)).catch((error: Error) => setMessage(error.message))}>
          {tags.length ? "Re-tag with the active model" : "Tag this video"}
        </button>
      )}
      {job && <JobProgress jobId={job} title="Tagging" onFinished={onChange} />}
    </section>
  );
}

function FrameView({ frame, faces, predicted, width, height }: { frame: Frame; faces: Face[]; predicted: Map<number, FacePrediction>; width: number; height: number }) {
  const [natural, setNatural] = useState<{ width: number; height: number } | null>(null);
  // Boxes are in source-video pixels; without the video's size, the frame image's own size is the scale.
  const scale = width && height ? { width, height } : natural;
  return (
    <figure className="frame">
      <div className="frame-image">
        {frame.image_url && (
          <img
            src={frame.image_url}
            loading="lazy"
            decoding="async"
            alt={`frame ${frame.index} at ${num(frame.timestamp, 1)} s`}
            onLoad={(event) => setNatural({ width: event.currentTarget.naturalWidth, height: event.currentTarget.naturalHeight })}
          />
        )}
        {scale &&
          faces.map((face) => {
            const style = boxStyle(face.box, scale.width, scale.height);
            const prediction = predicted.get(face.id);
            // With predictions: the model's top VIP and confidence; below the threshold (grey) the face counts as
            // unknown, and its top guess is still shown. Without predictions: the face's label.
            const label = prediction
              ? prediction.accepted
                ? `${prediction.identity_name} ${pct(prediction.confidence, 0)}`
                : `unknown · top guess ${prediction.identity_name} ${pct(prediction.confidence, 0)}`
              : `${face.identity_name ?? "unknown"}${face.detector_score != null ? ` · detector ${pct(face.detector_score, 0)}` : ""}`;
            return style ? (
              <div key={face.id} className={prediction && !prediction.accepted ? "box rejected" : "box"} style={style}>
                <span>{label}</span>
              </div>
            ) : null;
          })}
      </div>
      <figcaption>
        #{frame.index} · {num(frame.timestamp, 1)} s · {faces.length} face{faces.length === 1 ? "" : "s"}
      </figcaption>
    </figure>
  );
}
