"""Run every benchmark in turn (never two at once: timings on 2 cores need the machine to themselves)."""

import bench_compensation
import bench_eval
import bench_hessian
import bench_injection
import bench_regularize
import bench_sensitivity
import bench_training

if __name__ == "__main__":
    for bench in (bench_eval, bench_training, bench_injection, bench_sensitivity, bench_compensation, bench_hessian,
                  bench_regularize):
        print(f"\n## {bench.__name__}\n")
        bench.main()
