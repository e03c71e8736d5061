"""Start-up cost of tagging with and without Lightning: wall time of fresh interpreters importing
what ``audiocnn tag`` imports, and the same plus Lightning. Prints a markdown table.

    nice python benchmarks/import_time.py --runs 5

Each case runs ``--runs`` times in a fresh ``python -c`` (median reported), after one warm-up
run so that the files are in the page cache. ``python -X importtime`` breaks a case down by module.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CASES = {
    "torch alone": "import torch",
    "`audiocnn tag` start-up: the CLI's parser and the tagging modules": (
        "from audiocnn.cli import build_parser; build_parser(); "
        "import audiocnn.inference.tagger, audiocnn.inference.loading, audiocnn.inference.runtime"
    ),
    "the same + `import lightning`": (
        "from audiocnn.cli import build_parser; build_parser(); "
        "import audiocnn.inference.tagger, audiocnn.inference.loading, audiocnn.inference.runtime; import lightning"
    ),
}


def _seconds(code: str) -> float:
    timed = f"import time\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", timed], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print("| what | import time, median s | min s |")
    print("|---|---:|---:|")
    for name, code in CASES.items():
        _seconds(code)  # warm-up
        times = [_seconds(code) for _ in range(args.runs)]
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} |")


if __name__ == "__main__":
    main()
