"""The kit's setting in a chapter's run, in the keys of the papers' data files (:mod:`imckit.papers.claims`).

A verdict table shows, per claim, where the kit's setting differs from the paper's; the chapters describe
theirs with :func:`kit_setting` from the network they ran on, so the table says what actually ran.
"""

from __future__ import annotations

from imckit.core.training import Trained

NETWORKS = {"resnet8": "ResNet-8 (MLPerf Tiny widths)", "resnet8_paper": "ResNet-8"}  # resnet8_paper: the paper's size
DATASETS = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "imagefolder": "an ImageFolder dataset"}


def kit_setting(baseline: Trained, **fields: str) -> dict[str, str]:
    """``network`` and ``dataset`` of ``baseline`` (a :class:`~imckit.core.training.Trained`), plus ``fields``
    (``bits``, ``device``, ``training``, ``other``) as the chapter states them."""
    model = baseline.spec.model
    name = baseline.data.name
    return {"network": NETWORKS.get(model, model), "dataset": DATASETS.get(name, name), **{k: str(v) for k, v in fields.items()}}


FEFET_DEVICE = "the kit's FeFET MLC model calibrated to the paper's 4 % BER"
TRAINING = {"switchable": "QKeras-style quantization-aware (the kit's switchable network)",
            "float": "post-training quantization of the float network"}  # by the chapters' `network` parameter
