# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""VSPW data for MRCFA: clip streaming (``datasets``), official augmentation, collation, a synthetic VSPW.

``mrcfa.data`` never imports the model code (the parent package's ``__init__`` may). Public API::

    load_vspw(source, split, *, mode="train" | "eval", streaming=True, seed=0, epoch=0, repeats=1, ...)
    list_vspw_videos(source, split) -> VspwSplit (videos with sorted frame names / files)
    DataFileError (CorruptImageError, InvalidMaskError)  a frame / mask that cannot be used, named; skip_corrupt=True
    VspwBuilder, VspwBuilderConfig                     the datasets builder (the modern "loading script")
    VspwTrainTransform(crop_size, scale, ratio_range, cat_max_ratio, flip_prob, photometric, seed)
    VspwEvalTransform(scale, size_divisor, processor="auto")  the model processor's test preprocessing
    test_resize_shape(h, w)                            official test input size
    collate_clips(batch) / ClipCollator(transform)     -> pixel_values [B, T, 3, H, W], labels [B, T, H, W]
    make_synthetic_vspw(root, *, seed, num_classes, num_videos, num_frames, height, width, ...)
    object_visibility(root, split, video)              hidden / visible object pixels of a synthetic video
    export_vspw_parquet(source, output_dir, ...)       Hub-ready Parquet shards
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "load_vspw": ".loading",
    "vspw_builder": ".loading",
    "list_vspw_videos": ".sources",
    "resolve_source": ".sources",
    "CorruptImageError": ".sources",
    "DataFileError": ".sources",
    "InvalidMaskError": ".sources",
    "VspwSplit": ".sources",
    "VspwVideoInfo": ".sources",
    "VspwBuilder": ".builder",
    "VspwBuilderConfig": ".builder",
    "clip_features": ".builder",
    "epoch_order": ".builder",
    "sample_train_clip": ".builder",
    "VspwTrainTransform": ".transforms",
    "VspwEvalTransform": ".transforms",
    "test_resize_shape": ".transforms",
    "rescale_shape": ".transforms",
    "reduce_labels": ".transforms",
    "collate_clips": ".collate",
    "ClipCollator": ".collate",
    "make_synthetic_vspw": ".synthetic",
    "object_visibility": ".synthetic",
    "export_vspw_parquet": ".parquet",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
