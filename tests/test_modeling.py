"""Behaviour of MrcfaForVideoSemanticSegmentation on small configs: shapes, modes, gradients, errors."""

import pytest
import torch
from conftest import tiny_config
from huggingface_hub.errors import StrictDataclassError

from mrcfa import MRCFA_PRESETS, MrcfaConfig, MrcfaForVideoSemanticSegmentation

H, W = 64, 96  # 2 x 3 tokens at 1/32


def make_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return MrcfaForVideoSemanticSegmentation(tiny_config(**overrides))


def clip(batch=1, frames=4, seed=1):
    return torch.randn(batch, frames, 3, H, W, generator=torch.Generator().manual_seed(seed))


def labels_for(batch=1, frames=4, classes=7, seed=2):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (batch, frames, H, W), generator=gen)
    labels[torch.rand(labels.shape, generator=gen) < 0.1] = 255
    return labels


@pytest.mark.parametrize(
    "preset,expected",
    [
        ("b0", 5_281_992),
        ("b1", 16_321_659),
        ("b2", 27_366_344),
        ("b3", 47_242_184),
        ("b4", 64_012_744),
        ("b5", 84_613_064),
    ],
)
def test_preset_parameter_counts(preset, expected):
    with torch.device("meta"):
        model = MrcfaForVideoSemanticSegmentation(MrcfaConfig.from_preset(preset))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_presets_and_defaults():
    assert MrcfaConfig.from_preset("b0").stm_keep_ratio == 0.8
    assert MrcfaConfig.from_preset("B1").refinement_layout == "two_layer"
    for name in ("b0", "b2", "b3", "b4", "b5"):
        assert MrcfaConfig.from_preset(name).refinement_layout == "single_layer"
    assert set(MRCFA_PRESETS) == {"b0", "b1", "b2", "b3", "b4", "b5"}
    config = MrcfaConfig()
    assert config.num_clips == 4 and tuple(config.reference_offsets) == (-9, -6, -3) and config.stm_top_k == 5
    assert config.num_labels == 124 and config.id2label[60] == "person" and config.label2id["person"] == 60
    assert MrcfaConfig.from_preset("b1", num_labels=3).num_labels == 3
    with pytest.raises(ValueError, match="Unknown MRCFA preset 'b9'"):
        MrcfaConfig.from_preset("b9")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"stm_keep_ratio": 0.0}, "stm_keep_ratio must be in"),
        ({"stm_keep_ratio": 1.5}, "stm_keep_ratio must be in"),
        ({"num_clips": 1, "reference_offsets": ()}, "num_clips must be >= 2"),
        ({"num_clips": 3}, "one offset per reference frame"),
        ({"reference_offsets": (-3, -6, -9)}, "strictly increasing"),
        ({"stm_top_k": 0}, "stm_top_k must be >= 1"),
        ({"ensemble_dropout_prob": 1.0}, "ensemble_dropout_prob must be in"),
        ({"depths": (2, 2, 2)}, "depths must have one entry per encoder stage"),
        ({"refinement_layout": "three_layer"}, "refinement_layout"),
        ({"kernel_implementation": "fast"}, "kernel_implementation"),
    ],
)
def test_invalid_config(kwargs, message):
    # a strict dataclass like SegformerConfig: validation errors are StrictDataclassError wrapping our ValueError
    with pytest.raises(StrictDataclassError, match=message):
        MrcfaConfig(**kwargs)


