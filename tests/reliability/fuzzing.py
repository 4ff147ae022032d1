"""How much and how randomly the fuzz tests explore.

In CI (the default) every run tries the same examples (Hypothesis ``derandomize``): a red build
then means the code changed, not that the dice did. ``make fuzz`` explores instead: fresh random
examples, many more of them (``OUTAGECAST_FUZZ_RANDOM=1``, ``OUTAGECAST_FUZZ_EXAMPLES=N``).
Whatever it finds becomes a fixed regression test.
"""

from __future__ import annotations

import os
from typing import Final

EXPLORE: Final = os.environ.get("OUTAGECAST_FUZZ_RANDOM") == "1"


def examples(default: int) -> int:
    """Examples per test: ``default`` in CI, ``OUTAGECAST_FUZZ_EXAMPLES`` when exploring."""
    return int(os.environ.get("OUTAGECAST_FUZZ_EXAMPLES", default)) if EXPLORE else default
