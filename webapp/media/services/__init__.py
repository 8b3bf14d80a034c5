"""Writes on photos, videos and imported face folders: ingestion, in one place.

Every way faces come in (photo upload, face-folder import, video upload, the demo) runs through
the modules of this package, so they all behave alike:

- a file is checked (size, decodability, pixel count) and stored through Django's default
  storage *before* any row refers to it; if writing its rows fails, the stored files are deleted;
- exact duplicates (same bytes) are never imported twice: ``Photo.sha256``, ``Video.sha256`` and
  ``Face.content_sha256`` for imported crops;
- faces are detected and embedded in batches, and all rows of one source (a photo, a video, a
  batch of crops) are written with ``bulk_create`` in one transaction;
- near duplicates (perceptual hash within N bits, or embedding cosine above a threshold via the
  similarity index) point at the face they duplicate and adopt its group, so they share a split;
- each face's split is ``split_for_group(group_key)``: ``photo:<id>``, ``video:<id>``,
  ``crop:<sha256>``;
- a bad file gives a per-file error (``FileOutcome``) and the rest of the batch goes on.

One module per concept: ``outcomes`` (per-file errors and job summaries), ``files`` (checks and
storage writes), ``pipeline`` (adapters over ml/), ``duplicates`` (near-duplicate linking),
``face_rows`` (drafts and their bulk write), ``identity_names``, ``photos``, ``videos``,
``videos_batched`` (several videos in one job, their frames batched together), ``folders`` (face-folder imports and the import roots), ``runs`` (a job run in this process) and
``demo``. The public entry points are imported here, so callers write ``media.services.<name>``.
"""

from .demo import demo_import, ingest_totals
from .duplicates import NearDuplicates
from .face_rows import FaceDraft, faces_write
from .files import WrittenFiles, upload_check_request, upload_check_size, upload_max_bytes, upload_too_many_files
from .folders import (
    CROP_BATCH,
    FolderEntry,
    OutsideImportRoots,
    faces_import_confined,
    faces_import_folder,
    faces_import_start,
    folder_scan,
    import_path_check,
    import_roots,
)
from .identity_names import identities_set_popularity, identity_lookup, popularity_read_csv
from .outcomes import FileOutcome, IngestError, Progress, TooManyFiles, UploadResult
from .photos import (
    IMAGE_SUFFIXES,
    photo_store,
    photos_import_paths,
    photos_process,
    photos_start_processing,
    photos_upload,
)
from .pipeline import face_pipeline, face_split
from .runs import job_run_here
from .videos import (
    VIDEO_BATCH,
    VIDEO_SUFFIXES,
    VideoRun,
    video_from_path,
    video_import_path,
    video_job_groups,
    video_process,
    video_start_processing,
    video_store,
    videos_start_processing,
    videos_upload,
)
from .videos_batched import DECODE_THREADS, videos_import_here, videos_import_paths, videos_process

__all__ = [
    "Progress",
    "IngestError",
    "TooManyFiles",
    "FileOutcome",
    "UploadResult",
    "upload_max_bytes",
    "upload_check_size",
    "upload_check_request",
    "upload_too_many_files",
    "WrittenFiles",
    "face_pipeline",
    "face_split",
    "NearDuplicates",
    "FaceDraft",
    "faces_write",
    "identity_lookup",
    "popularity_read_csv",
    "identities_set_popularity",
    "IMAGE_SUFFIXES",
    "photo_store",
    "photos_upload",
    "photos_start_processing",
    "photos_process",
    "photos_import_paths",
    "VIDEO_BATCH",
    "VIDEO_SUFFIXES",
    "video_store",
    "videos_upload",
    "video_start_processing",
    "video_process",
    "video_import_path",
    "video_from_path",
    "VideoRun",
    "video_job_groups",
    "videos_start_processing",
    "DECODE_THREADS",
    "videos_process",
    "videos_import_paths",
    "videos_import_here",
    "CROP_BATCH",
    "FolderEntry",
    "folder_scan",
    "faces_import_folder",
    "OutsideImportRoots",
    "import_roots",
    "import_path_check",
    "faces_import_start",
    "faces_import_confined",
    "job_run_here",
    "demo_import",
    "ingest_totals",
]
