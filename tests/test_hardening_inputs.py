"""Inputs read as the user sees them (issue 21): frames in natural time order everywhere frames are listed, EXIF
orientation, a video's display rotation, 16-bit frame files; `mrcfa convert` on a non-checkpoint; `mrcfa.threads`
after `import mrcfa`; no torchvision notices from `mrcfa export-onnx` (tests/test_onnx.py, in the export of fixture A)."""

import os
import pickle
import subprocess
import sys
import warnings
from argparse import Namespace
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import save_tiny_model
from PIL import Image
from transformers import pipeline

from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaImageProcessor, segment_video
from mrcfa.cli import main as mrcfa_main
from mrcfa.data import list_vspw_videos, load_vspw
from mrcfa.models.mrcfa.video_io_mrcfa import (
    FrameOrderError,
    VideoReadError,
    display_transpose,
    iter_frames,
    iter_named_frames,
    natural_sort_key,
    order_frame_files,
    read_image,
)

H, W = 64, 96  # stored size of the test frames (height, width)
ORIENTATION = 0x0112  # the EXIF tag


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny"))


def frames(n, size=(W, H), seed=0):
    """`n` different RGB frames of `size` (width, height): a random texture sliding by 3 pixels per frame."""
    base = np.random.default_rng(seed).integers(0, 255, size=(size[1], size[0] + 3 * n, 3), dtype=np.uint8)
    return [Image.fromarray(np.ascontiguousarray(base[:, 3 * i : 3 * i + size[0]])) for i in range(n)]


def marked(size=(W, H)):
    """A black RGB frame of `size` (width, height) with a white 8x4 block in its top-left corner."""
    array = np.zeros((size[1], size[0], 3), np.uint8)
    array[:4, :8] = 255
    return Image.fromarray(array)


def white_box(image):
    """(top, bottom, left, right) of the white pixels of `image`."""
    ys, xs = np.nonzero(np.asarray(image.convert("L")) > 128)
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def save_with_orientation(image, path, orientation=6):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation  # 6: the viewer turns the stored picture 90 degrees clockwise
    image.save(path, exif=exif)


def write_video(path, images, rotation=None, hflip=False, fps=5):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation, hflip=hflip)  # what a phone records
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def stored_frames(path):
    """The frames of a video file as stored, without its display matrix."""
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


# ---------------------------------------------------------------------------------------------------- time order
def test_natural_order_of_frame_names():
    names = [f"frame_{i}.png" for i in range(1, 13)]
    assert sorted(names)[:3] == ["frame_1.png", "frame_10.png", "frame_11.png"]  # what a string sort gives
    assert order_frame_files(reversed(names)) == names
    assert order_frame_files(["00010.jpg", "00009.jpg", "00011.jpg"]) == ["00009.jpg", "00010.jpg", "00011.jpg"]
    assert order_frame_files(["b.png", "a.png", "c.png"]) == ["a.png", "b.png", "c.png"]  # no digits: alphabetical
    # a video per shot: compared number by number
    assert order_frame_files(["s2_f1.png", "s1_f10.png", "s1_f9.png"]) == ["s1_f9.png", "s1_f10.png", "s2_f1.png"]
    assert natural_sort_key("frame_10") == ("frame_", 10, "")


@pytest.mark.parametrize(
    "names,message",
    [
        (
            ["1.png", "01.png", "2.png"],
            "cannot order the frames of /videos/a: 01.png and 1.png name the same frame (their names differ only in "
            "leading zeros or in the suffix): keep one of them.",
        ),
        (
            ["0001.jpg", "0002.jpg", "0001.png"],
            "cannot order the frames of /videos/a: 0001.jpg and 0001.png name the same frame (their names differ only "
            "in leading zeros or in the suffix): keep one of them.",
        ),
        (
            ["frame_1.png", "frame_2.png", "thumb.png"],
            "cannot order the frames of /videos/a: frame_1.png and thumb.png differ in more than their numbers. Frames "
            "are ordered by the numbers in their names (frame_2.png before frame_10.png), so the names of one video "
            "must differ only in those numbers: rename or move the other files.",
        ),
        (
            ["frame_1.png", "img_1.png"],
            "cannot order the frames of /videos/a: frame_1.png and img_1.png differ in more than their numbers. Frames "
            "are ordered by the numbers in their names (frame_2.png before frame_10.png), so the names of one video "
            "must differ only in those numbers: rename or move the other files.",
        ),
    ],
)
def test_names_without_one_order_are_refused(names, message):
    with pytest.raises(FrameOrderError) as caught:
        order_frame_files(names, "/videos/a")
    assert str(caught.value) == message
    assert isinstance(caught.value, VideoReadError)


