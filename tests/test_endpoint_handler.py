"""The Inference Endpoints handler (`handler.py`) that ships with every checkpoint: loaded as the inference toolkit
loads it, from a saved folder, in a process where `mrcfa` cannot be imported; its answers to image and video
payloads equal transformers' pipelines, are JSON, and bad payloads get a one-line error without stopping it."""

import base64
import configparser
import io
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import tiny_config
from packaging.requirements import Requirement
from PIL import Image
from test_hub_loading import run_isolated

from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaImageProcessor
from mrcfa.models.mrcfa import handler as handler_module
from mrcfa.models.mrcfa.configuration_mrcfa import VSPW_PALETTE, palette_for

ROOT = Path(__file__).resolve().parents[1]
H, W = 48, 80  # frame size of the test video (the processor resizes to 64x96)
FRAMES = 12


def _video(path: Path, codec: str, frames: np.ndarray, rate: int = 10) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A tiny checkpoint saved with its processor (`small/`), the same without a preprocessor config (`bare/`), an
    MP4 and an MKV video, a PNG image, and the answers of the handler run as the toolkit runs it (`answers`)."""
    root = tmp_path_factory.mktemp("endpoint")
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    model.save_pretrained(root / "small")
    shutil.copytree(root / "small", root / "bare")
    MrcfaImageProcessor(size={"longest_edge": 96, "shortest_edge": 64}).save_pretrained(root / "small")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (FRAMES, H, W, 3), dtype=np.uint8)
    frames[:, : H // 2] //= 4  # darker top half: more than one class in the predictions
    _video(root / "video.mp4", "mpeg4", frames)
    _video(root / "video.mkv", "ffv1", frames[:4])
    Image.fromarray(frames[0]).resize((90, 60)).save(root / "image.png")
    answers = _run_requests(root)
    return {"root": root, "answers": answers, "frames": frames}


# Runs in a fresh interpreter without mrcfa: loads handler.py as huggingface-inference-toolkit does (a top-level
# module from the repository folder, the folder on sys.path), sends the requests, and writes the answers (JSON text,
# to check that they serialise) and what transformers' pipelines give for the same inputs.
REQUESTS = """
import base64, importlib.util, io, json, os, sys
import numpy as np, torch
from PIL import Image
from transformers import pipeline
from transformers.dynamic_module_utils import get_class_from_dynamic_module

root = {root!r}

def load_handler(folder, **kwargs):
    spec = importlib.util.spec_from_file_location("handler.EndpointHandler", os.path.join(folder, "handler.py"))
    sys.path.insert(0, folder)
    module = importlib.util.module_from_spec(spec)
    sys.modules["handler.EndpointHandler"] = module
    spec.loader.exec_module(module)
    return module.EndpointHandler(folder, **kwargs)

small, bare = os.path.join(root, "small"), os.path.join(root, "bare")
png = open(os.path.join(root, "image.png"), "rb").read()
mp4 = open(os.path.join(root, "video.mp4"), "rb").read()
mkv = open(os.path.join(root, "video.mkv"), "rb").read()
b64 = lambda data: base64.b64encode(data).decode()
as_json = lambda body: json.loads(json.dumps(body))  # the request as the toolkit receives a JSON body

