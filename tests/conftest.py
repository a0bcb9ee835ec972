"""Shared pytest configuration for scorelab's tests."""

from __future__ import annotations

import os

from hypothesis import settings

# Derandomised profile used by default (CI and local runs); choose another with
# HYPOTHESIS_PROFILE=<name>.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config: object) -> list[str]:
    """Print the build of the compiled core being tested."""
    try:
        import scorelab

        info = scorelab.build_info()
        return [f"scorelab {info.get('version')} core: {info}"]
    except Exception as exc:  # pragma: no cover - shown only when the build is broken
        return [f"scorelab core not importable: {exc}"]
