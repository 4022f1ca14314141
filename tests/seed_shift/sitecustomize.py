"""Shift every seed by TRAINABLE_DEPTH_SEED_SHIFT, in every Python process started with this folder on
PYTHONPATH (``make test-seeds`` puts it there for the notebook kernels).

The book's asserts must hold for other seeds too, not only for the one random stream that the stored
outputs come from. Shifting every seed at its source (``torch.manual_seed``, ``torch.Generator``,
NumPy's and Python's seeding) gives every network, data set and batch order new draws, while two calls
with the same seed still agree with each other (the chapters compare plain PyTorch with the library that
way). Seed 123 is kept: chapter 2 reproduces a published measurement made with exactly that seed.
"""

import os

SHIFT = int(os.environ.get("TRAINABLE_DEPTH_SEED_SHIFT", "0"))
KEPT = {123}


def _shifted(seed):
    return seed if seed in KEPT else seed + SHIFT


if SHIFT:
    import random

    import numpy as np
    import torch

    _torch_manual_seed, _np_seed, _np_default_rng, _random_seed = (
        torch.manual_seed, np.random.seed, np.random.default_rng, random.seed)

    class _ShiftedGenerator(torch.Generator):
        def manual_seed(self, seed):
            return super().manual_seed(_shifted(int(seed)))

    torch.Generator = _ShiftedGenerator
    torch.manual_seed = lambda seed: _torch_manual_seed(_shifted(int(seed)))
    np.random.seed = lambda seed=None: _np_seed(None if seed is None else _shifted(int(seed)))
    np.random.default_rng = lambda seed=None: _np_default_rng(
        seed if seed is None or not isinstance(seed, int) else _shifted(seed))
    random.seed = lambda a=None, *args, **kwargs: _random_seed(
        _shifted(a) if isinstance(a, int) else a, *args, **kwargs)
