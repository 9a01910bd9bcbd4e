"""transformers' own common model and config test suites (`ModelTesterMixin`, `ConfigTester`) run on MRCFA.

The suites come from the source distribution of the installed transformers version (see `transformers_test_suite.py`);
without network access or pip the module is skipped. The model is tested in both of its input modes, with one shared
tester: single frames `[batch, 3, H, W]` (`MrcfaSingleFrameModelTest`) and full clips `[batch, num_clips, 3, H, W]`
(`MrcfaClipModelTest`). Tests of the mixin that do not apply to this kind of model are skipped with the reason next to
the skip; the generic attention / hidden-state shape checks, which assume token sequences, are replaced by MRCFA's
(encoder maps and attentions of every frame), as SegFormer's own test file does.

Some mixin tests pass without exercising MRCFA (no coverage): those gated on transformers' own static model-name
mappings, which never list a third-party model (`test_model_forward_default_config_values`, `test_problem_types`,
`test_inputs_embeds_matches_input_ids`, `test_load_with_mismatched_shapes`, `test_can_load_ignoring_mismatched_shapes`),
`test_torch_save_load` (MRCFA is its own AutoModel class), the `get_{image,video,text,audio}_features` and multimodal
tests (no such methods), and the tied-weight / `_keys_to_ignore_on_save` checks (MRCFA has neither).
"""

from __future__ import annotations

import copy
import inspect
import unittest

import pytest
import torch
from transformers_test_suite import SuiteUnavailable, load_transformers_test_suite

try:
    _SUITE = load_transformers_test_suite()
except SuiteUnavailable as err:  # no network / pip / incompatible suite: not a failure of this project
    pytest.skip(f"transformers' common test suite is unavailable: {err}", allow_module_level=True)

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation  # noqa: E402

ModelTesterMixin = _SUITE.modeling_common.ModelTesterMixin
floats_tensor = _SUITE.modeling_common.floats_tensor
ids_tensor = _SUITE.modeling_common.ids_tensor
ConfigTester = _SUITE.configuration_common.ConfigTester

# ~40 s on one idle thread for both input modes (plus ~10 s for the first download of the suite): not marked slow


