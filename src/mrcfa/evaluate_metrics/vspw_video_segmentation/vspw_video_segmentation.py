# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""VSPW video semantic segmentation metric: mmseg mIoU / mAcc / aAcc and VSPW video consistency (mVC8, mVC16)."""

import datasets
import evaluate
import numpy as np

from mrcfa.metrics import VideoSegmentationMetrics

# evaluate copies this single file into its module cache, so it imports the installed `mrcfa` package (absolute
# import) instead of a sibling file: `pip install mrcfa` is required, and the logic lives in one place.

_CITATION = """\
@inproceedings{sun2022mining,
  title={Mining Relations among Cross-Frame Affinities for Video Semantic Segmentation},
  author={Sun, Guolei and Liu, Yun and Tang, Hao and Chhatkuli, Ajad and Zhang, Le and Van Gool, Luc},
  booktitle={European Conference on Computer Vision (ECCV)},
  year={2022}
}
@inproceedings{miao2021vspw,
  title={{VSPW}: A Large-scale Dataset for Video Scene Parsing in the Wild},
  author={Miao, Jiaxu and Wei, Yunchao and Wu, Yu and Liang, Chen and Li, Guangrui and Yang, Yi},
  booktitle={IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year={2021}
}
"""

_DESCRIPTION = """\
Video semantic segmentation metrics as reported for VSPW: mIoU, mAcc and aAcc with mmseg's definitions over all
frames, and the VSPW video consistency mVC8 / mVC16 (the fraction of pixels whose ground truth stays constant over
a window of 8 / 16 consecutive frames whose prediction stays constant too). With protocol="official" (default) the
official VC_perclip.py is reproduced exactly (videos with <= 16 frames skipped, last window of each video left
out) and its own mIoU / pixel accuracy / class accuracy / FWIoU are reported as official_*; protocol="all_windows"
uses every window of every video.

Each example is one frame: its prediction, its reference and the id of its video. Frames of a video must be added
in temporal order; videos may be interleaved. evaluate stores every example and reads them all back as Python
lists in compute() (slow, memory hungry for real videos): for large evaluations use
mrcfa.metrics.VideoSegmentationMetrics directly, which accumulates confusion matrices and window counts.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `[H, W]` integer arrays): predicted class ids in [0, num_labels), one per frame.
    references (`list` of `[H, W]` integer arrays): ground truth, one per frame (raw VSPW masks if
        reduce_labels=True: 0 -> ignored, k -> k - 1).
    video_ids (`list` of `str`): the video of each frame. Frames of one video must be in temporal order and all
        have the same [H, W].
    num_labels (`int`): number of classes.
    ignore_index (`int`, defaults to 255): reference value of ignored pixels (after label reduction).
    reduce_labels (`bool`, defaults to False): whether references are raw VSPW masks.
    protocol (`str`, defaults to "official"): "official" or "all_windows".

Returns:
    The dict of `mrcfa.metrics.VideoSegmentationMetrics.compute`: `mIoU`, `mAcc`, `aAcc`, `per_class_iou`,
    `per_class_accuracy`, `confusion_matrix`, `mVC8`, `mVC16`, `per_video`, counts, and with the official
    protocol `official_mIoU`, `official_pixel_accuracy`, `official_class_accuracy`, `official_FWIoU`,
    `official_confusion_matrix`, `good_videos`, `skipped_videos`.

Examples:
    >>> import evaluate, numpy as np
    >>> from mrcfa.metrics import evaluate_module_path
    >>> metric = evaluate.load(evaluate_module_path())
    >>> frames = [np.zeros((4, 4), dtype=np.int64)] * 20
    >>> result = metric.compute(predictions=frames, references=frames, video_ids=["v0"] * 20, num_labels=3)
    >>> result["mIoU"], result["mVC8"], result["mVC16"]
    (1.0, 1.0, 1.0)
"""

_List = getattr(datasets, "List", datasets.Sequence)  # datasets >= 4 has List; Sequence is its older name
_Frame = _List(_List(datasets.Value("int32")))  # one [H, W] frame


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class VspwVideoSegmentation(evaluate.Metric):
    """mmseg mIoU / mAcc / aAcc and VSPW mVC8 / mVC16 over frames grouped by video id."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": _Frame, "references": _Frame, "video_ids": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/GuoleiSun/VSS-MRCFA", "https://github.com/VSPW-dataset/VSPW_code"],
        )

    def _compute(
        self,
        predictions,
        references,
        video_ids,
        num_labels,
        ignore_index=255,
        reduce_labels=False,
        protocol="official",
    ):
        metric = VideoSegmentationMetrics(
            num_labels, ignore_index=ignore_index, reduce_labels=reduce_labels, protocol=protocol
        )
        for video_id, prediction, reference in zip(video_ids, predictions, references):
            metric.add_frame(video_id, np.asarray(prediction), np.asarray(reference))
        return metric.compute()
