"""Layer sensitivity (seed 000, Table I), Pareto search over per-layer configurations (exact front, genetic search, NSGA-II), and whole-network simulation of the chosen configurations.

Modules:

- :mod:`imckit.search.agent`: An HAQ-style reinforcement-learning search (stable-baselines3 DDPG on a gymnasium environment) for the best accuracy change under a cost budget, with first/last layers fixed (seed 004), and its random-search baseline.
- :mod:`imckit.search.genetic`: Search over per-layer configurations (both objectives are sums over layers of a table): the exact Pareto front, the paper's self-adaptive genetic search, NSGA-II, hypervolume, regions.
- :mod:`imckit.search.objectives`: Two or three objectives at once, additive tables or network-level functions (memory, loss, crossbar latency/energy/area): the exact front by dynamic programming, NSGA-II/NSGA-III (pymoo) with the front per generation, hypervolume for 2-3 objectives.
- :mod:`imckit.search.sensitivity`: Layer-wise sensitivity to quantization x MLC/SLC configurations (seed paper 000, Sec. III, Table I).
- :mod:`imckit.search.simulate`: Whole-network simulation of per-layer configurations (seed paper 000, Sec. V).
"""

from imckit.search.genetic import (  # noqa: F401
    check_tables,
    exact_pareto_front,
    pareto_mask,
    reference_point,
    hypervolume,
    GeneticSearchConfig,
    GeneticSearchResult,
    genetic_search,
    nsga2_search,
    front_regions,
    evaluations_to_reach,
)
from imckit.search.sensitivity import (  # noqa: F401
    SensitivityTable,
    sensitivity_table,
    PAPER_Q8_MLC0_REDUCTION,
)
from imckit.search.simulate import (  # noqa: F401
    GenomeSimulation,
    check_genomes,
    genome_configs,
    genome_devices,
    simulate_genomes,
    rank_agreement,
    PAPER_TABLE2_KILO_DEVICES,
    paper_memory_targets,
    select_solutions,
)
from imckit.search.objectives import (  # noqa: F401
    Objective,
    Objectives,
    exact_front,
    nondominated,
    ParetoSearchResult,
    pymoo_search,
)
from imckit.search.agent import (  # noqa: F401
    BitWidthEnv,
    HAQResult,
    haq_search,
    random_search,
)
