"""The video benchmark's report (``bench/video.py``): its targets and the markdown tables (per video by
stage, SFace throughput, runtimes side by side, what tracking could skip)."""

from __future__ import annotations

from typing import Any

TARGET_S = 86400 / 15000  # one worker keeping up with 15,000 videos a day
TARGET_CPU_S = 10.0  # the target on the 2-CPU machine, per 300-frame 720p video


def markdown(results: dict[str, Any]) -> str:
    machine, settings = results["machine"], results["settings"]
    lines = [
        "# Video ingestion and tagging throughput",
        "",
        f"Device: {machine['device']} ({machine['cpu_model']}, {machine['cpus']} logical CPUs); face runtime "
        f"{settings['runtime']} on {settings['face_device']}, {settings['threads'] or 'one per core'} threads per network; "
        f"load average {machine['load_average_before_after'][0]} before, {machine['load_average_before_after'][1]} after "
        "(a shared machine: wall time is inflated by other work, CPU time is what the work costs).",
        "",
        "Per video, end to end (decode in a background thread, YuNet "
        + (
            f"at max side 640 until a face under 40 px at its input shows, then {settings['video_max_side']} ('detected at'"
            " is where each video ended)"
            if settings.get("adaptive_side")
            else f"at max side {settings['video_max_side']}"
        )
        + f" on batches of {settings['batch_frames']} frames, align + quality, SFace on each batch's crops, classify, aggregate); "
        "per 300 frames (shorter videos scaled per frame):",
        "",
        "| video | size | detected at | frames | faces | wall s | CPU s | per 300 frames wall / CPU s | frames/s | faces/s | "
        "decode wait / detect / align / embed s (wall) | decode thread CPU s | tags |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---|",
    ]
    for row in results["videos"]:
        st = row["stages_wall_s"]
        tags = ", ".join(f"{t['name']} ({t['frames']})" for t in row["tags"]) or "none"
        lines.append(
            f"| {row['video']} | {row['width']}x{row['height']} | {row.get('detected_at_max_side', '')} | {row['frames_sampled']} | {row['faces']} | {row['wall_s']:.2f} | "
            f"{row['cpu_s']:.2f} | {row['per_300_frames']['wall_s']:.2f} / {row['per_300_frames']['cpu_s']:.2f} | "
            f"{row['frames_per_s']} | {row['faces_per_s']} | {st['decode_wait']:.2f} / {st['detect']:.2f} / {st['align']:.2f} / "
            f"{st['embed']:.2f} | {row['decode_cpu_s']:.2f} | {tags} |"
        )
    if all("overlapped" in row for row in results["videos"]):
        lines += [
            "",
            "The same videos as ingestion runs them (`FacePipeline.process_batches`: the next batch detected "
            "while a second thread embeds the last one; decode, detect, align, embed, no classifier), per 300 "
            "frames: "
            + "; ".join(
                f"{row['video']} {row['overlapped']['per_300_frames']['wall_s']:.2f} s wall / "
                f"{row['overlapped']['per_300_frames']['cpu_s']:.2f} s CPU"
                for row in results["videos"]
            )
            + ".",
        ]
    emb = results["embed_throughput"]
    lines += [
        "",
        f"Targets: on 2 CPUs at most {TARGET_CPU_S:.0f} s per 300-frame 720p video and at least 60 crops embedded per "
        f"second; on one GPU at most 1.7 s per video and at least 2,000 faces/s. One worker keeping up with "
        f"15,000 videos a day: {TARGET_S:.2f} s per video.",
        "",
        f"SFace alone on {emb['faces']} glint24 crops, batches of {emb['batch_size']}: **{emb['faces_per_s']} faces/s** "
        f"({emb['wall_s']:.2f} s wall, {emb['cpu_s']:.2f} s CPU, {emb['cpu_ms_per_face']} CPU ms per face).",
    ]
    if results.get("many"):
        m = results["many"]
        lines += [
            "",
            f"{m['videos']} videos at once ({m['decode_workers']} decoding threads, frames of all videos in "
            f"batches of {m['batch_frames']}): {m['wall_s']:.2f} s wall, {m['cpu_s']:.2f} s CPU, "
            f"**{m['seconds_per_video']} s per video**, {m['frames_per_s']} frames/s, {m['faces_per_s']} faces/s.",
        ]
    lines += [
        "",
        "Detection per frame on the same frames (ms wall / CPU, faces found; `onnxruntime_video` is "
        "`FacePipeline.for_video(960)`, 640 until a small face shows):",
        "",
    ]
    first = results["videos"][0]["runtimes"]
    lines += ["| video | " + " | ".join(first) + " |", "|---|" + "---|" * len(first)]
    for row in results["videos"]:
        lines.append(
            f"| {row['video']} | "
            + " | ".join(
                f"{v['ms_per_frame_wall']:.0f} / {v['ms_per_frame_cpu']:.0f} ({v['faces']})"
                for v in row["runtimes"].values()
            )
            + " |"
        )
    lines += [
        "",
        "Nothing computed twice? The same face in consecutive sampled frames (IoU > 0.5 with a face of "
        "the previous frame) and how alike its embedding is:",
        "",
        "| video | faces | continued from the previous frame | frames with only continued faces | "
        "cosine to previous, median (10th pct) | share >= 0.999 | share >= 0.97 |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for row in results["videos"]:
        t = row["tracking"]
        lines.append(
            f"| {row['video']} | {t['faces']} | {t['continued_faces']} | {t['frames_all_faces_continued']} of "
            f"{t['frames']} | {t['cosine_to_previous_median']} ({t['cosine_to_previous_p10']}) | "
            f"{t['share_at_least_0999']} | {t['share_at_least_097']} |"
        )
    return "\n".join(lines) + "\n"
