"""What two training runs must agree on (imported by name by the kill/resume tests): metrics.json
less the wall times, the machine and the run folder's own name."""

import json
import re
from pathlib import Path

# what differs between any two runs: wall times ("seconds", "fit_seconds"...) and the machine
WALL_TIME = re.compile(r"^((wall|fit|extract|predict|score|train|load)_)?seconds$|^machine$")


def without_times(x):
    if isinstance(x, dict):
        return {k: without_times(v) for k, v in x.items() if not WALL_TIME.match(k)}
    if isinstance(x, list):
        return [without_times(v) for v in x]
    return x


def comparable(out: Path) -> dict:
    """metrics.json without wall times, machine and the run folder's own name."""
    return without_times(json.loads((Path(out) / "metrics.json").read_text().replace(str(out), "OUT")))
