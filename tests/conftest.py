"""Shared test configuration: hypothesis profiles and the installed registry."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import leadconvert

# ci: bounded so the whole suite stays well inside CI's budget on 2 cores;
# dev: the default on a workstation; deep: on demand (HYPOTHESIS_PROFILE=deep).
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile("deep", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def registry() -> leadconvert.Registry:
    """The backends installed in this environment, loaded through their entry points."""
    return leadconvert.load_registry()


@pytest.fixture(scope="session")
def converter(registry: leadconvert.Registry) -> leadconvert.NeutralConverter:
    """The neutral JSON converter for the installed backends."""
    return leadconvert.NeutralConverter(
        {b.name: b.options_type for b in registry if b.options_type is not None}
    )
