"""Job parameters parse command-line strings and reject invalid values."""

from __future__ import annotations

import pytest

from workbench.jobs.specs import JOB_KINDS, ParamError


def _threshold():
    return JOB_KINDS["self-training"].param("threshold")


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf"])
def test_non_finite_number_rejected(text):
    with pytest.raises(ParamError, match=f"Invalid value '{text}' for threshold: expected a "
                                         "finite number"):
        _threshold().parse(text)


def test_number_in_range_parsed():
    assert _threshold().parse("0.75") == 0.75


def test_number_out_of_range_named():
    with pytest.raises(ParamError, match="threshold must be at most 1.0, got 1.5"):
        _threshold().parse("1.5")


def test_every_float_default_finite():
    for kind in JOB_KINDS.values():
        for param in kind.params:
            if param.type is float:
                assert param.parse(param.default) == param.default, (kind.name, param.name)
