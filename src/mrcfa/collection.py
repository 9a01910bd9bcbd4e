# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Segmenting a collection of videos: `mrcfa segment` on many inputs, in one process or across processes and GPUs.

* `list_videos(inputs)`: the videos the command's inputs name, and whether they form a collection. An input is a path
  (a video file, a folder of frames, a VSPW video folder, or a folder of videos), a glob pattern (`'clips/*.mp4'`,
  for patterns the shell did not expand) or `@LIST`: a text file naming one path per line (blank lines and lines
  starting with `#` are ignored; relative paths are relative to the list's folder). A folder is a collection of
  videos when it holds video files (`VIDEO_FILE_SUFFIXES`) and no frames (image files, in it or in its `origin/`);
  any other folder is one video (its frames). Several inputs, a folder of videos, a pattern or a list make a
  collection, even of one video; one plain path is one video.
* `name_videos(sources)`: the videos (`CollectionVideo`) with their folders under the output: its file stem (a
  folder's name), made unique in input order (`clip`, `clip-2`, ...; compared ignoring case; the manifest's names are
  kept free).
* `plan_shares(weights, num_processes)`: disjoint shares of the videos, balanced by frame count (largest first onto the
  least loaded process; deterministic), so that every process of a launch computes the same plan.
* `previous_result(output, source, options)`: what a video's folder holds from an earlier run: the resume rule.
* `segment_collection(...)`: one process's share: each video's folder as `mrcfa.segmenting.segment_to_folder` writes
  it, `streams` videos at a time in one batch (`segment_to_folders`), a bad video recorded with its one-line error
  while the run goes on, and one line per video in the process's manifest part (`manifest.rank<k>.jsonl`), written
  as each video ends.
* `merge_manifests(root, videos, num_processes)`: the parts into `manifest.jsonl`, in input order (the main process,
  once every process is done); the parts are removed.

A manifest line is `{"input", "output", "frames", "seconds", "status", "error"}`: `status` is `done`,
`skipped-complete` (an earlier run completed it: not redone), `incomplete` (stopped early: its summary.json says why;
`frames` were written) or `failed` (nothing written, e.g. a file that is no video); `error` is one line, or null.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import UsageError
from .models.mrcfa.video_io_mrcfa import IMAGE_SUFFIXES, VideoReadError, probe_video
from .segmenting import (
    FolderJob,
    FolderResult,
    IncompleteVideoError,
    SegmentationOptions,
    result_line,
    segment_to_folders,
)

__all__ = [
    "MANIFEST",
    "STATUSES",
    "VIDEO_FILE_SUFFIXES",
    "CollectionVideo",
    "list_videos",
    "manifest_part",
    "merge_manifests",
    "name_videos",
    "plan_shares",
    "previous_result",
    "segment_collection",
    "video_weights",
]

#: The run's manifest, in the output folder: one JSON line per video, in input order.
MANIFEST = "manifest.jsonl"
#: A manifest line's `status`; the first two are successes.
STATUSES = ("done", "skipped-complete", "incomplete", "failed")
#: Suffixes of the video files a folder of videos holds (what FFmpeg reads through PyAV; compared ignoring case).
VIDEO_FILE_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv", ".wmv",
    ".3gp", ".ogv",
)  # fmt: skip
_PART = re.compile(r"manifest\.rank(\d+)\.jsonl")
_GLOB_CHARACTERS = re.compile(r"[*?[]")


@dataclass(frozen=True)
class CollectionVideo:
    """One video of a collection: its `source` (an absolute path), its folder `name` under the output, and its
    `index` in the input order."""

    source: Path
    name: str
    index: int


def _frames_in(folder: Path) -> bool:
    for where in (folder, folder / "origin"):
        if where.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in where.iterdir()):
            return True
    return False


def _videos_in(folder: Path) -> list[Path] | None:
    """The video files of `folder` (sorted by name) when it is a folder of videos, else None (one video: frames)."""
    if not folder.is_dir() or _frames_in(folder):
        return None
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_FILE_SUFFIXES and p.is_file())
    return videos or None


