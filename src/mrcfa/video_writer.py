# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Writing RGB frames as a video file with PyAV: the overlay videos of `mrcfa segment --overlay` and of the app.

* `OverlayVideoWriter`: frames in, one video file out (any PyAV encoder; opened at the first frame).
* `browser_video_format`: the encoder, suffix and options of a video browsers play (the app's overlay).
* `VIDEO_SUFFIXES`: the containers the default encoder (MPEG-4 part 2) writes into.

Reading videos is `mrcfa.models.mrcfa.video_io_mrcfa` (it ships with checkpoints, for the video pipeline). PyAV is
imported when a video is written, not with this module.
"""

from __future__ import annotations

from .errors import UsageError
from .models.mrcfa.video_io_mrcfa import VideoWriter

__all__ = ["VIDEO_SUFFIXES", "OverlayVideoWriter", "browser_video_format"]

#: Containers the overlay video (MPEG-4 part 2) can be written to, by file name suffix.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".m4v")


class OverlayVideoWriter(VideoWriter):
    """The shipped `VideoWriter` (PyAV, opened at the first frame), with a missing PyAV reported as a `UsageError`:
    for the front ends, a video output without PyAV is the user's setup to fix, not a crash."""

    def __init__(self, path, rate, codec: str = "mpeg4", options: dict[str, str] | None = None):
        try:
            super().__init__(path, rate, codec=codec, options=options)
        except ImportError as err:
            raise UsageError(str(err)) from err


def browser_video_format() -> tuple[str, str, dict[str, str]]:
    """`(encoder, suffix, options)` of a video browsers play: H.264 in MP4 when PyAV has libx264, else VP9 in WebM."""
    import av

    if "libx264" in av.codecs_available:
        return "libx264", ".mp4", {"crf": "18", "preset": "veryfast"}
    if "libvpx-vp9" in av.codecs_available:
        return "libvpx-vp9", ".webm", {"crf": "24", "b": "0", "deadline": "realtime"}
    raise UsageError("this PyAV build has neither libx264 nor libvpx-vp9: no browser-playable video can be written.")
