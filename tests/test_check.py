"""Self-checking exercises: the book's answers are computed, right answers pass, wrong ones get a hint."""

import math

import pytest

from utils.check import ANSWERS, check_answer


def test_no_answer_yet_says_what_to_do(capsys):
    assert check_answer("ch3_relu_fixed_point", None) is None
    assert "replace None by your answer" in capsys.readouterr().out


def test_right_answer_within_tolerance(capsys):
    assert check_answer("ch3_relu_fixed_point", 0.4) is True  # sigma_b2 / (1 - sigma_w2 / 2)
    assert check_answer("ch2_prenorm_first_block", math.sqrt(41 / 2)) is True
    assert check_answer("ch3_leaky_relu_ratio", (1 + 0.01**2) ** 14.5) is True
    assert capsys.readouterr().out.count("Right") == 3


def test_wrong_answer_gets_the_hint(capsys):
    assert check_answer("ch3_relu_fixed_point", 0.2) is False
    assert "Hint: solve q = sigma_w2" in capsys.readouterr().out
    assert check_answer("ch3_leaky_relu_ratio", 1.0) is False  # "exactly neutral" is the tempting wrong answer


def test_swapped_fans_are_named(capsys):
    assert check_answer("ch3_he_uniform_bound", math.sqrt(6 / 256)) is True
    assert check_answer("ch3_he_uniform_bound", math.sqrt(6 / 1024)) is False
    assert "fan_out = 1024" in capsys.readouterr().out


def test_factor_tolerance_for_answers_over_decades(capsys):
    expected = ANSWERS["ch1_tanh_ratio"].compute()
    assert 0.1 < expected < 1
    assert check_answer("ch1_tanh_ratio", 1.9 * expected) is True
    assert check_answer("ch1_tanh_ratio", 1e-18) is False
    assert check_answer("ch1_tanh_ratio", -expected) is False


def test_every_answer_is_a_finite_positive_number():
    for name, answer in ANSWERS.items():
        value = answer.compute()
        assert math.isfinite(value) and value > 0, name


@pytest.mark.parametrize("call, message", [
    (lambda: check_answer("ch9_nothing", 1.0), "unknown exercise 'ch9_nothing'; choose one of: ch1_tanh_ratio"),
    (lambda: check_answer("ch3_relu_fixed_point", "0.4"), "must be a finite number, got '0.4'"),
    (lambda: check_answer("ch3_relu_fixed_point", float("nan")), "must be a finite number"),
])
def test_bad_input_names_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()