@pytest.fixture(scope="module")
def unpadded_folder(tmp_path_factory):
    """frame_1.png ... frame_12.png, each frame different."""
    folder = tmp_path_factory.mktemp("unpadded")
    for i, frame in enumerate(frames(12), start=1):
        frame.save(folder / f"frame_{i}.png")
    return folder


def test_folder_frames_in_time_order_in_the_library_and_pipeline(model_dir, unpadded_folder):
    expected = [f"frame_{i}" for i in range(1, 13)]
    assert [name for name, _ in iter_named_frames(unpadded_folder)] == expected
    in_order = frames(12)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(iter_frames(unpadded_folder), in_order))

    segmenter = pipeline("video-semantic-segmentation", model=str(model_dir))
    assert [r["frame_name"] for r in segmenter(str(unpadded_folder))] == expected

    # segment_video with the folder's path: the temporal model sees the frames in time order
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir).eval()
    processor = MrcfaImageProcessor.from_pretrained(model_dir)
    from_path = list(segment_video(model, str(unpadded_folder), processor=processor, output="logits"))
    from_list = list(segment_video(model, in_order, processor=processor, output="logits"))
    assert all(torch.equal(a, b) for a, b in zip(from_path, from_list)) and len(from_path) == 12
    string_order = [in_order[int(p.stem.split("_")[1]) - 1] for p in sorted(unpadded_folder.iterdir())]
    scrambled = list(segment_video(model, string_order, processor=processor, output="logits"))
    assert not torch.equal(scrambled[1], from_path[1])  # the old order (frame_10 second) gives other results


