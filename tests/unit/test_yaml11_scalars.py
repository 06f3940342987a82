"""The YAML loader finds the plain scalars only YAML 1.1 types (``yes``, ``0777``, ``1_000``,
``10:00:00``) with their text as written, and loads every value exactly as PyYAML did."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mockserver.documents import Yaml11Scalar, load_yaml_text

BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

BOOLEANS = [form for word in ("yes", "no", "on", "off") for form in (word, word.title(), word.upper())]
SEXAGESIMAL = st.from_regex(r"[-+]?[1-9][0-9]{0,3}(:[0-5]?[0-9]){1,3}(\.[0-9]{0,3})?", fullmatch=True)
OCTAL = st.from_regex(r"[-+]?0[0-7_]{1,6}", fullmatch=True)
BINARY = st.from_regex(r"[-+]?0b[01][01_]{0,7}", fullmatch=True)
SEPARATED = st.from_regex(r"[-+]?[1-9][0-9]{0,3}_[0-9_]{0,6}(\.[0-9_]{0,3})?", fullmatch=True)
YAML11_ONLY = st.one_of(st.sampled_from(BOOLEANS), SEXAGESIMAL, OCTAL, BINARY, SEPARATED)
ORDINARY = re.compile(r"[-+]?(0|[1-9][0-9]*)|0x[0-9a-fA-F]+|[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+][0-9]+)?|true|True|TRUE|false|False|FALSE|null|Null|NULL|~")


def loaded(text: str) -> tuple[Any, dict[tuple[Any, ...], Yaml11Scalar]]:
    found: dict[tuple[Any, ...], Yaml11Scalar] = {}
    return load_yaml_text(text, allow_aliases=True, yaml11=found), found


def as_before(text: str) -> Any:
    return yaml.load(text, Loader=BASE_LOADER)  # noqa: S506 - the safe loader


@given(YAML11_ONLY)
def test_a_yaml11_only_scalar_is_found_with_its_text_and_loads_as_before(text: str) -> None:
    document = f"a: {{b: [x, {text}]}}\nc: {text}\n"
    data, found = loaded(document)
    assert data == as_before(document)
    assert isinstance(data["c"], (bool, int, float))
    assert found == {("a", "b", 1): Yaml11Scalar(text, data["c"]), ("c",): Yaml11Scalar(text, data["c"])}


@given(SEXAGESIMAL)
def test_a_sexagesimal_number_is_base_60_as_before(text: str) -> None:
    data, found = loaded(f"t: {text}")
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("+-").partition(".")
    value: float = 0
    for part in whole.split(":"):
        value = value * 60 + int(part)
    if "." in text:
        value += float(f"0.{fraction or 0}")
    assert data["t"] == pytest.approx(sign * value)
    assert found[("t",)].text == text


@given(st.one_of(st.integers(min_value=-(2**63), max_value=2**64 - 1).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr)))
def test_ordinary_numbers_are_not_yaml11_only(text: str) -> None:
    data, found = loaded(f"n: {text}")
    assert data == as_before(f"n: {text}") and found == {}


@pytest.mark.parametrize(
    "text",
    ["true", "True", "TRUE", "false", "False", "FALSE", "null", "~", "Null", "", "0", "+12", "-7", "1.5", "1.", ".5", "1.0e+3",
     "0x1F", ".inf", "-.inf", ".nan", "y", "n", "Y", "N", "yEs", "2026-01-01", "1e3", "0o17", "'yes'", '"10:00:00"', "'0777'",
     "!!bool yes", "!!int 0777", "!!int 1_000", "!!float 1:30.5", "!!str yes", "yes please", "10:00 am"],
)
def test_what_yaml_1_2_reads_alike_and_what_is_quoted_or_tagged_is_not_found(text: str) -> None:
    data, found = loaded(f"v: {text}")
    assert data == as_before(f"v: {text}") and found == {}


@given(st.text(alphabet="0123456789_:.+-xobeEyYnNoOfFaAlLsStTrRuU~", max_size=9))
def test_every_plain_scalar_loads_as_before_and_is_found_only_when_yaml_1_2_reads_it_otherwise(text: str) -> None:
    document = f"v: {text}"
    try:
        before = as_before(document)
    except (yaml.YAMLError, ValueError) as exc:  # PyYAML's own int() raises ValueError on 0b_ and 0x_
        with pytest.raises(type(exc)):
            loaded(document)
        return
    data, found = loaded(document)
    assert data == before
    if found:
        assert found == {("v",): Yaml11Scalar(text, before["v"])}
        assert type(before["v"]) in (bool, int, float) and not ORDINARY.fullmatch(text)
    elif type(before["v"]) in (bool, int, float):
        assert ORDINARY.fullmatch(text) or text.lstrip("+-") in (".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"), text


def test_aliases_and_merge_keys_give_every_path_a_scalar_is_reached_by() -> None:
    data, found = loaded("base: &b {flag: yes, n: 1}\nrules:\n  - {<<: *b, name: r}\n  - &t 10:00\n  - *t\n")
    assert data == {"base": {"flag": True, "n": 1}, "rules": [{"flag": True, "n": 1, "name": "r"}, 600, 600]}
    assert found == {
        ("base", "flag"): Yaml11Scalar("yes", True),
        ("rules", 0, "flag"): Yaml11Scalar("yes", True),
        ("rules", 1): Yaml11Scalar("10:00", 600),
        ("rules", 2): Yaml11Scalar("10:00", 600),
    }


def test_scalars_are_found_in_document_order() -> None:
    _, found = loaded("{z: [on, {b: 1_0, a: 0777}], y: off}")
    assert list(found) == [("z", 0), ("z", 1, "b"), ("z", 1, "a"), ("y",)]


def test_a_later_key_replaces_an_earlier_ones_finding() -> None:
    data, found = loaded("{base: &b {a: on}, r: {<<: *b, a: 'on'}}")
    assert data["r"] == {"a": "on"} and found == {("base", "a"): Yaml11Scalar("on", True)}


def test_a_self_containing_document_is_left_to_the_size_checks() -> None:
    data, found = loaded("&a [yes, *a]")
    assert data[0] is True and data[1] is data and found[(0,)] == Yaml11Scalar("yes", True)


def test_the_problem_says_what_was_written_what_yaml_11_made_of_it_and_the_way_out() -> None:
    assert Yaml11Scalar("yes", True).problem == (
        "yes, unquoted, is YAML 1.1's boolean true, not the text 'yes': quote it for the text, or write true for the boolean")
    assert Yaml11Scalar("10:00:00", 36000).problem == (
        "10:00:00, unquoted, is YAML 1.1's sexagesimal (base 60) integer 36000, not the text '10:00:00': "
        "quote it for the text, or write 36000 for the number")
    assert "octal integer 511" in Yaml11Scalar("0777", 511).problem
    assert "binary integer -5" in Yaml11Scalar("-0b101", -5).problem
    assert "integer 1000," in Yaml11Scalar("1_000", 1000).problem
    assert "sexagesimal (base 60) number 90.5" in Yaml11Scalar("1:30.5", 90.5).problem
    assert "boolean false" in Yaml11Scalar("OFF", False).problem and "write false" in Yaml11Scalar("OFF", False).problem


def test_the_c_loader_stays() -> None:
    from mockserver import documents

    if yaml.__with_libyaml__:
        assert issubclass(documents._Loader, yaml.CSafeLoader)
