/** Look closer at one face: the crop zoomed, and the photo or video frame it came from with its box drawn. */
import { useState } from "react";

import { api, type Face } from "../api/client";
import { useLoad } from "../hooks";
import { boxStyle } from "../videos/VideoPage";
import { Dialog } from "./dialog";
import { STATUS_LABELS } from "./format";

export function FaceCloser({ face, onClose }: { face: Face; onClose: () => void }) {
  const [zoom, setZoom] = useState(3);
  const [natural, setNatural] = useState<{ width: number; height: number } | null>(null);
  const source = useLoad(async () => {
    if (face.photo != null) {
      const photo = await api.photos.get(face.photo);
      return { kind: "photo", url: photo.image_url, width: photo.width ?? 0, height: photo.height ?? 0, label: photo.original_name };
    }
    if (face.frame != null) {
      const frame = await api.frames.get(face.frame);
      const video = face.video != null ? await api.videos.get(face.video) : null;
      return { kind: "frame", url: frame.image_url, width: video?.width ?? 0, height: video?.height ?? 0, label: `${video?.original_name ?? "video"}, frame ${frame.index}` };
    }
    return null;
  }, [face.id]);
  const data = source.data;
  const scale = data && data.width && data.height ? { width: data.width, height: data.height } : natural;
  const box = scale ? boxStyle(face.box, scale.width, scale.height) : null;
  return (
    <Dialog className="closer" labelledBy="closer-title" onClose={onClose}>
        <h2 id="closer-title" className="long-name" title={`Face ${face.id}: ${face.identity_name ?? "unknown"}`}>
          Face {face.id}: {face.identity_name ?? "unknown"}
        </h2>
        <p className="muted">
          {STATUS_LABELS[face.status]} · {face.split} · {face.source}
        </p>
        <div className="closer-body">
          <figure>
            {face.crop_url && <img className="zoomed" src={face.crop_url} width={112 * zoom} height={112 * zoom} alt={`face ${face.id} zoomed`} data-testid="zoomed-face" />}
            <figcaption>
              <label className="inline">
                Zoom{" "}
                <input type="range" min={1} max={4} step={0.5} value={zoom} onChange={(event) => setZoom(Number(event.target.value))} />
              </label>
            </figcaption>
          </figure>
          <figure className="frame closer-source" data-testid="face-source">
            {data === null && <p className="muted">An imported crop: there is no source photo or frame.</p>}
            {data && data.url && (
              <div className="frame-image">
                <img src={data.url} alt={`source ${data.kind} of face ${face.id}`} onLoad={(event) => setNatural({ width: event.currentTarget.naturalWidth, height: event.currentTarget.naturalHeight })} />
                {box && <div className="box" style={box} data-testid="face-box" />}
              </div>
            )}
            {data && (
              <figcaption>
                {data.label}{" "}
                {data.url && (
                  <a href={data.url} target="_blank" rel="noreferrer">
                    Open the {data.kind === "photo" ? "photo" : "frame"}
                  </a>
                )}
              </figcaption>
            )}
            {source.error && <p className="error">{source.error}</p>}
          </figure>
        </div>
        <button type="button" onClick={onClose}>
          Close
        </button>
    </Dialog>
  );
}
