"""The project's tests see only the backends they build: installed third-party entry points are ignored.

A gemmbench plugin installed in the same environment (say, an A/A copy of NumPy's backend) would
otherwise join every default run and change what the tests measure; the one test of the entry-point
route turns it back on for itself.
"""

import os

from gemmbench.registry import ENTRY_POINTS_ENV

os.environ[ENTRY_POINTS_ENV] = "0"  # inherited by the workers and inner pytest sessions the tests start
