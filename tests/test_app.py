"""The browser app (`mrcfa app`, mrcfa.app): served on 127.0.0.1 in the test and driven through gradio_client and a
real browser (Debian's Chromium through Playwright), plus the Hub Space that `mrcfa app --write-space` writes.

Everything runs on a tiny model built from a config (saved to a temporary folder) and videos of a few small frames;
nothing is downloaded.
"""

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import save_tiny_model
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from test_pipelines_cli import make_frames, write_video

from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaImageProcessor, segment_video
from mrcfa.app import Limits, build_demo, launch
from mrcfa.cli import main as mrcfa_main
from mrcfa.models.mrcfa.video_io_mrcfa import iter_frames

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as root in a closed network: no sandbox, no GPU, no background connections (python.md, "Chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
W, H = 128, 72  # raw frames; the test processor resizes them to 160x96 (keep ratio to 160x96, multiples of 32)
MAX_FRAMES = 12
LIMITS = Limits(max_frames=MAX_FRAMES, max_resolution=(320, 240))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"), scale=(160, 96))


@pytest.fixture(scope="module")
def reference(model_dir):
    """The model and processor loaded independently of the app (what the app's results are compared with)."""
    return MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir).eval(), MrcfaImageProcessor.from_pretrained(
        model_dir
    )


@pytest.fixture(scope="module")
def app_url(model_dir):
    demo = build_demo(str(model_dir), limits=LIMITS)
    port = free_port()
    launch(demo, port=port, block=False, quiet=True, threads=1)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "walk.mp4"
    write_video(path, make_frames(11, size=(W, H), seed=1), fps=12)
    return path


def legend_rows(table):
    return {row[1]: row[2] for row in table["data"]}


def predict_error(client, path, api_name) -> str:
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(path)), api_name=api_name)
    message = str(info.value)
    assert "Traceback" not in message and "\n" not in message
    return message


# ------------------------------------------------------------------------------------------------ gradio_client
def test_video_labels_equal_segment_video(client, reference, video_file, tmp_path):
    status, overlay_video, legend, plot, labels_zip = client.predict(
        handle_file(str(video_file)), api_name="/segment_video"
    )
    assert status.startswith("Segmented **11 frames** (128x72, 12 fps)")

    model, processor = reference
    frames = list(iter_frames(video_file))  # the frames the app decoded, from the same file
    expected = [labels.numpy() for labels in segment_video(model, frames, processor=processor)]
    with zipfile.ZipFile(labels_zip) as archive:
        names = sorted(archive.namelist())
        assert names == [f"labels/{i:05d}.png" for i in range(11)] + ["labels/legend.json"]
        archive.extractall(tmp_path)
    for index, labels in enumerate(expected):
        png = Image.open(tmp_path / "labels" / f"{index:05d}.png")
        assert png.mode == "P" and png.getpalette()[:6] == [120, 120, 120, 180, 120, 120]  # VSPW palette
        np.testing.assert_array_equal(np.asarray(png), labels, err_msg=f"frame {index}")

    # legend: the classes found, their colour and share of all pixels of the video
    counts = np.bincount(np.stack(expected).ravel(), minlength=model.config.num_labels)
    shares = legend_rows(legend)
    assert set(shares) == {model.config.id2label[i] for i in np.flatnonzero(counts)}
    for class_id in np.flatnonzero(counts):
        assert shares[model.config.id2label[class_id]] == pytest.approx(
            100 * counts[class_id] / counts.sum(), abs=0.01
        )
    saved = json.loads((tmp_path / "labels" / "legend.json").read_text())
    assert [entry["pixels"] for entry in saved] == counts.tolist()
    assert all(f"background:#{bytes(entry['color']).hex()}" in str(legend) for entry in saved if entry["pixels"])

    # the plot: each class's share of each frame
    table = plot["value"]
    assert table["columns"] == ["frame", "class", "share (%)"]
    per_frame = {}
    for frame, _name, share in table["data"]:
        per_frame[frame] = per_frame.get(frame, 0) + share
    assert sorted(per_frame) == list(range(11)) and all(v == pytest.approx(100, abs=0.01) for v in per_frame.values())
    assert set(plot["color_map"]) == set(shares)

    # the overlay video: every frame, at the input's frame rate, in a codec browsers play
    with av.open(overlay_video) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in ("h264", "vp9") and stream.average_rate == 12
        assert (stream.codec_context.width, stream.codec_context.height) == (W, H)
        assert sum(1 for _ in container.decode(video=0)) == 11


