# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Writing RGB frames as a video file with PyAV: the overlay videos of `mrcfa segment --overlay` and of the app.

* `OverlayVideoWriter`: frames in, one video file out (any PyAV encoder; opened at the first frame).
* `browser_video_format`: the encoder, suffix and options of a video browsers play (the app's overlay).
* `VIDEO_SUFFIXES`: the containers the default encoder (MPEG-4 part 2) writes into.

Reading videos is `mrcfa.models.mrcfa.video_io_mrcfa` (it ships with checkpoints, for the video pipeline). PyAV is
imported when a video is written, not with this module.
"""

from __future__ import annotations

import numpy as np

from .errors import UsageError

__all__ = ["VIDEO_SUFFIXES", "OverlayVideoWriter", "browser_video_format"]

#: Containers the overlay video (MPEG-4 part 2) can be written to, by file name suffix.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".m4v")


class OverlayVideoWriter:
    """Writes RGB frames to a video file with PyAV, opened at the first frame (odd sizes lose their last row/column).

    `codec`: a PyAV encoder name ("mpeg4"; "libx264" in .mp4 or "libvpx-vp9" in .webm play in browsers); `rate`: the
    frame rate (an int or a `fractions.Fraction`). Use as a context manager, or call `close()`.
    """

    def __init__(self, path, rate, codec: str = "mpeg4", options: dict[str, str] | None = None):
        try:
            import av
        except ImportError as err:
            raise UsageError("writing a video needs PyAV: pip install av (or 'mrcfa[video]').") from err
        self._av, self.path, self.rate, self.codec, self.options = av, path, rate, codec, options or {}
        self._container = self._stream = None

    def write(self, rgb: np.ndarray) -> None:
        """Append one `[H, W, 3]` uint8 frame."""
        if self._stream is None:
            self._container = self._av.open(str(self.path), mode="w")
            self._stream = self._container.add_stream(self.codec, rate=self.rate, options=self.options)
            self._stream.width, self._stream.height = rgb.shape[1] - rgb.shape[1] % 2, rgb.shape[0] - rgb.shape[0] % 2
            self._stream.pix_fmt = "yuv420p"
        frame = np.ascontiguousarray(rgb[: self._stream.height, : self._stream.width])
        for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file (nothing is written when no frame came)."""
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._stream = None

    def __enter__(self) -> OverlayVideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def browser_video_format() -> tuple[str, str, dict[str, str]]:
    """`(encoder, suffix, options)` of a video browsers play: H.264 in MP4 when PyAV has libx264, else VP9 in WebM."""
    import av

    if "libx264" in av.codecs_available:
        return "libx264", ".mp4", {"crf": "18", "preset": "veryfast"}
    if "libvpx-vp9" in av.codecs_available:
        return "libvpx-vp9", ".webm", {"crf": "24", "b": "0", "deadline": "realtime"}
    raise UsageError("this PyAV build has neither libx264 nor libvpx-vp9: no browser-playable video can be written.")
