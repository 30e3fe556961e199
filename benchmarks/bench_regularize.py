"""Overhead of the regularized loss per training step, against plain training and a loop over levels.

One SGD step of ResNet-8 (batch 128, channels-last, BatchNorm in train mode) on the default baseline:

* plain: cross-entropy only (what imckit.core.training.train does per step);
* regularized, as imckit.qat computes it: the loss of imckit.qat.quantizers over every quantized layer,
  vectorized over weights and levels (one (n, 2^bits) distance tensor per layer), for float weights
  (variant 1), the STE variant, fault-aware (validity mask) and variability-aware (levels per weight);
* naive: the same fault-free loss computed with a Python loop over the levels (running minimum), the
  straightforward way to write Eq. 6;
* with LSQ inputs: the float-weight variant with the quantized layers' inputs quantized by LSQ, as the
  chapter trains (W4/A4): LSQ as imckit.qat computes it (one autograd node) and as the same formula
  written in autograd's elementwise operations (what it replaced).

Run: .venv/bin/python benchmarks/bench_regularize.py [--bits 4] [--steps 20]
"""

import argparse
import copy
import os
import time

import torch
from torch import nn

from _timing import report
from imckit.qat.faults import stuck_at_faults, validity_mask
from imckit.qat.training import LSQActivation, attach_input_quantizers, quantized_modules
from imckit.qat.quantizers import LevelQuantizer, layer_alpha, regularization_loss, ste_quantize
from imckit.core.training import baseline_spec, pretrained
from imckit.qat.variability import lrs_multipliers, weight_levels


def naive_loss(weight, levels, alpha):
    best = None
    for level in levels:  # one pass per level, running minimum
        d = (weight.flatten() - level).pow(2)
        best = d if best is None else torch.minimum(best, d)
    return alpha * best.sum()


class AutogradLSQ(LSQActivation):
    """LSQ's formula in autograd's elementwise operations (the same values and gradients)."""

    def forward(self, x):
        q_n, q_p = (2 ** (self.bits - 1), 2 ** (self.bits - 1) - 1) if bool(self.signed) else (0, 2**self.bits - 1)
        g = 1.0 / (x[0].numel() * q_p) ** 0.5
        s = self.step * g + (self.step - self.step * g).detach()
        v = torch.clamp(x / s, -q_n, q_p)
        return torch.round(v).detach() * s + (v - v.detach()) * s


def main(bits: int = 4, steps: int = 20, profile: str = "default") -> list[dict]:
    baseline = pretrained(baseline_spec(profile), progress=False)
    data = baseline.train_set.subset(min(128 * steps, len(baseline.train_set)), seed=0)
    modules = quantized_modules(baseline.model)
    g = torch.Generator().manual_seed(0)

    def run(mode: str) -> float:
        model = copy.deepcopy(baseline.model).train().to(memory_format=torch.channels_last)
        if mode.startswith("lsq"):
            attach_input_quantizers(model, modules, bits)
            with torch.no_grad():  # initialize every input quantizer on the first batch
                model(data.images[:128].contiguous(memory_format=torch.channels_last))
            if mode == "lsq-autograd":
                for m in modules:
                    module = model.get_submodule(m)
                    replacement = AutogradLSQ(bits)
                    replacement.load_state_dict(module.input_quantizer.state_dict())
                    module.input_quantizer = replacement
        quantizers = {m: LevelQuantizer(bits, "multipliers", model.get_submodule(m).weight) for m in modules}
        alphas = {m: layer_alpha(model.get_submodule(m).weight.numel(), bits) for m in modules}
        valid = {m: validity_mask(stuck_at_faults(model.get_submodule(m).weight.numel(), bits, 0.1, g)) for m in modules}
        chip = {m: lrs_multipliers(model.get_submodule(m).weight.numel(), bits, 0.2, g) for m in modules}
        params = list(model.parameters()) + [p for q in quantizers.values() for p in q.parameters()]
        optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
        started = None
        for k, begin in enumerate(range(0, len(data), 128)):
            if k == 2:
                started = time.perf_counter()  # two warm-up steps
            x = data.images[begin : begin + 128].contiguous(memory_format=torch.channels_last)
            y = data.labels[begin : begin + 128]
            replaced, reg = {}, torch.zeros(())
            for m in modules if mode != "plain" else ():
                w, q = model.get_submodule(m).weight, quantizers[m]
                levels = weight_levels(q.multipliers(), q.offset, chip[m]) if mode == "variability" else q.levels()
                if mode == "naive":
                    reg = reg + naive_loss(w, levels, alphas[m])
                else:
                    reg = reg + regularization_loss(w, levels, alphas[m], valid[m] if mode == "faults" else None)
                if mode == "ste":
                    replaced[f"{m}.weight"] = ste_quantize(w, levels)
            logits = torch.func.functional_call(model, replaced, (x,)) if replaced else model(x)
            loss = nn.functional.cross_entropy(logits, y) + 100.0 * reg
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - started) / (k - 1)

    plain = run("plain")
    naive = run("naive")
    rows = [{"step": "plain (cross-entropy only)", "ms/step": f"{1000 * plain:.0f}", "vs plain": "1.00x", "vs naive": "-"}]
    for mode, label in (("float", "regularized, float weights (variant 1)"), ("ste", "regularized + STE (variant 2)"),
                        ("faults", "fault-aware (validity mask)"), ("variability", "variability-aware (levels per weight)")):
        t = run(mode)
        rows.append({"step": label, "ms/step": f"{1000 * t:.0f}", "vs plain": f"{t / plain:.2f}x",
                     "vs naive": f"{naive / t:.2f}x faster" if mode == "float" else "-"})
    rows.append({"step": "naive: Python loop over the levels", "ms/step": f"{1000 * naive:.0f}",
                 "vs plain": f"{naive / plain:.2f}x", "vs naive": "1.00x"})
    fused, unfused = run("lsq"), run("lsq-autograd")
    rows.append({"step": "regularized + LSQ inputs, one autograd node (imckit.qat)", "ms/step": f"{1000 * fused:.0f}",
                 "vs plain": f"{fused / plain:.2f}x", "vs naive": f"{unfused / fused:.2f}x faster than below"})
    rows.append({"step": "regularized + LSQ inputs, autograd's elementwise ops", "ms/step": f"{1000 * unfused:.0f}",
                 "vs plain": f"{unfused / plain:.2f}x", "vs naive": "-"})
    n = sum(baseline.model.get_submodule(m).weight.numel() for m in modules)
    report("Regularized loss: overhead per training step", rows,
           note=f"{torch.get_num_threads()} threads ({profile} baseline), {bits}-bit, {len(modules)} quantized "
                f"layers, {n:,} weights, {2**bits} levels, batch 128, {steps - 2} timed steps.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--profile", default=os.environ.get("IMCKIT_BENCH_PROFILE", "default"))
    args = parser.parse_args()
    main(args.bits, args.steps, args.profile)