def test_cli_takes_folder_frames_in_time_order(model_dir, unpadded_folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(unpadded_folder), "--model", str(model_dir), "--output", str(out), "--max-frames", "3", "--quiet"]
    assert mrcfa_main(["segment", *args]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["frame_1.png", "frame_2.png", "frame_3.png"]

    ambiguous = tmp_path / "ambiguous"
    ambiguous.mkdir()
    for name, frame in zip(("1.png", "01.png", "2.png"), frames(3)):
        frame.save(ambiguous / name)
    capsys.readouterr()
    args = [str(ambiguous), "--model", str(model_dir), "--output", str(tmp_path / "o2"), "--quiet"]
    assert mrcfa_main(["segment", *args]) == 2
    assert capsys.readouterr().err == (
        f"mrcfa segment: error: cannot order the frames of {ambiguous}: 01.png and 1.png name the same frame (their "
        "names differ only in leading zeros or in the suffix): keep one of them.\n"
    )


def make_vspw(root, names, *, mask_size=None, orientation=None):
    """A one-video VSPW folder (split `val`) with frames `names` (JPEG) and masks; the frame `names[0]` gets the EXIF
    `orientation` when given; masks are `mask_size` (width, height), default the frames' size."""
    origin, masks = root / "data" / "v1" / "origin", root / "data" / "v1" / "mask"
    origin.mkdir(parents=True)
    masks.mkdir()
    (root / "val.txt").write_text("v1\n")
    for i, (name, frame) in enumerate(zip(names, frames(len(names)))):
        if i == 0 and orientation is not None:
            save_with_orientation(frame, origin / name, orientation)
        else:
            frame.save(origin / name, quality=95)
        size = mask_size or frame.size
        Image.fromarray(np.full((size[1], size[0]), i % 3 + 1, np.uint8)).save(masks / (Path(name).stem + ".png"))
    return root


def test_vspw_listing_uses_the_same_order(tmp_path):
    names = [f"{i}.jpg" for i in range(1, 12)]
    listing = list_vspw_videos(make_vspw(tmp_path / "vspw", names), "val")
    assert listing.videos[0].frame_names == tuple(str(i) for i in range(1, 12))
    assert [Path(f).name for f in listing.videos[0].mask_files][:3] == ["1.png", "2.png", "3.png"]

    make_vspw(tmp_path / "bad", ["1.jpg", "01.jpg", "2.jpg"])
    origin = tmp_path / "bad" / "data" / "v1" / "origin"
    with pytest.raises(FrameOrderError) as caught:
        list_vspw_videos(tmp_path / "bad", "val")
    assert str(caught.value) == (
        f"cannot order the frames of {origin}: 01.jpg and 1.jpg name the same frame (their names differ only in "
        "leading zeros or in the suffix): keep one of them."
    )


# ---------------------------------------------------------------------------------------------------- orientation
def test_exif_orientation_is_applied_to_frame_files(model_dir, tmp_path):
    folder = tmp_path / "portrait"
    folder.mkdir()
    save_with_orientation(marked(), folder / "0.jpg")
    save_with_orientation(marked(), folder / "1.png")
    for path in sorted(folder.iterdir()):
        assert Image.open(path).size == (W, H)  # stored landscape
        image = read_image(path)
        assert image.size == (H, W)  # shown portrait
        top, bottom, left, right = white_box(image)
        assert top < 8 and bottom < 12 and left > H - 8 and right == H - 1  # top-left corner turned to top-right

    assert [f.size for f in iter_frames(folder)] == [(H, W), (H, W)]
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir).eval()
    processor = MrcfaImageProcessor.from_pretrained(model_dir)
    assert [tuple(labels.shape) for labels in segment_video(model, str(folder), processor=processor)] == [(W, H)] * 2
    results = pipeline("video-semantic-segmentation", model=str(model_dir))(str(folder))
    assert [tuple(r["labels"].shape) for r in results] == [(W, H)] * 2
    out = tmp_path / "out"
    assert mrcfa_main(["segment", str(folder), "--model", str(model_dir), "--output", str(out), "--quiet"]) == 0
    assert [Image.open(out / f"{i}.png").size for i in range(2)] == [(H, W)] * 2  # maps as a viewer shows the frames
    # the image-segmentation pipeline (transformers' load_image) applies it too
    masks = pipeline("image-segmentation", model=str(model_dir))(str(folder / "0.jpg"))
    assert masks[0]["mask"].size == (H, W)


def test_data_loader_checks_frames_and_masks_as_shown(tmp_path):
    names = [f"{i:05d}.jpg" for i in range(4)]
    root = make_vspw(tmp_path / "turned", names, orientation=6, mask_size=None)
    # the first mask is drawn on the frame as shown (portrait)
    Image.fromarray(np.full((W, H), 1, np.uint8)).save(root / "data" / "v1" / "mask" / "00000.png")
    clip = next(iter(load_vspw(root, "val", mode="eval")))
    assert clip["frame_indices"] == [0] and clip["frames"][0].size == clip["masks"][0].size == (H, W)

    stale = make_vspw(tmp_path / "stale", names, orientation=6)  # first mask drawn on the stored (landscape) pixels
    frame = stale / "data" / "v1" / "origin" / "00000.jpg"
    with pytest.raises(ValueError) as caught:
        next(iter(load_vspw(stale, "val", mode="eval")))
    assert str(caught.value) == (
        f"frame {frame} is {H}x{W} (WxH) once turned by its EXIF orientation (masks label the frame as viewers show "
        f"it) but its mask {stale / 'data' / 'v1' / 'mask' / '00000.png'} is {W}x{H}: a frame and its mask must have "
        "the same size. Fix the mask, or skip the clips that use it: --skip_corrupt (run_vss.py), skip_corrupt=True "
        "(load_vspw)."
    )