def _read_list(path: Path) -> list[Path]:
    if not path.is_file():
        raise UsageError(f"@{path}: no such list file (expected a text file naming one video per line).")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"@{path}: cannot read the list of videos: {err}") from err
    entries = [line.strip() for line in lines]
    paths = [path.parent / entry for entry in entries if entry and not entry.startswith("#")]
    if not paths:
        raise UsageError(f"@{path} lists no videos (one path per line; # starts a comment).")
    return paths


def list_videos(inputs: Sequence[str]) -> tuple[list[Path], bool]:
    """The videos named by `inputs` (see the module docstring), in order, each once, and whether they form a
    collection (several inputs, a folder of videos, a glob pattern or an `@LIST`).

    Raises `UsageError` for an input that does not exist, a pattern that matches nothing, a list that cannot be read
    or names a missing path, and a `.txt` file given as a video.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    collection = len(inputs) > 1
    videos: list[Path] = []
    for text in map(str, inputs):
        if Path(text).exists():
            paths = [Path(text)]
        elif text.startswith("@"):
            paths, collection = _read_list(Path(text[1:])), True
        elif _GLOB_CHARACTERS.search(text):
            paths, collection = [Path(p) for p in sorted(glob.glob(text, recursive=True))], True
            if not paths:
                raise UsageError(f"no file matches {text}")
        else:
            raise UsageError(f"input not found: {text}")
        for path in paths:
            if not path.exists():
                raise UsageError(f"input not found: {path}")
            if path.is_file() and path.suffix.lower() == ".txt":
                raise UsageError(
                    f"{path} is a text file, not a video: to segment the videos it lists (one per line), pass @{path}"
                )
            found = _videos_in(path)
            collection |= found is not None
            videos += found if found is not None else [path]
    unique, seen = [], set()
    for video in videos:  # the same video named twice is segmented once
        key = os.path.realpath(video)
        if key not in seen:
            seen.add(key)
            unique.append(Path(os.path.abspath(video)))
    return unique, collection


def _is_manifest(name: str) -> bool:
    """Whether `name` is (a case variant of) a manifest file's name: kept free of video folders."""
    name = name.casefold()
    return name in (MANIFEST, MANIFEST + ".partial") or _PART.fullmatch(name) is not None


def name_videos(sources: Sequence[Path]) -> list[CollectionVideo]:
    """The videos `sources` (in input order) with their folder names under the output: the file stem (a folder's own
    name), with `-2`, `-3`, ... for later videos of the same name (ignoring case)."""
    taken: set[str] = set()
    videos = []
    for index, source in enumerate(sources):
        stem = Path(source).name if Path(source).is_dir() else Path(source).stem
        name, k = stem, 1
        while name.casefold() in taken or _is_manifest(name):
            k += 1
            name = f"{stem}-{k}"
        taken.add(name.casefold())
        videos.append(CollectionVideo(Path(source), name, index))
    return videos


def plan_shares(weights: Sequence[float | None], num_processes: int) -> list[list[int]]:
    """Disjoint shares of the videos `0..len(weights)-1`, one per process, each in input order: the heaviest video
    first onto the least loaded process (the lower index on ties). `weights` are frame counts, None where unknown
    (counted as the mean of the known ones); every process computes the same plan from the same weights."""
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}.")
    known = [w for w in weights if w is not None]
    default = sum(known) / len(known) if known else 1.0
    sized = [default if w is None else w for w in weights]
    loads = [0.0] * num_processes
    shares: list[list[int]] = [[] for _ in range(num_processes)]
    for i in sorted(range(len(sized)), key=lambda i: (-sized[i], i)):
        rank = min(range(num_processes), key=lambda r: (loads[r], r))
        shares[rank].append(i)
        loads[rank] += sized[i]
    return [sorted(share) for share in shares]


def _video_options(options: SegmentationOptions, output: Path) -> SegmentationOptions:
    """`options` for one video of a collection: its overlay and preview (file names) inside its folder."""
    return replace(
        options,
        overlay=output / options.overlay if options.overlay else None,
        preview=output / options.preview if options.preview else None,
    )


