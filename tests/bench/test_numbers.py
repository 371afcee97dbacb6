"""Tests of the shared number handling."""

from __future__ import annotations

import pytest

from remediator.bench.numbers import MISSING, to_number
from remediator.errors import ResultError


@pytest.mark.parametrize(
    "value", [None, MISSING, float("nan"), float("inf"), -float("inf")]
)
def test_missing_values_become_none(value: object) -> None:
    """null, absent keys, NaN and infinities all mean "no value"."""

    assert None is to_number(value, source="f", field="k")


@pytest.mark.parametrize(
    "text", ["N/A", "", "  ", "NaN", "-nan", "inf", "-Infinity", "null"]
)
def test_missing_words_become_none(text: str) -> None:
    """The words tools write for "no value" are not errors, just missing."""

    assert None is to_number(text, source="f", field="k")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (2.5, 2.5),
        ("550", 550.0),
        (" 5100.0 ", 5100.0),
        ("1e3", 1000.0),
        ("-2", -2.0),
    ],
)
def test_numbers_and_numeric_strings_are_read(value: object, expected: float) -> None:
    """Numbers, and strings that are plain decimal numbers, give floats."""

    assert expected == to_number(value, source="f", field="k")


@pytest.mark.parametrize(
    "value", ["fast", "1_000", "5,767.43", "0x10", True, [1], {"a": 1}]
)
def test_other_values_raise_naming_the_field(value: object) -> None:
    """A word, a boolean, a list or an object where a number belongs is an error."""

    with pytest.raises(ResultError) as caught:
        to_number(value, source="run.json", field="latency_stats.p95_ms")

    assert "latency_stats.p95_ms" == caught.value.field
    assert "run.json" == caught.value.source


def test_integer_too_large_for_a_float_is_missing() -> None:
    """An integer beyond float range is treated like Infinity, not crashed on."""

    assert None is to_number(10**400, source="f", field="k")