def test_clip_output_shapes_and_affinities():
    model = make_model().eval()
    with torch.no_grad():
        out = model(clip(batch=2), output_affinities=True, output_hidden_states=True)
    assert out.logits.shape == (2, 7, H // 4, W // 4)
    assert out.frame_logits.shape == (2, 4, 7, H // 4, W // 4)
    assert out.reference_logits.shape == (2, 3, 7, H // 4, W // 4)
    n = (H // 32) * (W // 32)
    s = int(n * 0.5)
    assert out.stm_mask.shape == (2, 3, n) and out.stm_mask.dtype == torch.bool
    assert (out.stm_mask.sum(-1) == s).all()
    assert out.affinity.shape == (2, 3, (H // 8) * (W // 8), s)
    assert len(out.hidden_states) == 4 and out.hidden_states[0].shape == (8, 16, H // 4, W // 4)
    assert out.loss is None
    # without the flag, no affinities
    with torch.no_grad():
        plain = model(clip(batch=2))
    assert plain.stm_mask is None and plain.affinity is None and plain.hidden_states is None
    torch.testing.assert_close(plain.logits, out.logits)


def test_single_frame_equals_frame_logits_of_clip():
    model = make_model().eval()
    x = clip(batch=2)
    with torch.no_grad():
        full = model(x)
        single = model(x[:, -1])
        single5d = model(x[:, -1:])
    assert single.reference_logits is None
    torch.testing.assert_close(single.logits, full.frame_logits[:, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single5d.logits, single.logits)


def test_batch_invariance_and_determinism():
    model = make_model().eval()
    x = clip(batch=2, seed=5)
    with torch.no_grad():
        both = model(x).logits
        first, second = model(x[:1]).logits, model(x[1:]).logits
        again = model(x).logits
    assert (both - torch.cat([first, second])).abs().max().item() <= 1e-5
    assert torch.equal(both, again)


def test_eval_and_train_modes_differ_by_batchnorm_only():
    model = make_model(classifier_dropout_prob=0.0, ensemble_dropout_prob=0.0, drop_path_rate=0.0)
    x = clip(batch=2)
    model.train()
    a = model(x).logits
    b = model(x).logits
    torch.testing.assert_close(a, b)  # dropouts from config at 0 -> deterministic train forward
    model.eval()
    with torch.no_grad():
        c = model(x).logits
    assert (a - c).abs().max() > 1e-3  # batch statistics vs running statistics


def test_dropouts_come_from_config():
    model = make_model(classifier_dropout_prob=0.3, ensemble_dropout_prob=0.2, drop_path_rate=0.05)
    probs = sorted({m.p for m in model.modules() if isinstance(m, torch.nn.Dropout2d)})
    assert probs == [0.2, 0.3]
    x = clip()
    model.train()
    torch.manual_seed(0)
    a = model(x).logits
    torch.manual_seed(1)
    b = model(x).logits
    assert not torch.equal(a, b)


def test_layer_norm_eps_matches_official():
    model = make_model()
    stage = model.segformer.stages[0]
    assert stage.layer_norm.eps == 1e-6 and stage.blocks[0].layernorm_before.eps == 1e-6
    assert stage.patch_embeddings.layer_norm.eps == 1e-5
    assert stage.blocks[0].attention.sequence_reduction.layer_norm.eps == 1e-5


def test_loss_clip_and_single_frame():
    from mrcfa.models.mrcfa.modeling_mrcfa import mean_cross_entropy

    model = make_model(classifier_dropout_prob=0.0, ensemble_dropout_prob=0.0, drop_path_rate=0.0).train()
    x, y = clip(batch=2), labels_for(batch=2)
    out = model(x, labels=y)
    frame = mean_cross_entropy(out.frame_logits.flatten(0, 1), y.flatten(0, 1), 255)
    ens = torch.cat([out.reference_logits, out.logits[:, None]], 1).flatten(0, 1)
    target = y[:, -1:].expand(-1, 4, -1, -1).flatten(0, 1)
    torch.testing.assert_close(out.loss, 0.5 * frame + mean_cross_entropy(ens, target, 255))
    # mean over all pixels, ignored included: differs from torch's default (valid pixels only)
    valid_mean = torch.nn.functional.cross_entropy(
        torch.nn.functional.interpolate(out.frame_logits.flatten(0, 1), size=(H, W), mode="bilinear"),
        y.flatten(0, 1),
        ignore_index=255,
    )
    assert frame.item() < valid_mean.item()
    # a single frame: plain CE of the per-frame logits, labels [B, H, W] or [B, 1, H, W]
    single = model(x[:, -1], labels=y[:, -1])
    expected = mean_cross_entropy(single.logits, y[:, -1], 255)
    torch.testing.assert_close(single.loss, expected)
    torch.testing.assert_close(model(x[:, -1:], labels=y[:, -1:]).loss, expected)


def test_every_trainable_parameter_gets_a_gradient():
    from mrcfa.models.mrcfa.modeling_mrcfa_head import MrcfaAffinityConv

    model = make_model().train()
    out = model(clip(batch=2), labels=labels_for(batch=2))
    out.loss.backward()
    # A refinement layer with one output channel is followed by GroupNorm(1 group) over that channel, which
    # subtracts any constant: its bias has no effect and a zero gradient (up to rounding), as in the official model.
    cancelled = {
        f"{name}.bias"
        for name, module in model.named_modules()
        if isinstance(module, MrcfaAffinityConv) and module.out_channels == 1
    }
    assert "decode_head.affinity_refinement.level_units.0.0.bias" in cancelled
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    missing = [n for n, g in grads.items() if n not in cancelled and (g is None or g.abs().sum() == 0)]
    assert not missing, missing
    scale = max(g.abs().max().item() for g in grads.values() if g is not None)
    assert all(grads[n] is None or grads[n].abs().max() <= 1e-5 * scale for n in cancelled)


def test_gradient_checkpointing_gives_same_gradients():
    x, y = clip(batch=1), labels_for(batch=1)
    grads = []
    for checkpointing in (False, True):
        model = make_model(classifier_dropout_prob=0.0, ensemble_dropout_prob=0.0, drop_path_rate=0.0).train()
        calls = []
        model.segformer.stages[0].blocks[0].mlp.fc1.register_forward_hook(lambda *args, calls=calls: calls.append(1))
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.is_activation_checkpointing
        model(x, labels=y).loss.backward()
        assert len(calls) == (2 if checkpointing else 1)  # checkpointed blocks are recomputed in the backward pass
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-5, msg=name)


def test_save_load_round_trip(tmp_path):
    model = make_model().eval()
    model.save_pretrained(tmp_path)
    loaded = MrcfaForVideoSemanticSegmentation.from_pretrained(tmp_path).eval()
    x = clip()
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)
    assert loaded.config.to_dict()["auto_map"]["AutoModelForSemanticSegmentation"].endswith(
        "MrcfaForVideoSemanticSegmentation"
    )


def test_return_dict_false_gives_tuple():
    model = make_model().eval()
    with torch.no_grad():
        out = model(clip(), return_dict=False)
    assert isinstance(out, tuple) and out[0].shape == (1, 7, H // 4, W // 4)


@pytest.mark.parametrize(
    "pixel_values,message",
    [
        (torch.randn(4, 3, H), "must be a clip"),
        (torch.randn(1, 4, 3, 1, H, W), "must be a clip"),
        (torch.randn(1, 4, 1, H, W), "must have 3 channels"),
        (torch.randn(1, 4, 3, 70, W), "divisible by 32"),
        (torch.randn(1, 4, 3, H, 100), "divisible by 32"),
        (torch.randn(1, 3, 3, H, W), "1 frame or num_clips=4 frames"),
        (torch.randn(1, 2, 3, H, W), "1 frame or num_clips=4 frames"),
    ],
)
def test_bad_pixel_values(pixel_values, message):
    model = make_model().eval()
    with pytest.raises(ValueError, match=message):
        model(pixel_values)


def test_bad_labels():
    model = make_model().train()
    x = clip()
    with pytest.raises(ValueError, match=r"labels must have shape \[1, 4, 64, 96\]"):
        model(x, labels=torch.zeros(1, 3, H, W, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must have shape \[1, 64, 96\] or \[1, 1, 64, 96\]"):
        model(x[:, -1], labels=torch.zeros(1, H, W + 32, dtype=torch.long))
    bad = labels_for()
    bad[0, 0, 0, 0] = 7
    with pytest.raises(ValueError, match=r"labels must be in \[0, 7\) or 255 \(ignored\), found \[7\]"):
        model(x, labels=bad)
    bad[0, 0, 0, 0] = -1
    with pytest.raises(ValueError, match=r"found \[-1\]"):
        model(x, labels=bad)
    with pytest.raises(ValueError, match="integer tensor"):
        model(x, labels=labels_for().float())


def test_too_small_input_for_token_selection():
    model = make_model().eval()
    with pytest.raises(ValueError, match="too small"):
        model(torch.randn(1, 4, 3, 32, 64))


def test_unknown_keyword_argument():
    model = make_model().eval()
    with pytest.raises(TypeError, match="unexpected keyword"):
        model(clip(), attention_mask=None)  # (pixel_mask is an argument now: padded batches)


def test_attentions_with_eager_attention_and_same_logits_as_sdpa():
    torch.manual_seed(0)
    eager = MrcfaForVideoSemanticSegmentation(tiny_config(attn_implementation="eager")).eval()
    sdpa = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    sdpa.load_state_dict(eager.state_dict())
    x = clip(batch=2)
    with torch.no_grad():
        out = eager(x, output_attentions=True)
        assert len(out.attentions) == sum(eager.config.depths)
        # [batch * frames, heads, tokens, reduced tokens]: stage 1 has 16 x 24 tokens, reduced 8x
        assert out.attentions[0].shape == (8, 1, (H // 4) * (W // 4), (H // 32) * (W // 32))
        torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(8, 1, (H // 4) * (W // 4)))
        torch.testing.assert_close(sdpa(x).logits, out.logits, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------- transformers' contracts
def test_binary_segmentation_trains_with_binary_cross_entropy():
    """num_labels=1: BCE with logits on the single channel (labels 0/1, 255 ignored), both terms of a full clip."""
    from mrcfa.models.mrcfa.modeling_mrcfa import mean_cross_entropy

    model = make_model(num_labels=1, classifier_dropout_prob=0.0, ensemble_dropout_prob=0.0, drop_path_rate=0.0)
    x = 0.1 * clip(batch=2)
    y = torch.zeros(2, 4, H, W, dtype=torch.long)
    for b in range(2):  # a bright square per frame is the foreground: learnable in a few steps
        for t in range(4):
            top, left = 4 + 8 * t, 8 + 24 * b
            x[b, t, :, top : top + 32, left : left + 32] += 2.0
            y[b, t, top : top + 32, left : left + 32] = 1
    y[:, :, :2] = 255
    out = model.train()(x, labels=y)
    assert out.logits.shape == (2, 1, H // 4, W // 4)
    up = torch.nn.functional.interpolate(out.frame_logits.flatten(0, 1), size=(H, W), mode="bilinear")
    valid = (y.flatten(0, 1) != 255).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        up[:, 0], y.flatten(0, 1).clamp(max=1).float(), reduction="none"
    )
    torch.testing.assert_close(
        mean_cross_entropy(out.frame_logits.flatten(0, 1), y.flatten(0, 1), 255), (bce * valid).mean()
    )
    out.loss.backward()
    grads = [p.grad.abs().sum() for p in model.parameters() if p.grad is not None]
    assert out.loss.item() > 0 and sum(grads) > 0
    # ensemble decoders get a gradient too: both terms are present
    assert model.decode_head.ensemble.target_decoder[1].weight.grad.abs().sum() > 0
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = model(x, labels=y).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\) or 255"):
        model(x, labels=torch.full_like(y, 2))


def test_hidden_states_and_attentions_by_index():
    model = make_model(attn_implementation="eager").eval()
    x = clip()
    with torch.no_grad():
        everything = model(x, output_hidden_states=True, output_attentions=True)
        chosen = model(x, output_hidden_states=[0, -1], output_attentions=[1])
        first = model(x, output_hidden_states=0)
        none = model(x, output_hidden_states=False)
    assert len(everything.hidden_states) == 4 and all(h is not None for h in everything.hidden_states)
    layers = len(everything.attentions)
    assert layers == sum(model.config.depths) and all(a is not None for a in everything.attentions)
    assert [h is not None for h in chosen.hidden_states] == [True, False, False, True]
    torch.testing.assert_close(chosen.hidden_states[3], everything.hidden_states[3])
    assert [a is not None for a in chosen.attentions] == [i == 1 for i in range(layers)]
    assert [h is not None for h in first.hidden_states] == [True, False, False, False]
    assert none.hidden_states is None and none.attentions is None


@pytest.mark.parametrize("frames", [1, 4])
def test_can_compile_fullgraph_is_true(frames):
    """The flag transformers reads is what torch.compile(fullgraph=True) shows: the eval and the training forward of
    a batch of clips and of single frames trace as one graph each, with the same outputs (the eager backend keeps the
    test fast: graph breaks are dynamo's; inductor also works, ~45 s of compilation on 2 CPU cores, see README)."""
    assert MrcfaForVideoSemanticSegmentation._can_compile_fullgraph
    model = make_model().eval()
    x = clip(batch=2, frames=frames)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x).logits, model(x).logits)
    model.train()
    torch.manual_seed(0)
    loss = compiled(x, labels=labels_for(batch=2, frames=frames)).loss
    torch.manual_seed(0)
    torch.testing.assert_close(loss, model(x, labels=labels_for(batch=2, frames=frames)).loss)


def test_save_pretrained_does_not_change_the_live_config(tmp_path):
    import json

    model = make_model()
    assert "auto_map" not in model.config.to_dict()
    model.save_pretrained(tmp_path)
    assert "auto_map" not in model.config.to_dict()  # (transformers itself records architectures and dtype)
    model.config.auto_map = {"AutoConfig": "elsewhere.Config"}
    model.save_pretrained(tmp_path / "again")
    assert model.config.auto_map == {"AutoConfig": "elsewhere.Config"}
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForSemanticSegmentation"] == "modeling_mrcfa.MrcfaForVideoSemanticSegmentation"


# ------------------------------------------------------------------------------------------ padded batches


@pytest.mark.parametrize("frames", [1, 4])
def test_pixel_mask_gives_each_item_its_unpadded_outputs(frames):
    """Items of different valid sizes in one padded batch give the logits, frame logits, hidden states and loss each
    gets alone; the padding holds 0; an all-ones mask changes nothing."""
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    sizes = [(64, 96), (96, 64), (64, 96)]
    height, width = 96, 96
    items = [torch.randn(frames, 3, h, w) for h, w in sizes]
    item_labels = [torch.randint(0, 7, (frames, h, w)) for h, w in sizes]
    pixel_values = torch.zeros(len(sizes), frames, 3, height, width)
    labels = torch.full((len(sizes), frames, height, width), 255)
    pixel_mask = torch.zeros(len(sizes), height, width, dtype=torch.int64)
    for i, (h, w) in enumerate(sizes):
        pixel_values[i, ..., :h, :w], labels[i, ..., :h, :w], pixel_mask[i, :h, :w] = items[i], item_labels[i], 1
    squeeze = (lambda x: x[:, 0]) if frames == 1 else (lambda x: x)
    with torch.no_grad():
        out = model(squeeze(pixel_values), labels=squeeze(labels), pixel_mask=pixel_mask, output_hidden_states=True)
        alone = [
            model(squeeze(x[None]), labels=squeeze(y[None]), output_hidden_states=True)
            for x, y in zip(items, item_labels)
        ]
    assert out.logits.shape == (3, 7, height // 4, width // 4)
    losses, counts = [], []
    for i, ((h, w), ref) in enumerate(zip(sizes, alone)):
        torch.testing.assert_close(out.logits[i, :, : h // 4, : w // 4], ref.logits[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(
            out.frame_logits[i, ..., : h // 4, : w // 4], ref.frame_logits[0], atol=1e-5, rtol=0
        )
        assert out.logits[i, :, h // 4 :].eq(0).all() and out.logits[i, :, :, w // 4 :].eq(0).all()
        torch.testing.assert_close(
            out.hidden_states[-1][i * frames : (i + 1) * frames, :, : h // 32, : w // 32],
            ref.hidden_states[-1],
            atol=1e-5,
            rtol=0,
        )
        if frames > 1:
            torch.testing.assert_close(
                out.reference_logits[i, ..., : h // 4, : w // 4], ref.reference_logits[0], atol=1e-5, rtol=0
            )
        losses.append(ref.loss)
        counts.append(h * w)
    expected_loss = sum(loss * count for loss, count in zip(losses, counts)) / sum(counts)
    torch.testing.assert_close(out.loss, expected_loss, atol=1e-5, rtol=1e-5)

    # All ones (or a per-frame [B, T, H, W] mask of the same region): exactly the unmasked forward.
    full = torch.ones(3, height, width, dtype=torch.int64)
    with torch.no_grad():
        plain = model(squeeze(pixel_values)).logits
        assert torch.equal(model(squeeze(pixel_values), pixel_mask=full).logits, plain)
        per_frame = pixel_mask[:, None].expand(-1, frames, -1, -1)
        assert torch.equal(model(squeeze(pixel_values), pixel_mask=per_frame).logits, out.logits)


def test_pixel_mask_errors():
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    pixel_values = torch.randn(2, 4, 3, 64, 64)
    mask = torch.ones(2, 64, 64, dtype=torch.int64)
    mask[1, 32:] = 0
    with pytest.raises(ValueError, match="pixel_mask must have shape"):
        model(pixel_values, pixel_mask=mask[:, :32])
    bad = mask.clone()
    bad[0, 40:, :] = 0  # 40 rows valid: not a multiple of 32
    with pytest.raises(ValueError, match="top-left"):
        model(pixel_values, pixel_mask=bad)
    per_frame = mask[:, None].repeat(1, 4, 1, 1)
    per_frame[0, 0, 32:] = 0
    with pytest.raises(ValueError, match="share one valid region"):
        model(pixel_values, pixel_mask=per_frame)
    with pytest.raises(ValueError, match="not supported"):
        model(pixel_values, pixel_mask=mask, output_affinities=True)


# ------------------------------------------------------------------------- kernel implementations (plain / CPU)
# Each piece of the CPU kernels (kernels_mrcfa.py) against the plain form, then the whole model under both.


def test_kernels_for_picks_the_implementation_once_per_call():
    from mrcfa.models.mrcfa.kernels_mrcfa import PLAIN_KERNELS, MrcfaCpuKernels, kernels_for

    cpu, meta = torch.zeros(1), torch.zeros(1, device="meta")
    assert kernels_for("plain", cpu) is PLAIN_KERNELS and kernels_for("auto", meta) is PLAIN_KERNELS
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name in ("auto", "cpu"):
                assert kernels_for(name, cpu) == MrcfaCpuKernels(one_thread=threads == 1)
    finally:
        torch.set_num_threads(previous)
    with pytest.raises(ValueError, match="kernel_implementation='cpu' runs CPU tensors in eager mode, got a meta"):
        kernels_for("cpu", meta)
    with pytest.raises(ValueError, match="kernel_implementation must be one of"):
        kernels_for("fast", cpu)
    model = make_model(kernel_implementation="plain")
    assert model.kernels_for(cpu) is PLAIN_KERNELS and model.decode_head.kernels_for(cpu) is PLAIN_KERNELS


@pytest.mark.parametrize("layer", [(1, 1, 3), (1, 2, 3), (1, 1, 5), (2, 2, 3), (2, 1, 3)])
def test_affinity_convolution_cpu_kernels_equal_the_plain_convolution(layer):
    """The depthwise formulation of the refinement convolutions (CPU) computes nn.Conv2d's function and gradients,
    and returns a standard contiguous tensor (a channels-last one-channel map sends GroupNorm to a slow kernel)."""
    from mrcfa.models.mrcfa.kernels_mrcfa import MrcfaCpuKernels, MrcfaKernels
    from mrcfa.models.mrcfa.modeling_mrcfa_head import MrcfaAffinityConv

    in_channels, out_channels, kernel = layer
    torch.manual_seed(0)
    conv = MrcfaAffinityConv(in_channels, out_channels, kernel, padding=kernel // 2)
    x = torch.randn(37, in_channels, 12, 20, requires_grad=True)
    out, expected = MrcfaCpuKernels().affinity_conv(conv, x), MrcfaKernels().affinity_conv(conv, x)
    assert out.shape == expected.shape and out.is_contiguous() and out.stride() == expected.contiguous().stride()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(out)
    actual_grads = torch.autograd.grad(out, (x, conv.weight, conv.bias), grad)
    expected_grads = torch.autograd.grad(expected, (x, conv.weight, conv.bias), grad)
    for a, e in zip(actual_grads, expected_grads):
        torch.testing.assert_close(a, e, atol=1e-3, rtol=1e-5)
    unit = torch.nn.Sequential(conv, torch.nn.GroupNorm(1, out_channels), torch.nn.ReLU())
    torch.testing.assert_close(
        MrcfaCpuKernels().refinement_unit(unit, x), MrcfaKernels().refinement_unit(unit, x), atol=1e-5, rtol=1e-5
    )


def test_target_input_and_reference_major_affinity_equal_their_plain_forms():
    from mrcfa.models.mrcfa.modeling_mrcfa_head import MrcfaCrossFrameAffinity

    model = make_model().eval()
    aggregation = model.decode_head.temporal_aggregation
    gen = torch.Generator().manual_seed(0)
    target, reference = torch.randn(2, 24, 16, generator=gen), torch.randn(2, 3, 5, 16, generator=gen)
    plain = MrcfaCrossFrameAffinity.affinity(target, reference)  # [B, R, N_t, s]
    torch.testing.assert_close(MrcfaCrossFrameAffinity.reference_major_affinity(target, reference), plain.mT)
    values = torch.randn(2, 3, 5, model.config.decoder_hidden_size, generator=gen)
    target_eighth = torch.randn(2, model.config.decoder_hidden_size, 4, 6, generator=gen)
    with torch.no_grad():
        per_reference = aggregation(plain, values, (4, 6))  # [B, R, D, 4, 6]
        expected = per_reference.mean(dim=1) + target_eighth
        for layout in (torch.contiguous_format, torch.channels_last):
            actual = aggregation.target_input(plain, values, target_eighth.contiguous(memory_format=layout))
            torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("implementation,threads", [("plain", 1), ("cpu", 1), ("cpu", 2)])
def test_frame_decoder_equals_the_plain_segformer_decoder(implementation, threads):
    """`fuse` (fuse convolution folded into the projections, and in eval mode the BatchNorm too) and `classify`
    compute project -> upsample -> concat -> fuse conv -> BatchNorm -> ReLU -> classifier, in both modes, with a
    trained model's BatchNorm statistics: with the plain kernels, and with the CPU kernels at one thread (1x1
    convolutions as one product) and at two (channels-last convolutions)."""
    from mrcfa.models.mrcfa.kernels_mrcfa import kernels_for
    from mrcfa.models.mrcfa.modeling_mrcfa_head import MrcfaFrameDecoder

    torch.manual_seed(0)
    config = tiny_config(classifier_dropout_prob=0.0)
    decoder = MrcfaFrameDecoder(config)
    norm = decoder.batch_norm
    with torch.no_grad():
        norm.running_mean.normal_(0, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_(0, 0.2)
    sizes = [(16, 24), (8, 12), (4, 6), (2, 3)]
    hidden = tuple(torch.randn(2, c, *hw) for c, hw in zip(config.hidden_sizes, sizes))

    def plain(hidden):
        maps = [
            projection(h.flatten(2).mT).mT.unflatten(2, h.shape[-2:])
            for h, projection in zip(hidden, decoder.linear_projections)
        ]
        maps = [torch.nn.functional.interpolate(m, size=sizes[0], mode="bilinear") for m in maps]
        fused = torch.relu(norm(decoder.linear_fuse(torch.cat(maps[::-1], dim=1))))
        return fused, decoder.classifier(fused)

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        kernels = kernels_for(implementation, hidden[0])
        for train in (False, True):
            decoder.train(train)
            with torch.no_grad():
                expected_fused, expected_logits = plain(hidden)
                fused = decoder.fuse(hidden, kernels)
                logits = decoder.classify(fused, kernels)
            torch.testing.assert_close(fused, expected_fused, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(logits, expected_logits, atol=1e-5, rtol=1e-5)
            assert logits.is_contiguous()
    finally:
        torch.set_num_threads(previous)


def test_affinity_refinement_in_chunks_equals_one_stack():
    """The CPU kernels refine the affinity images in chunks (`refinement_chunk_size`): no operation mixes images, so
    any chunk size gives the plain kernels' one stack (up to the kernels' float rounding), and so do the clip
    outputs."""
    from mrcfa.models.mrcfa.kernels_mrcfa import PLAIN_KERNELS, MrcfaCpuKernels

    model = make_model().eval()
    head = model.decode_head
    gen = torch.Generator().manual_seed(0)
    images = (torch.randn(50, 1, 2, 3, generator=gen), torch.randn(50, 1, 4, 6, generator=gen))
    images += (torch.randn(50, 1, 8, 12, generator=gen),)
    with torch.no_grad():
        whole = head.refine_affinities(images, PLAIN_KERNELS)
        model.config.kernel_implementation = "plain"
        expected = model(clip()).logits
        model.config.kernel_implementation = "cpu"
        for chunk in (1, 7, 64, 1000):
            head.refinement_chunk_size = chunk
            torch.testing.assert_close(head.refine_affinities(images, MrcfaCpuKernels()), whole, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(head.refine_affinities(images), whole, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(model(clip()).logits, expected, atol=1e-5, rtol=1e-5)
    assert whole.shape == (50, 1, 8, 12)


def test_encoder_depthwise_weights_get_channels_last_strides_without_changing_values(tmp_path):
    from mrcfa.models.mrcfa.kernels_mrcfa import _depthwise_weights_channels_last

    model = make_model().eval()
    depthwise = [m for m in model.segformer.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == sum(model.config.depths) and all(m.weight.stride(1) != 1 for m in depthwise)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = clip(frames=1)[:, 0]
    with torch.no_grad():
        expected = model.segformer(x).last_hidden_state
        _depthwise_weights_channels_last(model.segformer)
        assert all(m.weight.stride(1) == 1 and m.weight.is_contiguous() for m in depthwise)
        torch.testing.assert_close(model.segformer(x).last_hidden_state, expected, atol=1e-5, rtol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    model.save_pretrained(tmp_path)  # safetensors takes the re-strided weights as they are
    reloaded = MrcfaForVideoSemanticSegmentation.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x).logits, model(x).logits)  # the CPU kernels re-apply the strides
    assert all(m.weight.stride(1) == 1 for m in reloaded.segformer.modules() if getattr(m, "groups", 1) > 1)


def test_eval_encoding_frame_by_frame_on_cpu_equals_the_batch():
    """In eval mode the CPU kernels' `encode_frames` encodes a batch one frame at a time: same features, fused maps
    and encoder outputs (hidden states, attentions) as the plain kernels' batched encoder and per-frame head."""
    from mrcfa.models.mrcfa.kernels_mrcfa import PLAIN_KERNELS

    model = make_model().eval()
    model.set_attn_implementation("eager")  # SDPA returns no attention weights
    frames = clip(batch=1, frames=4)[0]
    assert type(model.kernels_for(frames)).__name__ == "MrcfaCpuKernels"  # "auto", eager, CPU
    with torch.no_grad():
        features, fused, outputs = model.encode_frames(frames, output_attentions=True)
        batched = model.segformer(frames, output_hidden_states=True, output_attentions=True)
        expected_features, expected_fused = model.decode_head.frame_features(
            tuple(batched.hidden_states), kernels=PLAIN_KERNELS
        )
        plain_fused = model.encode_frames(frames, kernels=PLAIN_KERNELS)[1]  # the plain kernels: the batch at once
    assert torch.equal(plain_fused, expected_fused)
    torch.testing.assert_close(fused, expected_fused, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outputs.last_hidden_state, batched.last_hidden_state, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # what was not asked for is neither joined nor returned (the forward and streaming)
        lean, no_fused, no_outputs = model.encode_frames(frames, return_fused_map=False, return_encoder_outputs=False)
    assert no_fused is None and no_outputs is None
    torch.testing.assert_close(lean.logits, features.logits)
    assert len(outputs.hidden_states) == 4 and len(outputs.attentions) == sum(model.config.depths)
    for actual, expected in zip(
        outputs.hidden_states + outputs.attentions, batched.hidden_states + batched.attentions
    ):
        assert actual.shape == expected.shape
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)
    for field in ("logits", "fused_eighth", "value_tokens", "target_tokens", "reference_tokens"):
        actual, expected = getattr(features, field), getattr(expected_features, field)
        for a, e in zip(*(((actual,), (expected,)) if isinstance(actual, torch.Tensor) else (actual, expected))):
            assert a.shape[0] == 4
            torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_cpu_and_plain_kernels_give_the_same_model(threads):
    """The whole model under `kernel_implementation="cpu"` and `"plain"`: same clip and single-frame outputs in eval
    mode, same loss and gradients in training (float rounding only)."""
    x, y = clip(batch=2), labels_for(batch=2)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = {}
        for implementation in ("plain", "cpu"):
            model = make_model(drop_path_rate=0.0, kernel_implementation=implementation).eval()
            with torch.no_grad():
                out, single = model(x, output_affinities=True), model(x[:, -1])
            model.train()
            torch.manual_seed(0)  # dropout
            loss = model(x, labels=y).loss
            loss.backward()
            grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
            results[implementation] = out, single, loss, grads
    finally:
        torch.set_num_threads(previous)
    (out, single, loss, grads), (cpu_out, cpu_single, cpu_loss, cpu_grads) = results["plain"], results["cpu"]
    for name in ("logits", "frame_logits", "reference_logits", "affinity"):
        torch.testing.assert_close(getattr(cpu_out, name), getattr(out, name), atol=1e-5, rtol=1e-5, msg=name)
    assert torch.equal(cpu_out.stm_mask, out.stm_mask)
    torch.testing.assert_close(cpu_single.logits, single.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cpu_loss, loss, atol=1e-6, rtol=1e-6)
    assert cpu_grads.keys() == grads.keys() and len(grads) > 50
    for name, grad in grads.items():
        torch.testing.assert_close(cpu_grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)
