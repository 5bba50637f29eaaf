"""Test-wide settings.

Hypothesis draws new examples on every developer run; CI sets
``HYPOTHESIS_PROFILE=ci`` (in ``.ci/run``) to draw a fixed sequence, so a red CI
always reproduces on a clean clone with the same command.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
