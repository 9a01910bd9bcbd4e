"""The pixel loss computed one image at a time (`loss_mrcfa`) equals the plain resize + cross-entropy, value and
gradient, in the loss alone and through the whole model."""

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config

from mrcfa import MrcfaForVideoSemanticSegmentation
from mrcfa.models.mrcfa import loss_mrcfa
from mrcfa.models.mrcfa.kernels_mrcfa import kernels_for
from mrcfa.models.mrcfa.loss_mrcfa import mean_cross_entropy, upsampled_cross_entropy


def plain_cross_entropy(logits, labels, ignore_index=255, kernels=None):
    """The composition the official code computes: resize to the labels' size, then the mean over every pixel (the
    same for any kernel implementation: `kernels` is ignored)."""
    logits = logits.float()
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="none").mean()


def logits_and_labels(n=3, classes=6, size=(10, 12), full=(40, 48), seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, classes, *size, generator=gen)
    labels = torch.randint(0, classes, (n, *full), generator=gen)
    labels[torch.rand(labels.shape, generator=gen) < 0.2] = 255
    labels[0, :7] = 255
    labels[-1] = 255  # an image without a valid pixel
    return logits, labels


@pytest.mark.parametrize("full", [(40, 48), (10, 12), (33, 50)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("implementation", ["plain", "cpu"])
def test_value_and_gradient_equal_the_plain_composition(full, dtype, implementation):
    """The per-image loss with the plain kernels (NCHW) and the CPU kernels (channels-last, classes last)."""
    logits, labels = logits_and_labels(full=full)
    logits = logits.to(dtype).requires_grad_()
    expected = plain_cross_entropy(logits, labels)
    (expected_grad,) = torch.autograd.grad(1.7 * expected, logits)
    loss = mean_cross_entropy(logits, labels, 255, kernels_for(implementation, logits))
    assert loss.dtype == torch.float32 and loss.shape == ()
    (grad,) = torch.autograd.grad(1.7 * loss, logits)
    assert grad.dtype == dtype
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=1e-6)
    tol = 1e-8 if dtype == torch.float32 else 1e-3
    torch.testing.assert_close(grad, expected_grad, atol=tol, rtol=1e-5 if dtype == torch.float32 else 1e-2)
    assert grad[-1].abs().max() == 0  # no valid pixel: no gradient
    assert grad.abs().max() > 1e-4


def test_without_gradient_only_the_value_is_computed():
    logits, labels = logits_and_labels()
    with torch.no_grad():
        loss = upsampled_cross_entropy(logits.requires_grad_(), labels, 255)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, plain_cross_entropy(logits.detach(), labels))
    loss = upsampled_cross_entropy(logits.detach(), labels, 255)  # a tensor that needs no gradient
    assert not loss.requires_grad
    torch.testing.assert_close(loss, plain_cross_entropy(logits.detach(), labels))


def test_double_backward_is_refused():
    logits, labels = logits_and_labels()
    logits.requires_grad_()
    (grad,) = torch.autograd.grad(upsampled_cross_entropy(logits, labels, 255), logits, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


def test_model_gradients_equal_those_of_the_plain_composition(monkeypatch):
    """Every parameter's gradient of the MRCFA loss (both terms, a full clip) is the one the plain resize +
    cross-entropy gives."""
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).train()
    gen = torch.Generator().manual_seed(1)
    pixel_values = torch.randn(2, 4, 3, 64, 96, generator=gen)
    labels = torch.randint(0, model.config.num_labels, (2, 4, 64, 96), generator=gen)
    labels[torch.rand(labels.shape, generator=gen) < 0.1] = 255

    def gradients():
        torch.manual_seed(3)  # dropout / drop path
        model.zero_grad(set_to_none=True)
        loss = model(pixel_values=pixel_values, labels=labels).loss
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    calls = []

    def counted(*args):
        calls.append(args[0].shape)
        return upsampled_cross_entropy(*args)

    monkeypatch.setattr(loss_mrcfa, "upsampled_cross_entropy", counted)
    loss, grads = gradients()
    assert len(calls) == 2  # the frame term and the ensemble term went through the per-image loss
    monkeypatch.setattr(loss_mrcfa, "upsampled_cross_entropy", plain_cross_entropy)
    expected_loss, expected_grads = gradients()
    torch.testing.assert_close(loss, expected_loss, atol=1e-6, rtol=1e-6)
    assert grads.keys() == expected_grads.keys() and len(grads) > 50
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-7, rtol=1e-4, msg=name)
