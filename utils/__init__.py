"""Trainable Depth: the book's library. Every notebook imports from here.

Importing ``utils`` imports every chapter module, so ``EXPLORERS`` lists every explorer.
"""

from . import diagnostics, finite_width, initialization, jacobian_spectrum, matrix_products, norm_placement, phase_diagram, residual_scaling, shortcuts, training  # noqa: F401,E501  (registers their explorers)
from .activations import ACTIVATIONS, get_activation
from .blocks import NORMS, Network, PlainBlock, ResidualBlock, build_network
from .devices import available_devices, cpu_float64, pick_device, seed_everything, use_cpu_allowance
from .explorer import EXPLORERS, Explorer
from .gradient_flow import HEALTHY, GradientFlow, gradient_flow, gradient_flow_explorer, plot_gradient_flow
from .initializers import INIT_SCHEMES, init_linear, weight_variance
from .plotting import new_figure, use_book_style
from .probes import Probe, probe_network

use_book_style()
use_cpu_allowance()
