"""How long the fuzz runs.

By default (CI): ``CI_EXAMPLES`` examples per route and per form, drawn
deterministically (``derandomize``): every run sends the same requests, a
failure reproduces exactly, nothing is written to a Hypothesis database, and
a failing example is reported as found, without minutes of shrinking.

``IDP_FUZZ_EXAMPLES=N`` runs N examples per route and per form instead, with
fresh random draws each run (a failure prints its seed and a
``@reproduce_failure`` blob), shrinks failures to a small example, and keeps
them in ``.hypothesis/`` (ignored by git) so the next run tries them first::

    IDP_FUZZ_EXAMPLES=1000 .venv/bin/pytest -q tests/fuzz
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

CI_EXAMPLES = 30
LONG_EXAMPLES = int(os.environ.get("IDP_FUZZ_EXAMPLES") or 0)

# Requests that make several others first (a login transaction, a code) are slow by
# Hypothesis's measure, and a 100 KB parameter is large data: both are the point here.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

FUZZ = (
    settings(max_examples=LONG_EXAMPLES, deadline=None, suppress_health_check=_QUIET, print_blob=True)
    if LONG_EXAMPLES
    else settings(
        max_examples=CI_EXAMPLES,
        deadline=None,
        suppress_health_check=_QUIET,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        print_blob=True,
    )
)
