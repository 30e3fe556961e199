"""The core every chapter shares: data, models, the traced layer graph, the engine (one evaluation), the one training loop, the cached baseline, caches that know their code, the compute device, provenance, run profiles.

Modules:

- :mod:`imckit.core.validate`: The kit's one validation layer: every public function and config checks its inputs with these.
- :mod:`imckit.core.profiles`: Run profiles: the three sizes at which every chapter can run.
- :mod:`imckit.core.provenance`: What every result carries: library versions, the machine, and the parameters it ran with.
- :mod:`imckit.core.compute`: Where tensors are computed: ``device="cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"``.
- :mod:`imckit.core.cache`: Content-addressed on-disk caches, written atomically and validated when read.
- :mod:`imckit.core.data`: Real image datasets as in-memory tensors.
- :mod:`imckit.core.models`: The networks of the kit (ResNet-8 as in MLPerf Tiny, a VGG-style and a MobileNet-style CNN) and the list of a network's crossbar-mappable layers.
- :mod:`imckit.core.graph`: A model's forward pass as a layer graph, derived by tracing, for fast repeated evaluation.
- :mod:`imckit.core.engine`: The evaluation engine: loss and accuracy of a network on images, for one or many replacement weight sets.
- :mod:`imckit.core.fit`: The one training loop of the kit: plain training, compensation and regularized QAT all run :func:`fit`.
- :mod:`imckit.core.training`: Training, evaluation and the shared, cached baseline every chapter starts from.
"""

from imckit.core.validate import (  # noqa: F401
    SEED_MAX,
    check_int,
    check_count,
    check_number,
    check_probability,
    check_seed,
    check_generator,
    check_bool,
    check_choice,
    check_finite,
    check_tensor,
    check_shape,
    check_writable_dir,
)
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
    cache_device,
    model_on_device,
)
from imckit.core.cache import (  # noqa: F401
    FORMAT,
    cache_dir,
    cache_key,
    digest,
    model_data_digest,
    save_entry,
    load_entry,
    code_version,
    check_writable,
    CacheNotWritableError,
    torch_version,
    cache_entry,
    cached,
)
from imckit.core.data import (  # noqa: F401
    DATASETS,
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_FILES,
    FASHION_MNIST_CLASSES,
    DatasetNotFoundError,
    DatasetCorruptError,
    data_home,
    ImageTensors,
    LABEL_DTYPES,
    check_image_tensors,
    Dataset,
    load_dataset,
)
from imckit.core.models import (  # noqa: F401
    ResNet8,
    resnet8,
    resnet8_paper,
    RESNET8_WIDTHS,
    PAPER_RESNET8_WIDTHS,
    VGGSmall,
    vgg_small,
    MobileNetSmall,
    mobilenet_small,
    build_model,
    MODELS,
    MappableLayer,
    mappable_layers,
    layer_table,
)
from imckit.core.graph import (  # noqa: F401
    GraphUnavailable,
    Node,
    Site,
    LayerGraph,
    layer_graph,
    fast_path_blocker,
    has_hooks,
    MAPPABLE_TYPES,
    RUNNABLE_WITH_PARAMETERS,
)
from imckit.core.engine import (  # noqa: F401
    PATHS,
    DEFAULT_BATCH_SIZE,
    Evaluation,
    Engine,
    evaluate,
)
from imckit.core.fit import (  # noqa: F401
    StepInfo,
    EpochRecord,
    fit,
    cross_entropy_step,
    batch_sum,
    cosine_decay,
    random_crop_flip,
    SCHEDULES,
)
from imckit.core.training import (  # noqa: F401
    EVAL_BATCH_SIZE,
    AUGMENTATIONS,
    PAPER_EPOCHS,
    TrainConfig,
    Metrics,
    History,
    train,
    BaselineSpec,
    baseline_spec,
    Trained,
    pretrained,
)
