"""Trainable Depth: the book's library. Every notebook imports from here.

Importing ``utils`` imports every chapter module, so ``EXPLORERS`` lists every explorer.
"""

from . import (  # noqa: F401  (importing a chapter's modules registers its explorers and figures)
    activation_masks, block_builder, dead_units, diagnostics, digits, finite_width, initialization, jacobian_spectrum,
    matrix_products, module_mechanics, norm_placement, normalization, phase_diagram, pruning, residual_scaling, shortcuts,
    speed_checks, training,
)
from .activations import ACTIVATIONS, get_activation
from .blocks import NORMS, Network, PlainBlock, ResidualBlock, build_network
from .devices import available_devices, cpu_float64, pick_device, seed_everything, use_cpu_allowance
from .explorer import EXPLORERS, Explorer
from .figure_records import register_figure_records
from .gradient_flow import HEALTHY, GradientFlow, gradient_flow, gradient_flow_explorer, plot_gradient_flow
from .initializers import INIT_SCHEMES, init_linear, weight_variance
from .plotting import new_figure, use_book_style
from .precomputed_explorer import precomputed_explorer
from .probes import Probe, probe_network

use_book_style()
register_figure_records()
use_cpu_allowance()