def test_concurrent_users_get_their_own_results(app_url, reference, tmp_path):
    """Two users send different videos at the same time: the queue runs them on the one model, and each gets the
    labels of their own video (no streaming state is shared between requests)."""
    model, processor = reference
    videos = []
    for user in range(2):
        path = tmp_path / f"user{user}.mp4"
        write_video(path, make_frames(10, size=(W, H), seed=10 + user), fps=8)
        videos.append(path)
    jobs = [Client(app_url, verbose=False).submit(handle_file(str(v)), api_name="/segment_video") for v in videos]
    for user, (job, video) in enumerate(zip(jobs, videos)):
        labels_zip = job.result(timeout=120)[-1]
        expected = segment_video(model, list(iter_frames(video)), processor=processor)
        with zipfile.ZipFile(labels_zip) as archive:
            for index, labels in enumerate(expected):
                png = Image.open(archive.open(f"labels/{index:05d}.png"))
                np.testing.assert_array_equal(np.asarray(png), labels.numpy(), err_msg=f"user {user}, frame {index}")


def test_image_equals_the_image_pipeline(client, model_dir, tmp_path):
    from transformers import pipeline

    image = make_frames(1, size=(W, H), seed=3)[0]
    path = tmp_path / "photo.png"
    image.save(path)
    status, overlay, legend, label_png = client.predict(handle_file(str(path)), api_name="/segment_image")
    assert status.startswith(f"Segmented one {W}x{H} image")

    results = pipeline("image-segmentation", model=str(model_dir))(image)  # the Hub widget's path
    label2id = {
        name: i for i, name in MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir).config.id2label.items()
    }
    expected = np.zeros((H, W), dtype=np.int64)
    for result in results:
        expected[np.asarray(result["mask"]) > 0] = label2id[result["label"]]
    np.testing.assert_array_equal(np.asarray(Image.open(label_png)), expected)
    counts = np.bincount(expected.ravel())
    assert legend_rows(legend) == {
        r["label"]: pytest.approx(100 * counts[label2id[r["label"]]] / (H * W), abs=0.01) for r in results
    }
    assert np.asarray(Image.open(overlay)).shape == (H, W, 3)


def test_image_tab_reads_16_bit_images_as_the_frame_reader_does(model_dir, tmp_path):
    """A 16-bit PNG upload is scaled to 8 bits (round(v / 257), as image tools do), not clipped to white."""
    from mrcfa.app.service import SegmentationService

    service = SegmentationService.from_pretrained(str(model_dir), limits=LIMITS, workdir=tmp_path / "work")
    ramp = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 65535 // (H * W - 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    eight = ((ramp.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    Image.fromarray(eight).convert("RGB").save(tmp_path / "eight.png")
    deep, plain = service.segment_image(tmp_path / "deep.png"), service.segment_image(tmp_path / "eight.png")
    np.testing.assert_array_equal(deep.labels, plain.labels)
    np.testing.assert_array_equal(np.asarray(deep.overlay), np.asarray(plain.overlay))


