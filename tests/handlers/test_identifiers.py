"""Tests for IIN/BIN check digits and classification."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import identifiers
from handlers.identifiers import check_digit
from handlers.identifiers import is_valid_iin_bin
from handlers.identifiers import kind_of

VALID = [
    "900115300003",
    "850722400018",
    "000520600016",
    "680310400011",
    "900115300401",
    "900115300413",
    "900115300425",
    "800416100254",
    "680503250034",
    "061211600012",
    "150140000012",
    "160341000017",
    "160560000018",
    "940140000385",
    "070941024691",
]

prefixes = st.text(alphabet="0123456789", min_size=11, max_size=11)


@pytest.mark.parametrize("value", VALID)
def test_domain_vectors_are_valid(value):
    assert is_valid_iin_bin(value)


@pytest.mark.parametrize("value", VALID)
def test_changing_the_check_digit_invalidates(value):
    wrong = (int(value[-1]) + 1) % 10
    assert not is_valid_iin_bin(value[:-1] + str(wrong))


@pytest.mark.parametrize(
    "value",
    [
        "900115300103",
        "800115300003",
        "850722400118",
        "",
        "90011530000",
        "9001153000030",
        "90011530000a",
        "９００１１５３００００３",
        None,
    ],
)
def test_malformed_or_wrong_numbers_are_invalid(value):
    assert not is_valid_iin_bin(value)


def test_one_digit_change_can_land_on_the_second_pass():
    # 900115300003 -> 900115300013: the first pass now gives 10 and the second pass gives 3
    assert is_valid_iin_bin("900115300013")


def test_unissuable_prefix_has_no_valid_number():
    assert check_digit("75123130056") is None
    assert not any(is_valid_iin_bin(f"75123130056{d}") for d in range(10))


def test_second_pass_vectors_need_the_second_weights():
    assert check_digit("90011530040") == 1


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("900115300003", "individual"),
        ("000520600016", "individual"),
        ("800416100254", "individual"),
        ("150140000012", "legal_entity"),
        ("160341000017", "legal_entity"),
        ("160560000018", "legal_entity"),
    ],
)
def test_kind_of(value, kind):
    assert kind_of(value) == kind


@pytest.mark.parametrize("value", ["901315300003", "900115000003", "12345", "900230300001"])
def test_kind_of_rejects_neither(value):
    with pytest.raises(ValueError, match="IIN nor a BIN|12 digits"):
        kind_of(value)


@given(prefixes)
def test_at_most_one_check_digit_is_valid(prefix):
    valid = [d for d in range(10) if is_valid_iin_bin(f"{prefix}{d}")]
    assert len(valid) <= 1
    digit = check_digit(prefix)
    assert valid == ([] if digit is None else [digit])


@pytest.mark.parametrize(("value", "expected"), [
    ("900115300003", {"kind": "individual", "birth_date": "1990-01-15", "sex": "male",
                      "century": 20}),
    ("000520600016", {"birth_date": "2000-05-20", "sex": "female", "century": 21}),
    ("800416100254", {"birth_date": "1880-04-16", "century": 19}),
    ("150140000012", {"kind": "legal_entity", "registered": "2015-01",
                      "type": "resident legal entity", "division": "head unit"}),
    ("160341000017", {"registered": "2016-03", "division": "branch"}),
    ("160560000018", {"type": "individual entrepreneur in joint entrepreneurship"}),
])
def test_describe_reads_the_parts(value, expected):
    assert identifiers.describe(value).items() >= expected.items()


@pytest.mark.parametrize("value", ["900115300004", "12345", "75123130056x"])
def test_describe_refuses_invalid_numbers(value):
    with pytest.raises(ValueError, match="not a valid"):
        identifiers.describe(value)
