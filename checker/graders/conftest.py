"""Hypothesis profiles shared by every grader.

`learner` (the default) draws fresh random inputs on each run; the runner
passes a seed so that a failure can be reproduced with `--seed`.
`ci` is derandomized, so the self-tests give the same verdict every run.
"""

import os

from hypothesis import HealthCheck, settings

# A learner run draws fresh inputs each time, so it can afford fewer examples
# per run (kata check stays quick); the derandomized self-tests use more.
settings.register_profile(
    "learner",
    max_examples=25,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
settings.register_profile(
    "ci", parent=settings.get_profile("learner"), derandomize=True, max_examples=40
)
settings.load_profile(os.environ.get("KATA_HYPOTHESIS_PROFILE", "learner"))
