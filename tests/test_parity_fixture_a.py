"""Fixture A: the converted official checkpoint reproduces every tensor the official implementation recorded."""

import json

import pytest
import torch
import torch.nn.functional as F

from mrcfa import MrcfaForVideoSemanticSegmentation


@pytest.fixture(scope="module")
def tolerances(fixtures_dir):
    return json.loads((fixtures_dir / "mrcfa_ref_a.json").read_text())["tolerances"]


def assert_close(actual, expected, atol, rtol, name):
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    err = (actual - expected).abs().max().item()
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol, msg=lambda m: f"{name} (max err {err}): {m}")


def full_resolution(logits, size):
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def eval_outputs(converted_a, ref_a):
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(converted_a).eval()
    with torch.no_grad():
        clip_out = model(ref_a["clip"], output_affinities=True, output_hidden_states=True)
        single_out = model(ref_a["clip"][:, -1])
    return clip_out, single_out


def test_converted_config(converted_a):
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(converted_a)
    config = model.config
    assert tuple(config.hidden_sizes) == (32, 64, 160, 256)
    assert config.refinement_layout == "two_layer"  # the fixture's head is the official 'b1' head
    assert config.stm_keep_ratio == 0.5
    assert config.num_clips == 4 and config.num_labels == 124
    assert config.id2label[0] == "wall" and config.id2label[123] == "train"
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_encoder_features(eval_outputs, ref_a, tolerances):
    clip_out, _ = eval_outputs
    tol = tolerances["feat_0..feat_3"]
    for i in range(4):
        assert_close(clip_out.hidden_states[i], ref_a[f"feat_{i}"], tol["atol"], tol["rtol"], f"feat_{i}")


def test_frame_logits(eval_outputs, ref_a, tolerances):
    tol = tolerances["eval_frame_logits"]
    assert_close(eval_outputs[0].frame_logits, ref_a["eval_frame_logits"], tol["atol"], tol["rtol"], "frame_logits")


def test_stm_mask_exact(eval_outputs, ref_a):
    mask = eval_outputs[0].stm_mask
    assert mask.dtype == torch.bool and mask.shape == (2, 3, 20)
    assert torch.equal(mask, ref_a["stm_mask"].bool())
    assert (mask.sum(-1) == 10).all()


def test_affinity(eval_outputs, ref_a, tolerances):
    tol = tolerances["affinity"]
    assert_close(eval_outputs[0].affinity, ref_a["affinity"], tol["atol"], tol["rtol"], "affinity")


def test_eval_head_output_and_full_resolution(eval_outputs, ref_a, tolerances):
    tol = tolerances["eval_head_out / eval_logits_*"]
    logits = eval_outputs[0].logits
    assert_close(logits, ref_a["eval_head_out"], tol["atol"], tol["rtol"], "eval_head_out")
    full = full_resolution(logits, ref_a["clip"].shape[-2:])
    grid = full[:, :, ref_a["grid_rows"]][:, :, :, ref_a["grid_cols"]]
    assert_close(grid, ref_a["eval_logits_grid"], tol["atol"], tol["rtol"], "eval_logits_grid")
    assert_close(full[:, ref_a["chans"]], ref_a["eval_logits_chans"], tol["atol"], tol["rtol"], "eval_logits_chans")
    agreement = (full.argmax(1) == ref_a["eval_pred"]).float().mean().item()
    assert agreement >= 0.999


def test_single_frame_path(eval_outputs, ref_a, tolerances):
    _, single = eval_outputs
    tol = tolerances["single_frame_*"]
    assert single.reference_logits is None and single.frame_logits.shape[1] == 1
    assert_close(single.logits, ref_a["single_frame_head_out"], tol["atol"], tol["rtol"], "single_frame_head_out")
    full = full_resolution(single.logits, ref_a["clip"].shape[-2:])
    grid = full[:, :, ref_a["grid_rows"]][:, :, :, ref_a["grid_cols"]]
    assert_close(grid, ref_a["single_frame_logits_grid"], tol["atol"], tol["rtol"], "single_frame_logits_grid")
    assert_close(full[:, ref_a["chans"]], ref_a["single_frame_logits_chans"], tol["atol"], tol["rtol"], "chans")
    assert (full.argmax(1) == ref_a["single_frame_pred"]).float().mean().item() >= 0.999


def test_train_mode_outputs_and_loss(converted_a, ref_a, tolerances):
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(
        converted_a, classifier_dropout_prob=0.0, ensemble_dropout_prob=0.0, drop_path_rate=0.0
    ).train()
    labels = ref_a["labels"][:, :, 0]
    out = model(ref_a["clip"], labels=labels)
    train_out = torch.cat([out.frame_logits, out.reference_logits, out.logits.unsqueeze(1)], dim=1)
    tol = tolerances["train_out"]
    assert_close(train_out.detach(), ref_a["train/train_out"], tol["atol"], tol["rtol"], "train_out")
    tol = tolerances["train_loss"]
    assert_close(out.loss.detach(), ref_a["train_loss"], tol["atol"], tol["rtol"], "train_loss")
    assert_close(out.loss.detach(), ref_a["train/train_loss"], tol["atol"], tol["rtol"], "train_loss (train file)")
    # the two terms separately
    from mrcfa.models.mrcfa.modeling_mrcfa import mean_cross_entropy

    frame_ce = mean_cross_entropy(out.frame_logits.flatten(0, 1), labels.flatten(0, 1), 255)
    assert_close(frame_ce.detach(), ref_a["train_loss_ori_ce"], 3e-5, 1e-5, "frame CE")
    ens = torch.cat([out.reference_logits, out.logits.unsqueeze(1)], 1).flatten(0, 1)
    target = labels[:, -1:].expand(-1, 4, -1, -1).flatten(0, 1)
    assert_close(mean_cross_entropy(ens, target, 255).detach(), ref_a["train_loss_lastframe_ce"], 3e-5, 1e-5, "CE2")
    # mmseg's acc_seg: percent of correct per-frame predictions over all pixels (ignored ones included)
    full = full_resolution(out.frame_logits.flatten(0, 1), labels.shape[-2:]).argmax(1)
    acc = (full == labels.flatten(0, 1)).float().mean() * 100
    assert abs(acc.item() - ref_a["train_acc_seg"].item()) < 0.05
