"""Exact GGN diagonal: imckit.crossbars.ggn (vmap over samples of one vjp, one pull-back per class column) against the
naive loop (one backward pass per sample and class column, ``torch.autograd.grad`` with the graph retained).

Both compute ``diag(G) = (1/N) sum_n sum_c (J_n^T s_{n,c})^2`` for cross-entropy (``s_{n,c}`` the columns of
the symmetric factor of the loss Hessian w.r.t. the logits, as BackPACK's DiagGGNExact), for the weights of
every convolution and dense layer of the baseline ResNet-8 in eval mode, on the same images. Both are compared
with the naive loop run in float64: imckit's must agree with it to float32 rounding (the float32 naive loop,
whose single-image convolution gradients round differently, is shown beside it). The empirical Fisher diagonal
of the same images (one per-sample gradient, vmapped) is timed alongside for scale: the GGN needs one
pull-back per class where the Fisher needs one gradient.
Run: .venv/bin/python benchmarks/bench_ggn.py [--images 64] [--profile default]
"""

import argparse
import copy
import os
import time

import torch
from torch import nn

from _timing import report
from imckit.core.models import mappable_layers
from imckit.core.training import baseline_spec, pretrained
from imckit.crossbars.fisher import fisher_diagonal
from imckit.crossbars.ggn import ggn_diagonal, loss_hessian_factor


def naive_ggn(model: nn.Module, inputs: torch.Tensor, modules: list[str]) -> dict[str, torch.Tensor]:
    """The GGN diagonal sample by sample and class by class with plain autograd."""
    model.eval()
    params = [model.get_submodule(m).weight for m in modules]
    sums = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    for x in inputs:
        logits = model(x.unsqueeze(0)).squeeze(0)
        factor = loss_hessian_factor(logits.detach())
        for c in range(len(logits)):
            grads = torch.autograd.grad(logits, params, grad_outputs=factor[:, c], retain_graph=True)
            for s, g in zip(sums, grads):
                s += g.to(torch.float64).pow(2)
    return {m: (s / len(inputs)).to(torch.float32) for m, s in zip(modules, sums)}


def main(images: int = 64, profile: str = "default") -> list[dict]:
    baseline = pretrained(baseline_spec(profile), progress=False)
    model = baseline.model.eval()
    data = baseline.train_set.subset(min(images, len(baseline.train_set)), seed=0)
    modules = [m for layer in mappable_layers(model) for m in layer.modules]
    ggn_diagonal(model, data.images[:8], modules)  # warm-up (vmap's first call traces the batching rules)

    start = time.perf_counter()
    naive = naive_ggn(model, data.images, modules)
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = ggn_diagonal(model, data.images, modules)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    fisher_diagonal(model, data.images, data.labels, modules, batch_size=64)
    fisher_s = time.perf_counter() - start

    exact = naive_ggn(copy.deepcopy(model).double(), data.images.double(), modules)  # float64 reference

    def error(estimate):
        return max(float((estimate[m].double() - exact[m].double()).abs().max() / exact[m].abs().max())
                   for m in modules)

    n = len(data)
    rows = [
        {"path": "naive loop (autograd.grad per sample and class)", "images": n, "s": f"{naive_s:.2f}",
         "ms per image": f"{1000 * naive_s / n:.1f}"},
        {"path": "imckit.ggn_diagonal (vmap of vjp, batch 32)", "images": n, "s": f"{ours_s:.2f}",
         "ms per image": f"{1000 * ours_s / n:.1f}"},
        {"path": "imckit.fisher_diagonal (for scale)", "images": n, "s": f"{fisher_s:.2f}",
         "ms per image": f"{1000 * fisher_s / n:.1f}"},
    ]
    report("Exact GGN diagonal: imckit against a naive per-sample loop", rows,
           note=f"{n} training images, {len(modules)} weight tensors, {torch.get_num_threads()} threads ({profile} "
                f"baseline); largest error against the naive loop in float64, relative to the largest entry: imckit "
                f"{error(ours):.1e}, naive loop in float32 {error(naive):.1e}; speed-up over the naive loop "
                f"{naive_s / ours_s:.1f}x; GGN / Fisher time {ours_s / fisher_s:.1f}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--profile", default=os.environ.get("IMCKIT_BENCH_PROFILE", "default"))
    args = parser.parse_args()
    main(args.images, args.profile)
