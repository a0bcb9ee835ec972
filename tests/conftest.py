"""Shared pytest configuration for scorelab's tests."""

from __future__ import annotations

import os

from hypothesis import settings

# Derandomised profile used by default (CI and local runs); choose another with
# HYPOTHESIS_PROFILE=<name>.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
