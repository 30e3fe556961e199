"""The exact generalized Gauss-Newton (GGN) diagonal of the cross-entropy loss, per weight and per strip.

For a network ``f(x; theta)`` with logits ``z = f(x)`` and the cross-entropy loss, the Hessian of the mean
loss over ``N`` samples splits into ``(1/N) sum_n J_n^T H_n J_n`` (the GGN) plus a term with the network's own
second derivatives. ``J_n = dz/dtheta`` is sample ``n``'s output Jacobian and ``H_n`` the Hessian of the loss
with respect to the logits, ``H_n = diag(p_n) - p_n p_n^T`` with ``p_n = softmax(z_n)``. It is positive
semi-definite and factors as ``H_n = S_n S_n^T`` with the columns ``s_{n,c} = sqrt(p_{n,c}) (e_c - p_n)``,
``c = 1..C`` (check: ``sum_c p_c (e_c - p)(e_c - p)^T = diag(p) - p p^T`` since ``sum_c p_c = 1``). So the
GGN diagonal is a sum of squares,

    diag(G) = (1/N) sum_n sum_c (J_n^T s_{n,c})^2,

one vector-Jacobian product per sample and class column. That is what BackPACK's ``DiagGGNExact``
extension computes (it backpropagates the same symmetric factor ``S_n``, the "square root" of the
cross-entropy's Hessian, through the network), and what :func:`ggn_diagonal` computes with ``torch.func``:
one forward pass per batch (``vjp`` inside ``vmap`` over the samples) and ``C`` pull-backs of it, one per
class column. The result is exact (no probes, no sampled labels) and deterministic: the only randomness is
which images are used, chosen by the caller (e.g. :meth:`imckit.core.data.ImageTensors.subset` with a seed).
It does not depend on the labels: ``H_n`` involves the predicted probabilities only.

Unlike the empirical Fisher diagonal (:func:`imckit.crossbars.fisher.fisher_diagonal`, the squared gradient
of the observed label's loss, one rank-one term per sample) the GGN keeps every class's curvature; unlike
Hutchinson's estimate (:func:`imckit.crossbars.hessian.hessian_trace`) it has no probe noise, but it leaves out
the network's second-derivative term (zero for a model linear in its weights, and small near a minimum where
the residuals ``p - y`` are small). Strip scores from it: :func:`imckit.crossbars.hessian.diagonal_strip_sensitivity`
(the return value is shaped like :func:`~imckit.crossbars.fisher.fisher_diagonal`'s, module -> tensor of the
weight's shape, so the two swap); split-half reliability: :func:`ggn_diagonal_halves` with
:func:`imckit.crossbars.hessian.score_reliability`.

Why written here rather than taken from BackPACK (``backpack-for-pytorch`` 1.7.1 is on PyPI and its
wheel downloads): it is not a dependency of the kit, and it pulls in two more (``einops``, ``unfoldNd``);
it computes through module hooks, so a residual network such as the kit's ResNet-8 (whose forward adds the
skip connection with ``+``) needs its ``torch.fx`` converter (``extend(model, use_converter=True)``); and it
gives the diagonal of every parameter of every extended module, where the kit wants the weights of chosen
layers on a chosen device, batched. The ``torch.func`` version is some 40 lines, needs nothing beyond
torch, runs any model ``functional_call`` can run (BatchNorm in eval mode included), and is checked in
``tests/crossbars/test_ggn.py`` against the GGN built from full Jacobians and against the exact Hessian
diagonal of a linear model (where GGN = Hessian).

The model is put in eval mode (BatchNorm with its running statistics), as for the Hessian and the Fisher.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from imckit.core.compute import model_on_device, resolve_device
from imckit.core.validate import check_bool, check_int, check_tensor
from imckit.crossbars.strips import check_model, check_modules

__all__ = ["ggn_diagonal", "ggn_diagonal_halves", "loss_hessian_factor"]


def loss_hessian_factor(logits: torch.Tensor) -> torch.Tensor:
    """The symmetric factor ``S`` of the cross-entropy's Hessian with respect to the logits,
    ``H = diag(p) - p p^T = S S^T`` with ``p = softmax(logits)``: ``S[..., :, c] = sqrt(p_c) (e_c - p)``.

    Args:
        logits: (..., C) logits of one or more samples.

    Returns:
        (..., C, C): column ``c`` of the last axis is ``s_c``.
    """
    check_tensor(logits, "logits", floating=True, nonempty=False)
    if logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError(f"logits must be a tensor whose last axis holds >= 2 classes; got "
                         f"{tuple(getattr(logits, 'shape', ())) or type(logits).__name__}")
    return _factor(logits)


def _factor(logits: torch.Tensor) -> torch.Tensor:
    """:func:`loss_hessian_factor` without its checks (inside ``vmap``, where a finiteness check, a
    data-dependent branch, cannot run; the inputs were checked before)."""
    p = torch.softmax(logits, dim=-1)
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    return (eye - p.unsqueeze(-1)) * p.sqrt().unsqueeze(-2)


def _check(model, inputs, modules, batch_size, name_of_inputs="inputs", progress=False):
    check_model(model)
    check_tensor(inputs, name_of_inputs, finite=False, nonempty=False)
    if inputs.ndim < 1 or len(inputs) == 0:
        raise ValueError(f"{name_of_inputs} must be a tensor of one or more samples (first axis); got "
                         f"{tuple(inputs.shape)}")
    check_tensor(inputs, name_of_inputs, floating=True)
    check_modules(model, modules)
    check_int(batch_size, "batch_size", 1, 100_000)
    check_bool(progress, "progress")


def ggn_diagonal(model: nn.Module, inputs: torch.Tensor, modules: list[str], *, batch_size: int = 32,
                 device: str | torch.device = "cpu", progress: bool = False) -> dict[str, torch.Tensor]:
    """The exact GGN diagonal of the mean cross-entropy over ``inputs`` for the weights of ``modules``.

    ``diag(G) = (1/N) sum_n sum_c (J_n^T s_{n,c})^2`` (module docstring): per batch of ``batch_size``
    samples one forward pass (``torch.func.vjp`` inside ``torch.func.vmap``) and one pull-back per class
    column of the factor of the loss Hessian (:func:`loss_hessian_factor`); sums in float64.

    Args:
        model: a classifier returning logits (B, C), C >= 2 (put in eval mode, never moved or changed).
        inputs: the samples (N, ...); labels are not needed (the GGN of the cross-entropy does not involve them).
        modules: names of the modules whose ``weight`` is scored, e.g. every convolution and dense layer.
        batch_size: samples per vmap call (memory grows with it: batch_size times the scored weights, twice).
        device: where it is computed (``"cpu"``, ``"cuda"``, ``"auto"``); a model elsewhere is copied there.
        progress: show a progress bar over the batches.

    Returns:
        module -> float32 tensor of the weight's shape, on the CPU: the mean over the samples.
    """
    _check(model, inputs, modules, batch_size, progress=progress)
    device = resolve_device(device)
    model.eval()
    work = model_on_device(model, device)
    work.eval()
    names = [f"{m}.weight" for m in modules]
    params = {n: work.get_parameter(n).detach() for n in names}
    others = {n: p.detach() for n, p in work.named_parameters() if n not in params}
    buffers = dict(work.named_buffers())
    with torch.no_grad():
        probe = work(inputs[:1].to(device))
    if probe.ndim != 2 or probe.shape[0] != 1 or probe.shape[1] < 2:
        raise ValueError(f"model must return logits of shape (batch, classes >= 2); got {tuple(probe.shape)} "
                         "for one sample")
    classes = probe.shape[1]

    def sample_ggn(p, x):
        def logits_of(q):
            return torch.func.functional_call(work, {**others, **q, **buffers}, (x.unsqueeze(0),)).squeeze(0)

        logits, pullback = torch.func.vjp(logits_of, p)
        factor = _factor(logits.detach())
        total = None
        for c in range(classes):
            (grad,) = pullback(factor[:, c])
            squares = {n: g.pow(2) for n, g in grad.items()}
            total = squares if total is None else {n: total[n] + squares[n] for n in total}
        return total

    per_sample = torch.func.vmap(sample_ggn, in_dims=(None, 0))
    sums = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
    starts = range(0, len(inputs), batch_size)
    for start in tqdm(starts, desc="GGN diagonal", unit="batch", disable=not progress):
        batch = inputs[start : start + batch_size].to(device)
        for n, g in per_sample(params, batch).items():
            sums[n] += g.detach().to(torch.float64).sum(0)
    return {n[: -len(".weight")]: (s / len(inputs)).to(torch.float32).cpu() for n, s in sums.items()}


def ggn_diagonal_halves(model: nn.Module, inputs: torch.Tensor, modules: list[str], *, batch_size: int = 32,
                        device: str | torch.device = "cpu", progress: bool = False):
    """The GGN diagonal of the first and of the second half of ``inputs`` (two independent estimates, for a
    split-half reliability, :func:`imckit.crossbars.hessian.score_reliability`) and of all of them (the
    halves' mean weighted by their sizes, equal to :func:`ggn_diagonal` of ``inputs`` up to rounding).
    Returns ``(first, second, whole)``, each module -> tensor of the weight's shape, as
    :func:`imckit.crossbars.fisher.fisher_diagonal_halves` does."""
    _check(model, inputs, modules, batch_size)
    if len(inputs) < 2:
        raise ValueError(f"inputs must hold at least 2 samples to be split in halves; got {len(inputs)}")
    half = len(inputs) // 2
    first, second = (ggn_diagonal(model, inputs[part], modules, batch_size=batch_size, device=device,
                                  progress=progress) for part in (slice(0, half), slice(half, None)))
    whole = {m: (half * first[m] + (len(inputs) - half) * second[m]) / len(inputs) for m in modules}
    return first, second, whole