class MrcfaModelTester:
    """Tiny MRCFA configs and inputs for the common tests; `num_frames=None` gives single frames `[B, 3, H, W]`."""

    def __init__(
        self,
        parent,
        num_frames=None,
        batch_size=2,
        image_height=64,
        image_width=96,
        num_channels=3,
        hidden_sizes=(8, 16, 32, 32),
        depths=(1, 1, 1, 1),
        num_attention_heads=(1, 1, 2, 2),
        sr_ratios=(8, 4, 2, 1),
        decoder_hidden_size=16,
        num_clips=4,
        num_labels=3,
        is_training=True,
        use_labels=True,
    ):
        self.parent = parent
        self.num_frames = num_frames
        self.batch_size = batch_size
        self.image_height = image_height
        self.image_width = image_width
        self.num_channels = num_channels
        self.hidden_sizes = list(hidden_sizes)
        self.depths = list(depths)
        self.num_attention_heads = list(num_attention_heads)
        self.sr_ratios = list(sr_ratios)
        self.num_encoder_blocks = len(hidden_sizes)
        self.decoder_hidden_size = decoder_hidden_size
        self.num_clips = num_clips
        self.num_labels = num_labels
        self.is_training = is_training
        self.use_labels = use_labels

    @property
    def frames(self) -> int:
        return self.num_frames or 1

    def get_config(self) -> MrcfaConfig:
        return MrcfaConfig(
            num_channels=self.num_channels,
            hidden_sizes=self.hidden_sizes,
            depths=self.depths,
            num_attention_heads=self.num_attention_heads,
            sr_ratios=self.sr_ratios,
            decoder_hidden_size=self.decoder_hidden_size,
            num_clips=self.num_clips,
            reference_offsets=list(range(-(self.num_clips - 1), 0)),
            num_labels=self.num_labels,
            refinement_layout="two_layer",
        )

    def prepare_config_and_inputs(self):
        frame_dims = [self.num_channels, self.image_height, self.image_width]
        label_dims = [self.image_height, self.image_width]
        if self.num_frames is not None:
            frame_dims = [self.num_frames, *frame_dims]
            label_dims = [self.num_frames, *label_dims]
        pixel_values = floats_tensor([self.batch_size, *frame_dims])
        labels = ids_tensor([self.batch_size, *label_dims], self.num_labels) if self.use_labels else None
        return self.get_config(), pixel_values, labels

    def prepare_config_and_inputs_for_common(self):
        config, pixel_values, _ = self.prepare_config_and_inputs()
        return config, {"pixel_values": pixel_values}

    def create_and_check_model(self, config, pixel_values, labels):
        model = MrcfaForVideoSemanticSegmentation(config).eval()
        grid = (self.image_height // 4, self.image_width // 4)
        with torch.no_grad():
            result = model(pixel_values)
            with_loss = model(pixel_values, labels=labels)
        self.parent.assertEqual(tuple(result.logits.shape), (self.batch_size, self.num_labels, *grid))
        self.parent.assertEqual(
            tuple(result.frame_logits.shape), (self.batch_size, self.frames, self.num_labels, *grid)
        )
        if self.num_frames is None:
            self.parent.assertIsNone(result.reference_logits)
        else:
            self.parent.assertEqual(
                tuple(result.reference_logits.shape), (self.batch_size, self.frames - 1, self.num_labels, *grid)
            )
        torch.testing.assert_close(with_loss.logits, result.logits)
        self.parent.assertGreater(with_loss.loss.item(), 0.0)


class MrcfaConfigTester(ConfigTester):
    """MRCFA configs have SegFormer's encoder fields, not the text-model ones (`hidden_size`, `num_hidden_layers`)."""

    def create_and_test_config_common_properties(self):
        config = self.config_class(**self.inputs_dict)
        for name in ("hidden_sizes", "num_attention_heads", "num_encoder_blocks", "num_clips", "decoder_hidden_size"):
            self.parent.assertTrue(hasattr(config, name), msg=f"`{name}` does not exist")


class MrcfaCommonTests(ModelTesterMixin):
    """The common tests, shared by the single-frame and the clip test cases (which set `num_frames`)."""

    num_frames = None
    all_model_classes = (MrcfaForVideoSemanticSegmentation,)
    # no token embeddings to resize (pixel inputs), as for SegFormer
    test_resize_embeddings = False
    # the encoder returns attention weights (SegFormer's efficient self-attention)
    has_attentions = True

    def setUp(self):
        self.model_tester = MrcfaModelTester(self, num_frames=self.num_frames)

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        # The mixin builds semantic-segmentation labels from a `[B, C, H, W]` input; a clip needs `[B, T, H, W]`.
        pixel_values = inputs_dict["pixel_values"]
        if return_labels and pixel_values.ndim == 5:
            inputs_dict = copy.deepcopy(inputs_dict)
            batch, frames, _, height, width = pixel_values.shape
            inputs_dict["labels"] = torch.zeros(batch, frames, height, width, dtype=torch.long)
            return inputs_dict
        return super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)

    # ------------------------------------------------------------------------------------------ MRCFA-specific
    def test_model(self):
        self.model_tester.create_and_check_model(*self.model_tester.prepare_config_and_inputs())

    def test_forward_signature(self):
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            arg_names = list(inspect.signature(model_class(config).forward).parameters)
            self.assertListEqual(arg_names[:2], ["pixel_values", "labels"])

    def test_hidden_states_output(self):
        # The generic test expects token sequences `[B, seq, hidden_size]`; MRCFA returns the 4 encoder stage maps
        # `[B * frames, hidden_sizes[i], H / 2^(i+2), W / 2^(i+2)]` (as SegFormer, frames flattened into the batch).
        tester = self.model_tester

        def check(inputs_dict, config):
            model = MrcfaForVideoSemanticSegmentation(copy.deepcopy(config)).eval()
            with torch.no_grad():
                hidden_states = model(**self._prepare_for_class(inputs_dict, MrcfaForVideoSemanticSegmentation))
            hidden_states = hidden_states.hidden_states
            self.assertEqual(len(hidden_states), tester.num_encoder_blocks)
            for i, state in enumerate(hidden_states):
                stride = 2 ** (i + 2)
                self.assertEqual(
                    tuple(state.shape),
                    (
                        tester.batch_size * tester.frames,
                        tester.hidden_sizes[i],
                        tester.image_height // stride,
                        tester.image_width // stride,
                    ),
                )

        config, inputs_dict = tester.prepare_config_and_inputs_for_common()
        inputs_dict["output_hidden_states"] = True
        check(inputs_dict, config)
        del inputs_dict["output_hidden_states"]
        config.output_hidden_states = True
        check(inputs_dict, config)

    def test_attention_outputs(self):
        # The generic test expects `[B, heads, seq, seq]` attentions of `num_hidden_layers` layers; MRCFA returns one
        # per encoder block (`sum(depths)`), `[B * frames, heads, N_i, N_i / sr_ratio_i^2]` (SegFormer's reduction).
        tester = self.model_tester

        def expected_shape(block: int) -> tuple[int, ...]:
            stage = next(i for i in range(len(tester.depths)) if block < sum(tester.depths[: i + 1]))
            stride = 2 ** (stage + 2)
            height, width = tester.image_height // stride, tester.image_width // stride
            ratio = tester.sr_ratios[stage]
            return (
                tester.batch_size * tester.frames,
                tester.num_attention_heads[stage],
                height * width,
                (height // ratio) * (width // ratio),
            )

        def run(inputs_dict, config):
            # attention weights need the eager attention (as in the generic test): SDPA does not return them
            model = MrcfaForVideoSemanticSegmentation._from_config(config, attn_implementation="eager").eval()
            with torch.no_grad():
                return model(**self._prepare_for_class(inputs_dict, MrcfaForVideoSemanticSegmentation))

        config, inputs_dict = tester.prepare_config_and_inputs_for_common()
        config.return_dict = True
        inputs_dict["output_attentions"] = True
        inputs_dict["output_hidden_states"] = False
        outputs = run(inputs_dict, config)
        self.assertIsNone(outputs.hidden_states)
        self.assertEqual(len(outputs.attentions), sum(tester.depths))
        for block, attention in enumerate(outputs.attentions):
            self.assertEqual(tuple(attention.shape), expected_shape(block))
        out_len = len(outputs)

        # through the config
        del inputs_dict["output_attentions"]
        config.output_attentions = True
        outputs = run(inputs_dict, config)
        self.assertEqual(len(outputs.attentions), sum(tester.depths))

        # attentions come last, after the hidden states
        inputs_dict["output_attentions"] = True
        inputs_dict["output_hidden_states"] = True
        outputs = run(inputs_dict, config)
        self.assertEqual(len(outputs), out_len + 1)
        self.assertEqual(len(outputs[-1]), sum(tester.depths))
        self.assertEqual(tuple(outputs[-1][0].shape), expected_shape(0))

    # ---------------------------------------------------------------------------------------- not applicable
    @unittest.skip(
        reason="MRCFA takes pixel values: it has no token embeddings (get/set_input_embeddings), as SegFormer"
    )
    def test_model_get_set_embeddings(self):
        pass


class MrcfaConfigTest(unittest.TestCase):
    """transformers' `ConfigTester` on `MrcfaConfig` (JSON / save-load round trips, num_labels, init without params)."""

    def setUp(self):
        self.model_tester = MrcfaModelTester(self)
        self.config_tester = MrcfaConfigTester(
            self,
            config_class=MrcfaConfig,
            has_text_modality=False,
            hidden_sizes=[8, 16, 32, 32],
            depths=[1, 1, 1, 1],
            num_attention_heads=[1, 1, 2, 2],
            decoder_hidden_size=16,
            num_clips=3,
            reference_offsets=[-4, -2],
            stm_keep_ratio=0.75,
            refinement_layout="single_layer",
        )

    def test_config(self):
        self.config_tester.run_common_tests()


class MrcfaSingleFrameModelTest(MrcfaCommonTests, unittest.TestCase):
    """Single frames `[batch, 3, H, W]`: the per-frame SegFormer path."""

    num_frames = None
    # A single frame runs the encoder and the per-frame decoder only: the temporal head (affinities, STM, refinement,
    # ensemble decoders) gets no gradient by design; the clip test case checks that every parameter gets one.
    test_all_params_have_gradient = False


class MrcfaClipModelTest(MrcfaCommonTests, unittest.TestCase):
    """Full clips `[batch, num_clips, 3, H, W]`: the temporal MRCFA head."""

    num_frames = 4