handler = load_handler(small)
assert "transformers_modules" in type(handler.model).__module__, type(handler.model).__module__
buffer = io.BytesIO(); Image.open(io.BytesIO(png)).convert("RGB").save(buffer, "JPEG"); jpeg = buffer.getvalue()
requests = {{
    "image_bytes": {{"inputs": png}},
    "image_base64": as_json({{"inputs": b64(png)}}),
    "image_pil": {{"inputs": Image.open(io.BytesIO(png)).convert("RGB")}},  # an image/* body, decoded by the toolkit
    "image_data_url": as_json({{"inputs": "data:image/jpeg;base64," + b64(jpeg)}}),
    "video_base64": as_json({{"inputs": b64(mp4)}}),
    "video_bytes_max_frames": {{"inputs": mp4, "parameters": {{"max_frames": 5, "return_overlay": True}}}},
    "video_mkv": as_json({{"inputs": b64(mkv), "parameters": {{}}}}),
    "not_image_or_video": {{"inputs": b"hello, this is text"}},
    "not_base64": as_json({{"inputs": "https://example.com/cat.jpg"}}),
    "truncated_video": as_json({{"inputs": b64(mp4[: len(mp4) // 2])}}),
    "truncated_image": {{"inputs": png[: len(png) // 2]}},
    "unknown_video_parameter": as_json({{"inputs": b64(mp4), "parameters": {{"max_frame": 3}}}}),
    "unknown_image_parameter": as_json({{"inputs": b64(png), "parameters": {{"threshold": 0.5}}}}),
    "bad_max_frames": as_json({{"inputs": b64(mp4), "parameters": {{"max_frames": 10000}}}}),
    "bad_overlay": as_json({{"inputs": b64(mp4), "parameters": {{"return_overlay": "yes"}}}}),
    "empty": {{"inputs": b""}},
    "list_inputs": as_json({{"inputs": [1, 2]}}),
    "no_inputs": as_json({{"image": b64(png)}}),
    "image_after_errors": {{"inputs": png}},
    "video_after_errors": as_json({{"inputs": b64(mp4)}}),
}}
answers = {{name: json.dumps(handler(request)) for name, request in requests.items()}}  # json.dumps: serialisable

os.environ["MRCFA_MAX_FRAMES"] = "3"
limited = load_handler(small, max_pixels=4000)
answers["too_many_frames"] = json.dumps(limited({{"inputs": mp4}}))  # 12 frames, from the MP4's metadata
answers["too_many_frames_no_metadata"] = json.dumps(limited({{"inputs": mkv}}))  # 4 frames, none in the MKV's metadata
answers["max_frames_at_the_limit"] = json.dumps(limited({{"inputs": mp4, "parameters": {{"max_frames": 3}}}}))
answers["too_many_pixels_image"] = json.dumps(limited({{"inputs": png}}))  # 90x60 = 5400 pixels
answers["limited_still_serves"] = json.dumps(limited({{"inputs": mkv, "parameters": {{"max_frames": 2}}}}))
answers["too_many_pixels_video"] = json.dumps(load_handler(small, max_pixels=3000)({{"inputs": mkv}}))  # 80x48
del os.environ["MRCFA_MAX_FRAMES"]
answers["bare_image"] = json.dumps(load_handler(bare)({{"inputs": png}}))

# transformers' pipelines on the same inputs, from the same folders
image = Image.open(io.BytesIO(png))
expected = {{}}
segments = pipeline("image-segmentation", model=small, trust_remote_code=True)(image)
expected["image_labels"] = [s["label"] for s in segments]
expected["image_scores"] = [s["score"] for s in segments]
expected["image_masks"] = np.stack([np.asarray(s["mask"]) for s in segments])
segments = pipeline("image-segmentation", model=small, trust_remote_code=True)(Image.open(io.BytesIO(jpeg)))
expected["jpeg_masks"] = np.stack([np.asarray(s["mask"]) for s in segments])
default_processor = get_class_from_dynamic_module("image_processing_mrcfa.MrcfaImageProcessor", bare)()
segments = pipeline("image-segmentation", model=bare, image_processor=default_processor, trust_remote_code=True)(image)
expected["bare_masks"] = np.stack([np.asarray(s["mask"]) for s in segments])
video_pipeline = pipeline("video-semantic-segmentation", model=small, trust_remote_code=True)
for name in ("mp4", "mkv"):
    results = video_pipeline(os.path.join(root, "video." + name))
    expected[name + "_labels"] = torch.stack([r["labels"] for r in results]).numpy()
np.savez(os.path.join(root, "expected.npz"), **{{k: np.asarray(v) for k, v in expected.items()}})
handler.model.save_pretrained(os.path.join(root, "saved_again"))  # loaded with trust_remote_code, saved again
print("ANSWERS", json.dumps(answers))
"""


def _run_requests(root: Path) -> dict:
    result = run_isolated(REQUESTS.format(root=str(root)), {}, root)
    assert result.returncode == 0, result.stderr[-4000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("ANSWERS ")]
    return {name: json.loads(text) for name, text in json.loads(line.removeprefix("ANSWERS ")).items()}


def _png(text: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
    assert image.format == "PNG"
    return image


def _masks(answer: list[dict]) -> np.ndarray:
    return np.stack([np.asarray(_png(segment["mask"])) for segment in answer])


def test_image_payloads_equal_the_image_segmentation_pipeline(endpoint):
    answers = endpoint["answers"]
    expected = np.load(endpoint["root"] / "expected.npz")
    first = answers["image_bytes"]
    assert [sorted(segment) for segment in first] == [["label", "mask", "score"]] * len(first)
    assert [segment["label"] for segment in first] == list(expected["image_labels"])
    assert len(first) >= 2 and all(segment["score"] is None for segment in first)
    masks = _masks(first)
    assert masks.dtype == np.uint8 and masks.shape == (len(first), 60, 90)
    assert set(np.unique(masks)) == {0, 255}
    np.testing.assert_array_equal(masks, expected["image_masks"])
    assert (masks == 255).sum(0).tolist() == np.ones((60, 90), int).tolist()  # one class per pixel
    # the same image as base64, as a PIL image (an image/* body) and after errors: the same answer
    for name in ("image_base64", "image_pil", "image_after_errors"):
        assert answers[name] == first, name
    np.testing.assert_array_equal(_masks(answers["image_data_url"]), expected["jpeg_masks"])
    # without preprocessor_config.json: the default processor of the shipped code
    np.testing.assert_array_equal(_masks(answers["bare_image"]), expected["bare_masks"])


def _label_maps(answer: dict) -> np.ndarray:
    images = [_png(text) for text in answer["label_maps"]]
    assert all(image.mode == "P" for image in images)
    return np.stack([np.asarray(image) for image in images])


def test_video_payloads_equal_the_video_pipeline(endpoint):
    answers = endpoint["answers"]
    expected = np.load(endpoint["root"] / "expected.npz")
    video = answers["video_base64"]
    assert set(video) == {"num_frames", "fps", "width", "height", "label_maps", "legend"}
    assert (video["num_frames"], video["fps"], video["width"], video["height"]) == (FRAMES, 10.0, W, H)
    labels = _label_maps(video)
    np.testing.assert_array_equal(labels, expected["mp4_labels"])
    # the palette PNGs carry the shipped VSPW palette
    palette = np.array(_png(video["label_maps"][0]).getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(palette[:7], np.array(VSPW_PALETTE[:7], np.uint8))
    # the legend: the classes present over the whole video, largest first, with their colours and shares
    counts = np.bincount(labels.ravel(), minlength=7)
    assert [entry["id"] for entry in video["legend"]] == sorted(np.flatnonzero(counts), key=lambda i: -counts[i])
    for entry in video["legend"]:
        assert entry["name"] == f"LABEL_{entry['id']}" and entry["color"] == list(VSPW_PALETTE[entry["id"]])
        assert entry["pixels"] == counts[entry["id"]]
        assert entry["share"] == pytest.approx(counts[entry["id"]] / labels.size)
    assert len(video["legend"]) >= 2
    assert answers["video_after_errors"] == video

    # max_frames: the first frames only (the same predictions: streaming is causal), with the overlay video
    short = answers["video_bytes_max_frames"]
    assert short["num_frames"] == 5 and len(short["label_maps"]) == 5
    np.testing.assert_array_equal(_label_maps(short), expected["mp4_labels"][:5])
    overlay = av.open(io.BytesIO(base64.b64decode(short["overlay"])))
    stream = overlay.streams.video[0]
    assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (W, H)
    overlay_frames = [frame.to_ndarray(format="rgb24") for frame in overlay.decode(stream)]
    assert len(overlay_frames) == 5
    # each overlay frame blends the frame with its label colours (up to H.264 compression)
    decoded = [f.to_ndarray(format="rgb24") for f in av.open(str(endpoint["root"] / "video.mp4")).decode(video=0)]
    blend = (decoded[0].astype(float) + np.array(VSPW_PALETTE)[labels[0]]) / 2
    assert np.abs(overlay_frames[0] - blend).mean() < 12

    mkv = answers["video_mkv"]
    assert mkv["num_frames"] == 4 and (mkv["width"], mkv["height"]) == (W, H)
    np.testing.assert_array_equal(_label_maps(mkv), expected["mkv_labels"])


@pytest.mark.parametrize(
    "name, message",
    [
        ("not_image_or_video", "inputs is neither an image nor a video that can be decoded"),
        ("not_base64", "not base64 data"),
        ("truncated_video", "inputs is neither an image nor a video that can be decoded"),
        ("truncated_image", "image cannot be decoded (truncated or corrupt?)"),
        ("unknown_video_parameter", "unknown parameter(s) ['max_frame'] for a video: the parameters are max_frames"),
        ("unknown_image_parameter", "unknown parameter(s) ['threshold'] for an image: an image takes no parameters"),
        ("bad_max_frames", "max_frames must be an integer from 1 to 300, got 10000"),
        ("bad_overlay", "return_overlay must be true or false, got 'yes'"),
        ("empty", "inputs is empty"),
        ("list_inputs", "inputs must be one image or video"),
        ("no_inputs", 'a request is {"inputs"'),
        ("too_many_frames", "the video has 12 frames, more than this endpoint's limit of 3: pass"),
        ("too_many_frames_no_metadata", "the video has more frames than this endpoint's limit of 3: pass"),
        ("too_many_pixels_image", "the image is 90x60 = 5400 pixels, more than this endpoint's limit of 4000"),
        (
            "too_many_pixels_video",
            "a frame of the video is 80x48 = 3840 pixels, more than this endpoint's limit of 3000",
        ),
    ],
)
def test_bad_payloads_get_a_one_line_error(endpoint, name, message):
    answer = endpoint["answers"][name]
    assert set(answer) == {"error"}, answer
    assert message in answer["error"], answer["error"]
    assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert str(endpoint["root"]) not in answer["error"] and "/tmp" not in answer["error"]  # no server paths


def test_limits_from_the_environment_and_serving_after_errors(endpoint):
    answers, expected = endpoint["answers"], np.load(endpoint["root"] / "expected.npz")
    np.testing.assert_array_equal(_label_maps(answers["max_frames_at_the_limit"]), expected["mp4_labels"][:3])
    np.testing.assert_array_equal(_label_maps(answers["limited_still_serves"]), expected["mkv_labels"][:2])
    assert answers["image_after_errors"] == answers["image_bytes"]
    assert answers["video_after_errors"] == answers["video_base64"]


def test_limits_must_be_positive_integers(monkeypatch):
    monkeypatch.setenv("MRCFA_MAX_FRAMES", "many")
    with pytest.raises(ValueError, match="MRCFA_MAX_FRAMES must be a positive integer, got 'many'"):
        handler_module._limit(None, "MRCFA_MAX_FRAMES", 300)
    assert handler_module._limit(20, "MRCFA_MAX_FRAMES", 300) == 20
    with pytest.raises(ValueError, match="max_pixels must be a positive integer, got 0"):
        handler_module._limit(0, "MRCFA_MAX_PIXELS", 300)
    monkeypatch.delenv("MRCFA_MAX_FRAMES")
    assert handler_module._limit(None, "MRCFA_MAX_FRAMES", 300) == 300


def test_saved_folders_ship_the_handler_and_its_requirements(endpoint):
    for folder in ("small", "bare"):
        path = endpoint["root"] / folder
        assert (path / "handler.py").read_text() == Path(handler_module.__file__).read_text()
        assert (path / "requirements.txt").read_text() == "transformers>=5.24,<6\nav>=18\n"
        assert (path / "image_processing_mrcfa.py").is_file()  # the handler's default processor


def test_requirements_agree_with_the_package():
    """requirements.txt pins what the package itself requires: its transformers range and the `video` extra's PyAV."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    install = [Requirement(r) for r in setup["options"]["install_requires"].split("\n") if r.strip()]
    video = [Requirement(r) for r in setup["options.extras_require"]["video"].split("\n") if r.strip()]
    wanted = {r.name: str(r.specifier) for r in install + video if r.name in ("transformers", "av")}
    shipped = {Requirement(r).name: str(Requirement(r).specifier) for r in handler_module.REQUIREMENTS}
    assert shipped == wanted


def test_saving_again_after_loading_with_remote_code_ships_the_handler(endpoint):
    """A model loaded with trust_remote_code (its class from transformers' module cache; the handler's model) and
    saved again still writes handler.py and requirements.txt: the handler reaches the cache as a relative import of
    the model code."""
    again = endpoint["root"] / "saved_again"
    assert {"handler.py", "requirements.txt", "image_processing_mrcfa.py", "modeling_mrcfa.py", "config.json"} <= {
        p.name for p in again.iterdir()
    }
    assert (again / "handler.py").read_text() == Path(handler_module.__file__).read_text()
    assert (again / "requirements.txt").read_text() == (endpoint["root"] / "small" / "requirements.txt").read_text()


def test_push_to_hub_uploads_the_complete_folder(tmp_path, monkeypatch):
    """save_pretrained(push_to_hub=True): requirements.txt is written after transformers' own save, so the upload is
    `push_to_hub`'s (which saves again into the uploaded folder), never transformers' partial one."""
    model = MrcfaForVideoSemanticSegmentation(tiny_config())
    pushed = []

    def fake_push(repo_id, **kwargs):  # no network: record what would be uploaded
        folder = tmp_path / "pushed"
        model.save_pretrained(folder)
        pushed.append((repo_id, kwargs, sorted(p.name for p in folder.iterdir())))

    monkeypatch.setattr(model, "push_to_hub", fake_push)
    model.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="me/tiny", commit_message="m", private=True)
    assert (tmp_path / "local" / "requirements.txt").is_file()
    ((repo_id, kwargs, files),) = pushed
    assert repo_id == "me/tiny" and kwargs == {"commit_message": "m", "private": True}
    assert {"handler.py", "requirements.txt", "model.safetensors", "config.json"} <= set(files)


def test_shipped_palette_extends_as_the_command_line_does():
    from mrcfa.cli.segment import palette_for as cli_palette_for
    from mrcfa.constants import VSPW_PALETTE as library_palette

    assert library_palette is VSPW_PALETTE
    for num_labels in (7, 124, 200):
        np.testing.assert_array_equal(palette_for(num_labels), cli_palette_for(num_labels))
    assert palette_for(200).shape == (200, 3) and palette_for(200).dtype == np.uint8
