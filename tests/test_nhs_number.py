"""NHS number rules (domain brief §6): modulus 11, accepted spacing, scientific notation refused, keyed pseudonyms."""

import pytest

from transforms.nhs_number import classify, is_valid, pseudonymise


def _with_check_digit(nine: str) -> str | None:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return None if check == 10 else nine + str(0 if check == 11 else check)


def test_known_valid_number_and_spacing():
    assert is_valid("9434765919")
    assert classify("943 476 5919") == ("9434765919", None)
    assert classify(" 943-476-5919 ") == ("9434765919", None)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("9434765918", "nhs_number.invalid_check_digit"),
        ("9.43E+09", "nhs_number.scientific_notation"),
        ("9.434765919e9", "nhs_number.scientific_notation"),
        ("943476591", "nhs_number.bad_format"),
        ("94347659190", "nhs_number.bad_format"),
        ("94347A5919", "nhs_number.bad_format"),
    ],
)
def test_invalid_numbers_are_classified(raw, rule):
    assert classify(raw) == (None, rule)


def test_check_digit_rule_over_many_numbers():
    # Every nine-digit prefix either has exactly one valid completion or none (remainder 10).
    for n in range(100000000, 100000000 + 2000):
        nine = str(n)
        expected = _with_check_digit(nine)
        valid = [d for d in "0123456789" if is_valid(nine + d)]
        assert valid == ([] if expected is None else [expected[-1]])


def test_pseudonym_is_keyed_and_stable():
    a = pseudonymise("9434765919", b"k" * 32)
    assert a == pseudonymise("9434765919", b"k" * 32)
    assert a != pseudonymise("9434765919", b"j" * 32)
    assert len(a) == 64 and "9434765919" not in a