def _same_input(recorded, source: Path) -> bool:
    if not isinstance(recorded, str):
        return False
    try:
        return os.path.abspath(recorded) == str(source) or os.path.samefile(recorded, source)
    except OSError:
        return False


def previous_result(output: Path, source: Path, options: SegmentationOptions) -> tuple[str, dict | None]:
    """What `output` holds from an earlier run for the video `source` (`options` as for the collection), with its
    summary when it has one:

    * `"absent"`: nothing (no folder, or an empty one);
    * `"complete"`: a complete result of the same input and model, with the same `max_frames` and the overlay and
      preview asked for: a rerun skips it;
    * `"foreign"`: a complete result of another input or another model: not replaced without `--overwrite`;
    * `"redo"`: anything else (partial results of a stopped or killed run, an incomplete video, other options):
      a rerun removes what that run wrote (`remove_results`) and segments the video again.
    """
    output = Path(output)
    if not output.is_dir() or not any(output.iterdir()):
        return "absent", None
    try:
        summary = json.loads((output / "summary.json").read_text())
    except (OSError, ValueError):  # none, or one cut short
        return "redo", None
    if not isinstance(summary, dict) or summary.get("complete") is not True:
        return "redo", summary if isinstance(summary, dict) else None
    if not _same_input(summary.get("input"), Path(source)) or summary.get("model") != options.model_name:
        return "foreign", summary
    files = _video_options(options, output)
    wanted = [Path(path) for path in (files.overlay, files.preview) if path]
    if summary.get("max_frames") != options.max_frames or not all(path.is_file() for path in wanted):
        return "redo", summary
    return "complete", summary


def video_weights(
    videos: Sequence[CollectionVideo], root: str | Path, options: SegmentationOptions
) -> list[float | None]:
    """Each video's weight for `plan_shares`: its frame count (`probe_video`, at most `max_frames`; None when the
    container does not tell), 0 for a video a rerun skips (complete) or that cannot be opened (it fails at once)."""
    weights: list[float | None] = []
    for video in videos:
        if previous_result(Path(root) / video.name, video.source, options)[0] == "complete":
            weights.append(0)
            continue
        try:
            count = probe_video(video.source).expected_frames
        except (VideoReadError, OSError):
            weights.append(0)
            continue
        if count is not None and options.max_frames is not None:
            count = min(count, options.max_frames)
        weights.append(count)
    return weights


def manifest_part(root: str | Path, process_index: int) -> Path:
    """The manifest part of process `process_index` under the output folder `root`."""
    return Path(root) / f"manifest.rank{process_index}.jsonl"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, (UsageError, VideoReadError, FileNotFoundError)):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__  # a program error: name its type


def _earlier_record(video: CollectionVideo, root: Path, options, overwrite: bool) -> dict | None:
    """The manifest record of a video an earlier run decides (complete: skipped; another input's or model's results:
    refused), or None when it is to be segmented."""
    from tqdm.auto import tqdm

    output = root / video.name
    state, summary = previous_result(output, video.source, options)
    record = {"input": str(video.source), "output": str(output), "frames": 0, "seconds": 0.0}
    if state == "complete" and not overwrite:
        tqdm.write(f"{output}: complete from an earlier run, skipped")
        return {**record, "frames": summary["frames_written"], "status": "skipped-complete", "error": None}
    if state == "foreign" and not overwrite:
        error = (
            f"{output} holds the complete results of {summary.get('input')} with the model {summary.get('model')}: "
            "pass --overwrite to replace them, or choose another --output."
        )
        tqdm.write(f"{video.source}: failed: {error}", file=sys.stderr)
        return {**record, "status": "failed", "error": error}
    return None


