"""Memory of streaming a dataset folder (squeeze_core.manifest) against its size: 1,000 and 10,000 rows.

Each dataset is the miniature's cases written by ``export-dataset`` (64 x 64 PNGs, one or two references). Each
round streams one dataset through ``ManifestDataset`` and a two-worker ``DataLoader`` in a fresh process and
records how far its resident memory rose above where it stood before the first row (sampled every 100 rows, the
workers' included), in turns (small, large, small, large ...). Printed: each round, and the median growth of each
size with its spread, and their ratio; memory that does not grow with the dataset gives a ratio near 1.

    "$(bash scripts/venv.sh)/bin/python" scripts/benchmark_dataset.py [--rounds 3 --sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def stream(folder: str) -> dict:
    """In this process: stream every row; the peak rise of resident memory (this process and its workers)."""
    import torch

    from squeeze_core.manifest import ManifestDataset

    loader = torch.utils.data.DataLoader(ManifestDataset(folder), batch_size=None, num_workers=2,
                                         persistent_workers=False)
    iterator = iter(loader)
    first = next(iterator)
    workers = [worker.pid for worker in getattr(iterator, "_workers", [])]

    def total() -> int:
        return resident_bytes(os.getpid()) + sum(resident_bytes(pid) for pid in workers)

    start, peak, rows = total(), 0, 1
    for rows, sample in enumerate(iterator, start=2):
        if rows % 100 == 0:
            peak = max(peak, total() - start)
    del first, sample
    return {"rows": rows, "growth_mb": max(peak, 0) / 2**20, "start_mb": start / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs=2, default=(1000, 10000))
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.stream:
        print(json.dumps(stream(options.stream)))
        return
    with tempfile.TemporaryDirectory(prefix="squeeze-dataset-") as base:
        folders = {}
        for size in options.sizes:
            folders[size] = os.path.join(base, str(size))
            subprocess.run([sys.executable, "-m", "squeeze_core", "export-dataset", "--out", folders[size],
                            "--cases", str(size)], cwd=ROOT, check=True, capture_output=True)
        growth = {size: [] for size in options.sizes}
        for round_index in range(options.rounds):
            for size in options.sizes:
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--stream", folders[size]],
                                     cwd=ROOT, check=True, capture_output=True, text=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                growth[size].append(result["growth_mb"])
                print(f"round {round_index + 1}, {result['rows']} rows: resident memory rose {result['growth_mb']:.1f} "
                      f"MB above {result['start_mb']:.0f} MB")
        small, large = options.sizes
        for size in options.sizes:
            print(f"{size} rows: median rise {statistics.median(growth[size]):.1f} MB "
                  f"(range {min(growth[size]):.1f}-{max(growth[size]):.1f})")
        ratios = [b / a if a > 0 else float("inf") for a, b in zip(growth[small], growth[large])]
        print(f"{large} against {small} rows, per round: " + ", ".join(f"{r:.2f}" for r in ratios)
              + f"; median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
