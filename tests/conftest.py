"""Shared test fixtures."""

import os

# Keep the suite's thread use predictable on small machines.
os.environ.setdefault("OMP_NUM_THREADS", "2")