def _result_record(result: FolderResult) -> dict:
    """The manifest record of a video segmented (or not) by `segment_to_folders`; reports it in one line."""
    from tqdm.auto import tqdm

    job, error = result.job, result.error
    record = {"input": str(job.source), "output": str(job.output), "frames": 0, "seconds": result.seconds}
    if error is None:
        record.update(frames=result.summary["frames_written"], status="done", error=None)
        tqdm.write(result_line(job.output))
    elif isinstance(error, IncompleteVideoError):
        record.update(frames=error.summary["frames_written"], status="incomplete", error=error.summary["error"])
    else:
        record.update(status="failed", error=_one_line(error))
    if record["error"]:
        tqdm.write(f"{job.source}: {record['status']}: {record['error']}", file=sys.stderr)
    return record


def segment_collection(
    model,
    processor,
    videos: Sequence[CollectionVideo],
    root: str | Path,
    options: SegmentationOptions,
    *,
    process_index: int = 0,
    num_processes: int = 1,
    weights: Sequence[float | None] | None = None,
    overwrite: bool = False,
    streams: int = 1,
) -> list[dict]:
    """Segment this process's share of `videos` into `root/<name>/` (`segment_to_folder`'s outputs) and return their
    manifest records, also written one per line, as each video ends, to `manifest_part(root, process_index)`.

    `options` are each video's, but `overlay` and `preview` are file names, written into each video's folder.
    The share is `plan_shares(weights, num_processes)[process_index]` (`weights`: `video_weights`, computed here when
    None and there are several processes). Resume (`previous_result`): a video completed by an earlier run is
    skipped, a partial one redone, complete results of another input or model refused (unless `overwrite`, which
    redoes every video). The videos to segment go through `segment_to_folders`, `streams` of them at once in one
    batch (the labels do not depend on `streams`). A video that fails is recorded with its one-line error and the
    others go on; an interruption stops the run (the part keeps the videos done; the videos in flight have a
    summary saying they are incomplete, and a rerun redoes them).
    """
    from tqdm.auto import tqdm

    root = Path(root)
    if num_processes > 1 and weights is None:
        weights = video_weights(videos, root, options)
    share = range(len(videos)) if num_processes == 1 else plan_shares(weights, num_processes)[process_index]
    root.mkdir(parents=True, exist_ok=True)
    records = []
    bar = tqdm(total=len(share), unit="video", desc="videos", disable=not options.progress, position=0)
    with manifest_part(root, process_index).open("w") as part, bar:

        def report(record: dict) -> None:
            part.write(json.dumps(record) + "\n")
            part.flush()
            records.append(record)
            bar.update(1)

        jobs = []
        for i in share:
            video = videos[i]
            record = _earlier_record(video, root, options, overwrite)
            if record is not None:
                report(record)
            else:
                output = root / video.name
                jobs.append(FolderJob(video.source, output, _video_options(options, output), video.name))
        results = segment_to_folders(
            model,
            processor,
            jobs,
            streams=streams,
            batch_size=options.batch_size,
            device=options.device,
            progress_position=1,
        )
        for result in results:
            report(_result_record(result))
    return records


def merge_manifests(root: str | Path, videos: Sequence[CollectionVideo], num_processes: int = 1) -> list[dict]:
    """Merge the parts of processes `0..num_processes-1` into `root/manifest.jsonl`, one line per video of `videos`
    in their order (a video no part reports is `failed`: its process stopped before it), remove every part, and
    return the records. Call it on one process, once all are done."""
    root = Path(root)
    reported: dict[str, dict] = {}
    for rank in range(num_processes):
        path = manifest_part(root, rank)
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    record = json.loads(line)
                    reported[record["input"]] = record
    records = []
    for video in videos:
        record = reported.get(str(video.source))
        if record is None:
            record = {"input": str(video.source), "output": str(root / video.name), "frames": 0, "seconds": 0.0}
            record.update(status="failed", error="not segmented: its process stopped before it")
        records.append(record)
    manifest = root / MANIFEST
    partial = manifest.with_name(MANIFEST + ".partial")
    partial.write_text("".join(json.dumps(record) + "\n" for record in records))
    partial.replace(manifest)
    for path in root.iterdir():
        if _PART.fullmatch(path.name) and path.is_file():
            path.unlink()
    return records
