"""Self-checking exercises: compare a reader's numeric answer with the value the book computes.

Each chapter's "check your answer" cells call ``check_answer(name, value)``. The expected value is not
stored anywhere: it is computed, when asked for, by the same experiment or formula the chapter uses,
so the check cannot drift from the book. A known mistake (e.g. swapping fan_in and fan_out) gets its
own hint.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

from .validation import check_choice


@dataclass(frozen=True)
class Answer:
    """One exercise's answer: ``compute()`` gives the book's value; a reply counts as right when it lies
    within ``rtol`` of it (relative), or within a factor ``factor`` (for answers that span decades).
    ``mistakes`` maps a label to (compute, hint) for wrong answers worth naming."""

    question: str
    compute: Callable[[], float]
    hint: str
    rtol: float | None = None
    factor: float | None = None
    mistakes: dict[str, tuple[Callable[[], float], str]] = field(default_factory=dict)

    def accepts(self, value: float, expected: float) -> bool:
        if self.factor is not None:
            return value > 0 and expected > 0 and abs(math.log(value / expected)) <= math.log(self.factor)
        return abs(value - expected) <= self.rtol * abs(expected)


def _tanh_ratio() -> float:
    from .gradient_flow import gradient_flow
    return gradient_flow(depth=100, activation="tanh", sigma_w2=1.0, device="cpu").ratio


def _sigmoid_5_layers_moved() -> float:
    from .training import train_network
    return float(train_network(depth=5, activation="sigmoid", sigma_w2=1.0, device="cpu").rel_change[0])


def _prenorm_first_block() -> float:
    from .residual_scaling import residual_theory
    return float(residual_theory("pre-norm", 40).grad_ratio[0])


def _leaky_relu_ratio() -> float:
    from .mean_field import mean_field
    return float(mean_field(30, "leaky_relu", 2.0).grad_ratio[0])


def _relu_fixed_point() -> float:
    from .mean_field import fixed_point
    return fixed_point("relu", 1.5, 0.1)


def _he_uniform_bound(fan: int) -> Callable[[], float]:
    return lambda: math.sqrt(3 * 2.0 / fan)  # U(-a, a) has variance a^2/3 = 2/fan


ANSWERS: dict[str, Answer] = {
    "ch1_tanh_ratio": Answer(
        "chapter 1, exercise 1: |dl/dh_1| / |dl/dh_100| of gradient_flow(depth=100, activation='tanh', sigma_w2=1.0)",
        _tanh_ratio, factor=2.0,
        hint="the depth-30 ratio to the power 99/29 is a lower bound: tanh's activations narrow with depth, so "
             "its inputs move towards 0, where the slope is 1, and the deeper layers each lose less."),
    "ch1_sigmoid_5_layers_moved": Answer(
        "chapter 1, exercise 4: how far layer 1 of a 5-layer sigmoid network moves in 300 SGD steps "
        "(||W_end - W_start|| / ||W_start||)",
        _sigmoid_5_layers_moved, factor=3.0,
        hint="layer 1's gradient is about 0.24^4 (some 3e-3) of the top layer's, and the top layer of the "
             "20-layer run moved by 0.5%; the first step is now far above float32's resolution."),
    "ch2_prenorm_first_block": Answer(
        "chapter 2, exercise 4: mean-field ||dℓ/dh_1|| / ||dℓ/dh_40|| for a 40-block pre-norm ReLU stack",
        _prenorm_first_block, rtol=0.01,
        hint="put l = 1 and L = 40 into sqrt((L + 1) / (l + 1))."),
    "ch3_leaky_relu_ratio": Answer(
        "chapter 3, exercise 1: mean-field gradient ratio over 30 leaky-ReLU layers (slope 0.01), He init",
        _leaky_relu_ratio, rtol=5e-4,
        hint="chi = sigma_w2 * E[phi'^2] = 2 * (1 + 0.01^2) / 2 per layer, and the ratio is chi^(29/2): "
             "above 1, by a little more than a tenth of a percent."),
    "ch3_relu_fixed_point": Answer(
        "chapter 3, exercise 3: the fixed point q* of a ReLU network with sigma_w2 = 1.5, sigma_b2 = 0.1",
        _relu_fixed_point, rtol=0.01,
        hint="solve q = sigma_w2 * q / 2 + sigma_b2 for q."),
    "ch3_he_uniform_bound": Answer(
        "chapter 3, exercise 4: the bound a of he_uniform_ for nn.Linear(256, 1024)",
        _he_uniform_bound(256), rtol=0.01,
        hint="He's forward condition uses fan_in, the number of inputs; U(-a, a) has variance a^2/3.",
        mistakes={"fan_out": (_he_uniform_bound(1024),
                              "that is the bound for fan_out = 1024. nn.Linear(256, 1024) stores its weight as "
                              "(out, in) = (1024, 256), so fan_in is weight.shape[1] = 256.")}),
}


def check_answer(name: str, value) -> bool | None:
    """Print whether ``value`` answers exercise ``name`` (a key of ``ANSWERS``), with a hint if not.

    Returns True (right), False (wrong) or None (no answer yet: ``value`` is None). Raises ValueError
    for an unknown exercise or a value that is not a finite number."""
    check_choice("exercise", name, ANSWERS)
    answer = ANSWERS[name]
    if value is None:
        print(f"{answer.question}: replace None by your answer and run this cell again.")
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"the answer must be a finite number, got {value!r}")
    expected = answer.compute()
    if answer.accepts(float(value), expected):
        print(f"Right: {value:.4g} (the book computes {expected:.4g}).")
        return True
    for compute_mistake, hint in answer.mistakes.values():
        if answer.accepts(float(value), compute_mistake()):
            print(f"Not quite: {value:.4g} is {hint}")
            return False
    print(f"Not yet: {value:.4g} is not it. Hint: {answer.hint}")
    return False
