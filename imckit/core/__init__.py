"""The core every chapter shares: data, models, the engine (evaluation and training), the cached baseline, caches, provenance, run profiles.

Modules:

- :mod:`imckit.core.profiles`: Run profiles: the three sizes at which every chapter can run.
- :mod:`imckit.core.provenance`: What every result carries: library versions, the machine, and the parameters it ran with.
- :mod:`imckit.core.compute`: Where tensors are computed: ``device="cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"``.
- :mod:`imckit.core.cache`: Content-addressed on-disk caches, written atomically and validated when read.
- :mod:`imckit.core.data`: Real image datasets as in-memory tensors.
- :mod:`imckit.core.models`: ResNet-8 as in MLPerf Tiny (image classification) and the list of its crossbar-mappable layers.
- :mod:`imckit.core.training`: Training, evaluation and the shared, cached baseline every chapter starts from.
"""

from imckit.core.profiles import (  # noqa: F401
    PROFILES,
    check_profile,
)
from imckit.core.provenance import (  # noqa: F401
    PACKAGES,
    versions,
    machine,
)
from imckit.core.compute import (  # noqa: F401
    DEVICES,
    resolve_device,
)
from imckit.core.cache import (  # noqa: F401
    FORMAT,
    cache_dir,
    cache_key,
    model_data_digest,
    save_entry,
    load_entry,
    code_version,
    check_writable,
    cached,
)
from imckit.core.data import (  # noqa: F401
    DATASETS,
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_FILES,
    FASHION_MNIST_CLASSES,
    DatasetNotFoundError,
    data_home,
    ImageTensors,
    Dataset,
    load_dataset,
)
from imckit.core.models import (  # noqa: F401
    ResNet8,
    resnet8,
    build_model,
    MODELS,
    MappableLayer,
    mappable_layers,
    layer_table,
    Node,
    layer_graph,
)
from imckit.core.training import (  # noqa: F401
    EVAL_BATCH_SIZE,
    TrainConfig,
    Metrics,
    History,
    evaluate,
    train,
    BaselineSpec,
    baseline_spec,
    Trained,
    pretrained,
)
