# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The Gradio page: a Video tab and an Image tab over one shared `SegmentationService`.

    demo = build_demo("path/or/hub-id")          # or a SegmentationService, or None (no model)
    launch(demo, host="127.0.0.1", port=7860)    # Gradio's queue: one request at a time uses the model

API names (for `gradio_client`): `/segment_video` (video file -> status, overlay video, legend, per-frame shares,
zip of label PNGs) and `/segment_image` (image file -> status, overlay, legend, label PNG). A mistake in the inputs
(and any other failure) reaches the page as a one-line `gr.Error`; the server keeps serving.
"""

from __future__ import annotations

import html
import logging
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from ..threads import configure_threads
from ..video_writer import OverlayVideoWriter, browser_video_format
from .service import AppInputError, Limits, SegmentationService

logger = logging.getLogger(__name__)

__all__ = ["build_demo", "launch", "write_example_video"]

LEGEND_HEADERS = ["colour", "class", "share (%)"]
#: Requests that use the model share this concurrency group: one at a time, whichever tab they come from.
MODEL_QUEUE = "mrcfa-model"

INTRO = """\
# MRCFA video semantic segmentation

[MRCFA](https://arxiv.org/abs/2207.10436) (ECCV 2022) labels every pixel of every frame, using three earlier frames of
the video for each one. Upload a video, or pick the synthetic example: frames are streamed through the model one by one
(each encoded once), then you get the coloured video, the classes it found and how much of each frame they cover."""


def write_example_video(path: str | Path, *, num_frames: int = 30, seed: int = 2026, fps: int = 10) -> Path:
    """A synthetic video like the demo model's training data (`mrcfa.data.synthetic.render_video`, the demo's
    generator settings), written to `path` (its suffix is set to the browser format's)."""
    from ..data.synthetic import render_video

    frames, _ = render_video(
        np.random.default_rng(seed),
        num_frames,
        96,
        160,
        num_classes=5,
        max_objects=3,
        motion_scale=0.3,
        hidden_prob=0.35,
        shared_object_class=True,
        degraded_prob=0.1,
    )
    codec, suffix, options = browser_video_format()
    path = Path(path).with_suffix(suffix)
    with OverlayVideoWriter(path, rate=fps, codec=codec, options=options) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def _legend_table(rows) -> pd.DataFrame:
    swatch = (
        '<span style="display:inline-block;width:1.1em;height:1.1em;vertical-align:middle;border-radius:3px;'
        'border:1px solid #0004;background:{0}"></span> <code>{0}</code>'
    )
    return pd.DataFrame(
        [[swatch.format(row.color), row.name, round(row.share, 2)] for row in rows], columns=LEGEND_HEADERS
    )


def _user_error(message: str) -> gr.Error:
    return gr.Error(html.escape(message, quote=False), title="Cannot segment this input", print_exception=False)


def _unexpected(err: Exception) -> gr.Error:
    logger.exception("segmentation failed")
    reason = " ".join(str(err).split()) or type(err).__name__
    return gr.Error(
        html.escape(
            f"Segmentation failed ({type(err).__name__}: {reason}). The server logged the details.", quote=False
        ),
        print_exception=False,
    )


def build_demo(
    model: str | SegmentationService | None,
    *,
    device: str = "cpu",
    trust_remote_code: bool = False,
    limits: Limits | None = None,
    example: bool = True,
    no_model_message: str | None = None,
) -> gr.Blocks:
    """The app's `gr.Blocks` (not launched).

    Args:
        model: a model folder or Hub id (loaded here), a ready `SegmentationService`, or `None`.
        device, trust_remote_code, limits: how to load the model and what one request may cost.
        example: offer a synthetic example video (written to a temporary folder now).
        no_model_message: what the page says when there is no model (`model` is None) — it says how to get one.
            A model that fails to load shows its error instead. Either way every request answers with that message.
    """
    service, problem = None, None
    if isinstance(model, SegmentationService):
        service = model
    elif model is not None:
        try:
            service = SegmentationService.from_pretrained(
                str(model), device=device, trust_remote_code=trust_remote_code, limits=limits
            )
        except (OSError, ValueError) as err:  # what load_model reports as a user mistake (UsageError is a ValueError)
            problem = f"No model: {' '.join(str(err).split())}"
    else:
        problem = no_model_message or "No model: start the app with a model (`mrcfa app --model DIR_OR_HUB_ID`)."

    def run_video(video: str | None, progress=gr.Progress()):  # noqa: B008 - Gradio's progress idiom
        if problem:
            raise _user_error(problem)
        if not video:
            raise _user_error("Upload a video first (or click the example below the upload box).")

        def report(done: int, total: int | None) -> None:
            progress((done, total), desc="Segmenting frames", unit="frames")

        progress((0, None), desc="Reading the video", unit="frames")
        try:
            result = service.segment_video(video, report)
        except AppInputError as err:
            raise _user_error(str(err)) from None
        except Exception as err:  # noqa: BLE001 - the page gets one line, the log the traceback
            raise _unexpected(err) from None
        status = (
            f"Segmented **{result.num_frames} frames** ({result.size[0]}x{result.size[1]}, "
            f"{float(result.fps):.4g} fps) in {result.seconds:.1f} s with `{service.model_name}`."
        )
        plot = gr.LinePlot(
            value=result.shares_table(),
            color_map={row.name: row.color for row in result.legend},
        )
        return status, str(result.overlay_video), _legend_table(result.legend), plot, str(result.labels_zip)

    def run_image(image: dict | None):
        # `image` is the upload itself (preprocess=False): a file that is no image reaches `segment_image`, whose
        # error is readable, instead of failing in gr.Image's own decoding
        if problem:
            raise _user_error(problem)
        if not image or not image.get("path"):
            raise _user_error("Upload an image first.")
        try:
            result = service.segment_image(image["path"], name=image.get("orig_name"))
        except AppInputError as err:
            raise _user_error(str(err)) from None
        except Exception as err:  # noqa: BLE001
            raise _unexpected(err) from None
        status = f"Segmented one {result.labels.shape[1]}x{result.labels.shape[0]} image with `{service.model_name}`."
        return status, result.overlay, _legend_table(result.legend), str(result.label_file)

    model_line = (
        f"**Model:** `{service.model_name}` ({len(service.id2label)} classes, {service.device}; at most "
        f"{service.limits.max_frames} frames of at most {max(service.limits.max_resolution)}x"
        f"{min(service.limits.max_resolution)} per video)"
        if service
        else f"**{html.escape(problem, quote=False)}**"
    )
    with gr.Blocks(
        title="MRCFA video semantic segmentation", analytics_enabled=False, delete_cache=(3600, 3600)
    ) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(model_line, elem_id="model-line")
        with gr.Tabs():
            with gr.Tab("Video", id="video"):
                with gr.Row():
                    with gr.Column(scale=1):
                        video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                        video_button = gr.Button("Segment video", variant="primary", elem_id="video-button")
                        if example:
                            folder = Path(tempfile.mkdtemp(prefix="mrcfa-app-example-"))
                            gr.Examples(
                                [[str(write_example_video(folder / "synthetic_example"))]],
                                inputs=[video_in],
                                label="Example: a synthetic video like the demo model's training data",
                                elem_id="video-examples",
                            )
                        video_status = gr.Markdown(elem_id="video-status")
                    with gr.Column(scale=1):
                        video_out = gr.Video(
                            label="Segmentation (overlay)", interactive=False, loop=True, elem_id="video-output"
                        )
                        video_legend = gr.Dataframe(
                            headers=LEGEND_HEADERS,
                            datatype=["html", "str", "number"],
                            label="Legend: classes found, share of all pixels of the video",
                            interactive=False,
                            elem_id="video-legend",
                        )
                video_plot = gr.LinePlot(
                    x="frame",
                    y="share (%)",
                    color="class",
                    title="Share of each class, frame by frame",
                    y_lim=[0, 100],
                    height=260,
                    elem_id="video-plot",
                )
                video_zip = gr.File(label="Label maps: one palette PNG per frame + legend.json (zip)")
            with gr.Tab("Image", id="image"):
                with gr.Row():
                    with gr.Column(scale=1):
                        image_in = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"])
                        image_button = gr.Button("Segment image", variant="primary")
                        image_status = gr.Markdown()
                    with gr.Column(scale=1):
                        image_out = gr.Image(label="Segmentation (overlay)", interactive=False)
                        image_legend = gr.Dataframe(
                            headers=LEGEND_HEADERS,
                            datatype=["html", "str", "number"],
                            label="Legend: classes found, share of the image",
                            interactive=False,
                        )
                        image_png = gr.File(label="Label map (palette PNG)")
        video_button.click(
            run_video,
            inputs=[video_in],
            outputs=[video_status, video_out, video_legend, video_plot, video_zip],
            api_name="segment_video",
            concurrency_limit=1,
            concurrency_id=MODEL_QUEUE,
        )
        image_button.click(
            run_image,
            inputs=[image_in],
            outputs=[image_status, image_out, image_legend, image_png],
            api_name="segment_image",
            preprocess=False,
            concurrency_limit=1,
            concurrency_id=MODEL_QUEUE,
        )
    demo.service = service
    demo.problem = problem
    return demo


def launch(
    demo: gr.Blocks,
    *,
    host: str | None = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    threads: int | None = None,
    block: bool = True,
    quiet: bool = False,
    max_file_size: str | int | None = "1gb",
):
    """Serve `demo` through Gradio's queue (the model runs one request at a time); returns what `launch` returns.

    `host`, `port`: where to listen (None: Gradio's `GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT`, as on a Space).
    `threads`: torch's intra-op threads (default: `mrcfa.threads.configure_threads`: `$OMP_NUM_THREADS`, else the
    cores this process may use).
    `block=False` returns once the server is up (tests, notebooks). `max_file_size`: largest upload (Gradio refuses
    bigger files before they reach the app).
    """
    # one request uses the model at a time (concurrency group MODEL_QUEUE), so it may take every core it is given
    logger.info(str(configure_threads(threads)))
    demo.queue(max_size=32)
    return demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=quiet,
        show_error=False,
        footer_links=["api"],
        max_file_size=max_file_size,
    )