def test_bad_inputs_get_a_readable_error_and_the_server_keeps_serving(client, video_file, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    assert predict_error(client, text, "/segment_video") == (
        "notes.txt cannot be read as a video (Invalid data found when processing input): it is not a video, or it is "
        "damaged. Upload an MP4, WebM, MOV, MKV or AVI video."
    )
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(video_file.read_bytes()[: video_file.stat().st_size // 3])  # a cut-off upload
    assert predict_error(client, broken, "/segment_video") == (
        "broken.mp4 cannot be read as a video (Invalid data found when processing input): it is not a video, or it "
        "is damaged. Upload an MP4, WebM, MOV, MKV or AVI video."
    )
    long_video = tmp_path / "long.mp4"
    write_video(long_video, make_frames(MAX_FRAMES + 1, size=(W, H)))
    assert predict_error(client, long_video, "/segment_video") == (
        f"long.mp4 has {MAX_FRAMES + 1} frames; this app segments at most {MAX_FRAMES} frames per video. Trim it, or "
        "run `mrcfa segment` on your own machine."
    )
    large = tmp_path / "large.mp4"
    write_video(large, make_frames(2, size=(336, 96)))
    assert predict_error(client, large, "/segment_video") == (
        "large.mp4 is 336x96 pixels; this app takes at most 320x240 (either orientation). Scale it down, or run "
        "`mrcfa segment` on your own machine."
    )
    assert predict_error(client, text, "/segment_image") == (
        "notes.txt is not an image that can be read (cannot identify image file 'notes.txt'). Upload a PNG, JPEG or "
        "WebP image."
    )
    # the server is still there, and answers the next request
    good = tmp_path / "good.png"
    make_frames(1, size=(W, H))[0].save(good)
    assert client.predict(handle_file(str(good)), api_name="/segment_image")[0].startswith("Segmented one")


def test_no_model_is_a_readable_message(tmp_path, monkeypatch, capsys):
    demo = build_demo(str(tmp_path / "missing-model"), example=False)
    port = free_port()
    launch(demo, port=port, block=False, quiet=True, threads=1)
    try:
        video = tmp_path / "clip.mp4"
        write_video(video, make_frames(2, size=(W, H)))
        message = predict_error(Client(f"http://127.0.0.1:{port}/", verbose=False), video, "/segment_video")
        assert message.startswith("No model: ") and f"'{tmp_path / 'missing-model'}'" in message
    finally:
        demo.close()
    # `mrcfa app` without --model, and no demo model where it is run: how to get one, exit status 2
    monkeypatch.chdir(tmp_path)
    assert mrcfa_main(["app"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mrcfa app: error: no model: pass --model DIR_OR_HUB_ID") and err.count("\n") == 1
    assert "python scripts/run_vss.py" in err


# --------------------------------------------------------------------------------------------------- browser
@pytest.mark.slow
def test_video_tab_in_a_real_browser(app_url, video_file, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser test needs Debian's chromium (apt-get install -y chromium; .ci/run "
            "installs it)"
        )
    from playwright.sync_api import expect, sync_playwright

    shot = tmp_path / "app.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(app_url)
            page.locator("#video-input input[type=file]").set_input_files(str(video_file))
            page.locator("#video-input video").wait_for(timeout=30_000)  # the upload is shown
            page.locator("#video-button").click()
            page.locator("#video-output video").wait_for(timeout=60_000)
            expect(page.locator("#video-status")).to_contain_text("Segmented 11 frames", timeout=30_000)
            expect(page.locator("#video-legend")).to_contain_text("LABEL_", timeout=30_000)
            expect(page.locator("#video-plot canvas, #video-plot svg").first).to_be_visible(timeout=30_000)
            # the overlay plays in this browser: decoded frames of the right size
            page.wait_for_function(
                "() => { const v = document.querySelector('#video-output video');"
                " return v && v.readyState >= 2 && v.videoWidth > 0; }",
                timeout=30_000,
            )
            size = page.evaluate(
                "() => { const v = document.querySelector('#video-output video'); return [v.videoWidth, v.videoHeight]; }"
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert size == [W, H]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[0] >= 900 and pixels.std() > 20  # not a blank page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500


# -------------------------------------------------------------------------------------------------- the Space
@pytest.mark.slow
def test_write_space_writes_a_space_that_starts(model_dir, tmp_path, capsys):
    from huggingface_hub import SpaceCard

    space = tmp_path / "space"
    assert mrcfa_main(["app", "--write-space", str(space), "--model", "org/mrcfa-b1-vspw", "--max-frames", "60"]) == 0
    assert sorted(p.name for p in space.iterdir()) == ["README.md", "app.py", "requirements.txt"]
    card = SpaceCard.load(space / "README.md")
    import gradio

    assert card.data.sdk == "gradio" and card.data.sdk_version == gradio.__version__
    assert card.data.app_file == "app.py" and card.data.models == ["org/mrcfa-b1-vspw"]
    assert card.data.title and card.data.license == "apache-2.0" and "video-semantic-segmentation" in card.data.tags
    assert "at most 60 frames" in card.text
    assert (space / "requirements.txt").read_text().splitlines()[-1] == "mrcfa[app]==0.1.0"
    capsys.readouterr()

    # a non-empty folder is kept unless --overwrite; a local folder is no Hub id
    assert mrcfa_main(["app", "--write-space", str(space), "--model", "org/other"]) == 2
    assert capsys.readouterr().err.startswith(f"mrcfa app: error: {space} is not empty: pass --overwrite")
    assert mrcfa_main(["app", "--write-space", str(tmp_path / "s2"), "--model", str(model_dir)]) == 2
    assert "a Space cannot read" in capsys.readouterr().err
    (space / "notes.md").write_text("mine")
    assert mrcfa_main(["app", "--write-space", str(space), "--model", "org/other", "--overwrite"]) == 0
    assert SpaceCard.load(space / "README.md").data.models == ["org/other"] and (space / "notes.md").exists()

    # app.py starts (as the Space runs it: `python app.py` in the folder), here against the local tiny model
    port = free_port()
    env = {
        **os.environ,
        "MRCFA_MODEL": str(model_dir),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",
    }
    log = tmp_path / "space.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=space, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        client = None
        while client is None:
            assert process.poll() is None, f"app.py exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"app.py did not start in 120 s:\n{log.read_text()}"
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.5)
        image = tmp_path / "frame.png"
        make_frames(1, size=(W, H))[0].save(image)
        assert client.predict(handle_file(str(image)), api_name="/segment_image")[0].startswith("Segmented one")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ci_installs_chromium_and_the_extras():
    """`.ci/run` installs Chromium for the browser test; the dev extra holds what these tests import."""
    import configparser

    repo = Path(__file__).resolve().parents[1]
    ci = (repo / ".ci" / "run").read_text()
    assert "apt-get install -y -qq chromium" in ci and ci.index("chromium") < ci.index("python -m pytest")
    extras = configparser.ConfigParser()
    extras.read(repo / "setup.cfg")
    dev = extras["options.extras_require"]["dev"]
    for package in ("gradio", "gradio_client", "playwright", "pandas"):
        assert package in dev, package
    assert "gradio" in extras["options.extras_require"]["app"]