@pytest.mark.parametrize(
    "rotation,hflip,size,box",
    [
        (None, False, (W, H), (0, 3, 0, 7)),
        (-90, False, (H, W), (0, 7, H - 4, H - 1)),  # a phone held upright: turned clockwise
        (90, False, (H, W), (W - 8, W - 1, 0, 3)),  # counter-clockwise
        (180, False, (W, H), (H - 4, H - 1, W - 8, W - 1)),
        (90, True, (H, W), (W - 8, W - 1, H - 4, H - 1)),  # counter-clockwise, then mirrored
    ],
)
def test_video_display_rotation_is_applied(tmp_path, rotation, hflip, size, box):
    video = tmp_path / "phone.mp4"
    write_video(video, [marked()] * 2, rotation=rotation, hflip=hflip)
    stored = stored_frames(video)
    assert stored[0].size == (W, H)
    shown = list(iter_frames(video))
    assert [f.size for f in shown] == [size, size]
    assert white_box(shown[0]) == box


def test_video_rotation_through_the_front_ends(model_dir, tmp_path):
    video = tmp_path / "upright.mp4"
    write_video(video, frames(3), rotation=-90)
    stored = stored_frames(video)
    shown = list(iter_frames(video))
    assert all(
        np.array_equal(np.asarray(s), np.asarray(r.transpose(Image.Transpose.ROTATE_270)))
        for s, r in zip(shown, stored)
    )
    out = tmp_path / "out"
    assert mrcfa_main(["segment", str(video), "--model", str(model_dir), "--output", str(out), "--quiet"]) == 0
    assert {Image.open(p).size for p in out.glob("*.png")} == {(H, W)}
    results = pipeline("video-semantic-segmentation", model=str(model_dir))(str(video))
    assert [tuple(r["labels"].shape) for r in results] == [(W, H)] * 3


def test_video_rotation_that_cannot_be_applied_is_reported(tmp_path):
    video = tmp_path / "tilted.mp4"
    write_video(video, [marked()] * 2, rotation=30)
    with pytest.warns(UserWarning) as caught:
        shown = list(iter_frames(video))
    assert [str(w.message) for w in caught] == [
        f"video {video} is meant to be shown turned by 30 degrees, not a multiple of 90: its frames are read as "
        "stored, not turned."
    ]
    assert [f.size for f in shown] == [(W, H)] * 2
    with pytest.raises(ValueError) as refused:
        display_transpose([65536, 65536, 0, 0, 65536, 0, 0, 0, 1 << 30])
    assert str(refused.value) == (
        "the display matrix [65536, 65536, 0, 0, 65536, 0, 0, 0, 1073741824] is not a turn by a multiple of 90 degrees."
    )


