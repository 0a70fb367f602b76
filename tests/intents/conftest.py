"""One trained pipeline per test session (from the hashed cache when it is already there)."""

from __future__ import annotations

import pytest

from intents.pipeline import IntentPipeline


@pytest.fixture(scope="session")
def pipeline() -> IntentPipeline:
    return IntentPipeline.load()
