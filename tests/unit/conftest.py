"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from tests.sbomutil import Inputs, make_inputs


@pytest.fixture
def inputs(tmp_path) -> Inputs:
    """What an SBOM is written from (:func:`tests.sbomutil.make_inputs`)."""
    return make_inputs(tmp_path)