# ---------------------------------------------------------------------------------------------------- bit depth
def test_16_bit_frame_files_are_scaled_to_8_bit(model_dir, tmp_path):
    values = np.array([[0, 1, 128, 129, 1000, 32768, 65280, 65535]], np.uint16).repeat(4, axis=0)
    folder = tmp_path / "deep"
    folder.mkdir()
    Image.fromarray(values).save(folder / "0.png")
    Image.fromarray(values).save(folder / "1.tif")
    assert Image.open(folder / "0.png").mode == "I;16"
    assert np.asarray(Image.open(folder / "0.png").convert("RGB")).max() == 255  # PIL alone: clipped to white
    expected = np.array([0, 0, 0, 1, 4, 128, 254, 255], np.uint8)  # round(v / 257), as ImageMagick's convert
    for frame in iter_frames(folder):
        assert frame.mode == "RGB" and np.array_equal(np.asarray(frame)[0, :, 0], expected)
        assert np.array_equal(np.asarray(frame)[..., 0], np.asarray(frame)[..., 2])

    # the CLI on a 16-bit frame: the label map of the 8-bit frame
    big = (np.random.default_rng(0).random((H, W)) * 65535).astype(np.uint16)
    deep = tmp_path / "deep_frames"
    deep.mkdir()
    Image.fromarray(big).save(deep / "0.png")
    out = tmp_path / "out"
    assert mrcfa_main(["segment", str(deep), "--model", str(model_dir), "--output", str(out), "--quiet"]) == 0
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir).eval()
    eight = Image.fromarray(((big.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)).convert("RGB")
    (labels,) = segment_video(model, [eight], processor=MrcfaImageProcessor.from_pretrained(model_dir))
    assert np.array_equal(np.asarray(Image.open(out / "0.png")), labels.numpy())


def test_32_bit_frame_files_follow_the_processors_rule(model_dir, tmp_path, capsys):
    """32-bit integer / float images (PIL modes I, F) have no standard bit depth: within 0-255 they are read as 8-bit
    values (as the processor reads such arrays), beyond it they are refused with the range found."""
    inside = tmp_path / "inside"
    inside.mkdir()
    Image.fromarray(np.full((H, W), 200, np.int32)).save(inside / "0.tif")
    assert Image.open(inside / "0.tif").mode == "I"
    (frame,) = iter_frames(inside)
    assert frame.mode == "RGB" and np.asarray(frame).min() == np.asarray(frame).max() == 200

    folder = tmp_path / "wide"
    folder.mkdir()
    Image.fromarray(np.full((H, W), 1000, np.int32)).save(folder / "0.tif")
    with pytest.raises(VideoReadError) as caught:
        list(iter_frames(folder))
    message = (
        f"image {folder / '0.tif'}: PIL image of mode I has values in [1000, 1000], outside 0-255, and its bit depth "
        "is unknown: pass 16-bit frames as uint16 arrays or PIL images of mode I;16 (scaled to 0-255 as image tools "
        "do), or scale the values to 0-255 first."
    )
    assert str(caught.value) == message
    assert mrcfa_main(["segment", str(folder), "--model", str(model_dir), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.endswith(f"mrcfa segment: error: {message}\n")


# ---------------------------------------------------------------------------------------------------- small things
def _convert(path, out, capsys):
    """`mrcfa convert` in this process: (exit status, stdout, stderr, the warnings raised: torch's would be printed
    to stderr on their own line by a plain run)."""
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        code = mrcfa_main(["convert", "--checkpoint-path", str(path), "--output-dir", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, [str(w.message) for w in raised]


@pytest.mark.parametrize("kind", ["text", "pickled object"])
def test_convert_refuses_a_non_checkpoint_without_unsafe_advice(tmp_path, kind, capsys):
    path = tmp_path / "model.pth"
    if kind == "text":
        path.write_text("this is not a checkpoint\n")
        reason = "it is neither a complete zip archive (what torch.save writes) nor a pickle"
    else:
        torch.save({"state_dict": {}, "meta": Namespace(config="x")}, path)
        reason = (
            "a safe load refuses what it holds (Unsupported global: GLOBAL argparse.Namespace was not an allowed "
            "global by default): only tensors, numbers, strings and containers are loaded, as anything else could "
            "run code"
        )
    code, stdout, stderr, raised = _convert(path, tmp_path / "out", capsys)
    assert code == 2 and stdout == "" and raised == []
    assert stderr == (
        f"mrcfa convert: error: cannot read {path} as a torch checkpoint: {reason}; expected an official MRCFA "
        "checkpoint (.pth: a dict with 'meta' and 'state_dict').\n"
    )
    assert "weights_only=False" not in stderr and "weights_only` set to `False`" not in stderr


def test_convert_refuses_an_old_style_pickle_in_one_line(tmp_path, capsys):
    path = tmp_path / "old.pth"
    path.write_bytes(pickle.dumps({"a": Namespace(x=1)}, protocol=4))
    code, _, stderr, raised = _convert(path, tmp_path / "out", capsys)
    assert code == 2 and len(stderr.splitlines()) == 1 and raised == [], (stderr, raised)  # no torch warning
    assert stderr.startswith(f"mrcfa convert: error: cannot read {path} as a torch checkpoint: a safe load")
    assert "weights_only" not in stderr


def test_threads_after_a_plain_import():
    code = "import mrcfa\nprint(mrcfa.threads.configure_threads())"  # the README's form
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "torch CPU threads: 1 (from OMP_NUM_THREADS=1; --threads or OMP_NUM_THREADS to change)\n"
    assert "threads" in dir(__import__("mrcfa"))
