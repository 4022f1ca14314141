"""Real data for chapter 5: scikit-learn's bundled handwritten digits, a seeded split, a small MLP.

``load_digits`` reads 1,797 8×8 images (10 classes, pixel values 0..16) from a file installed with
scikit-learn (Alpaydin & Kaynak, UCI "Optical Recognition of Handwritten Digits"); nothing is
downloaded. ``train_digits`` trains a 64-128-128-10 network built from the book's blocks
(``build_network``) plus a linear head, and returns it with its test accuracy.

On the CPU everything runs in float64: a float32 run's last bits depend on the number of threads,
and 600 optimizer steps grow them into visibly different weights, while float64 runs agree to every
printed digit on any thread count. Other devices run in float32 (MPS has no float64).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .blocks import build_network
from .devices import pick_device
from .training import OPTIMIZERS
from .validation import check_choice, check_int, check_number

N_CLASSES = 10


@lru_cache(maxsize=4)
def digits_split(test_fraction: float = 0.25, seed: int = 0):
    """The digits as float32 tensors scaled to [0, 1], split by a seeded permutation.

    Returns (x_train, y_train, x_test, y_test); x has shape (n, 64), y holds class indices 0..9.
    With the defaults: 1,348 training and 449 test images. Raises ValueError unless
    0 < test_fraction < 1.
    """
    from sklearn.datasets import load_digits  # bundled with the package: never a fetch_* (download)

    check_number("test_fraction", test_fraction, minimum=0.0, strict=True)
    if test_fraction >= 1:
        raise ValueError(f"test_fraction must be below 1, got {test_fraction:g}")
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def digits_mlp(hidden: int = 128, depth: int = 2, activation: str = "relu", seed: int = 0) -> nn.Sequential:
    """``Sequential(body, head)``: ``depth`` blocks act(W h + b) of ``hidden`` units on the 64 pixels
    (PyTorch's default init), then a linear head to the 10 class scores."""
    body = build_network(depth, hidden, activation=activation, in_dim=64, seed=seed)
    return nn.Sequential(body, nn.Linear(hidden, N_CLASSES))


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block (or, as ``@one_thread()``, the decorated function).
    A 128-unit layer is too small to share out:
    extra threads only wait on each other, badly so on a busy machine (float64 results are the
    same either way)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def working_dtype(device: torch.device) -> torch.dtype:
    """float64 on the CPU (reproducible on any thread count), float32 on a GPU."""
    return torch.float64 if device.type == "cpu" else torch.float32


@torch.no_grad()
@one_thread()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows of ``x`` whose highest class score is the label ``y`` (0..1)."""
    w = next(model.parameters())
    correct = (model(x.to(w.device, w.dtype)).argmax(1) == y.to(w.device)).sum()
    return int(correct) / len(y)


@one_thread()
def train_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, optimizer: str = "adam",
                lr: float = 1e-3, batch: int = 64, seed: int = 0) -> np.ndarray:
    """Train ``model`` in place for ``steps`` minibatch steps of cross-entropy; return the loss per step
    (NaN from the first non-finite loss on, where training stops). The minibatches are drawn by a
    generator seeded with ``seed``, so a run is reproducible."""
    check_int("steps", steps, minimum=0)
    check_int("batch", batch, minimum=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("lr (learning rate)", lr, minimum=0.0, strict=True)
    w = next(model.parameters())
    device = w.device
    x, y = x.to(device, w.dtype), y.to(device)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 1)
    losses = np.full(steps, np.nan)
    model.train()
    for step in range(steps):
        idx = torch.randint(len(x), (batch,), generator=gen).to(device)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        if not torch.isfinite(loss):
            break
        losses[step] = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return losses


@dataclass
class DigitsRun:
    """A trained digits network, its loss per step and its test accuracy (0..1)."""

    settings: dict
    losses: np.ndarray
    accuracy: float
    device: str
    model: nn.Sequential = field(repr=False)


def train_digits(hidden: int = 128, depth: int = 2, activation: str = "relu", optimizer: str = "adam",
                 lr: float = 3e-3, steps: int = 600, batch: int = 64, seed: int = 0, device="cpu") -> DigitsRun:
    """Build ``digits_mlp`` (seeded) and train it on the training split; see ``train_steps``.

    Raises ValueError for an unknown activation, optimizer or device, or a non-positive learning rate.
    """
    check_int("hidden", hidden, minimum=1)
    dev = pick_device(device)
    x, y, x_test, y_test = digits_split()
    model = digits_mlp(hidden, depth, activation, seed).to(dev, working_dtype(dev))
    losses = train_steps(model, x, y, steps, optimizer, lr, batch, seed)
    settings = dict(hidden=hidden, depth=depth, activation=activation, optimizer=optimizer, lr=lr,
                    steps=steps, batch=batch, seed=seed)
    return DigitsRun(settings, losses, accuracy(model, x_test, y_test), dev.type, model.eval())


@lru_cache(maxsize=4)
def trained_digits_net(seed: int = 0) -> DigitsRun:
    """The chapter's reference network (defaults of ``train_digits``, on the CPU), trained once per
    seed and kept: the pruning experiments copy it and never change it."""
    return train_digits(seed=seed, device="cpu")
