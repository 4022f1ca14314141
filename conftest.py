"""nbval taught to check figures. At the repository's root, so that every nbval run loads it, also
`pytest notebooks/NN_name.ipynb` (tests/conftest.py is loaded only for what lies under tests/).

nbval compares every output exactly except PNGs, which it skips. Each figure's output also holds a figure
record (utils/figure_records.py): nbval leaves it out of its exact comparison, and the records are
compared here, with the tolerances for rounding that the module documents. nbval has no hook for this,
so its cells' comparison is wrapped.
"""

from nbval.plugin import IPyNbCell

from utils.figure_records import FIGURE_MIMETYPE, compare_figure_outputs

_nbval_compare_outputs = IPyNbCell.compare_outputs


def _compare_outputs_and_figures(self, test, ref, skip_compare=None):
    """nbval's comparison of a cell's outputs, figure records aside; then the figures compared. Returns
    whether all agree; what differs goes to nbval's failure report."""
    skip_compare = tuple(skip_compare or self.parent.skip_compare) + (FIGURE_MIMETYPE,)
    if not _nbval_compare_outputs(self, test, ref, skip_compare):
        return False
    problems = compare_figure_outputs(ref, test)
    if problems:
        self.comparison_traceback.append("Figures differ (see utils/figure_records.py for what is compared):")
        self.comparison_traceback.extend(f"  {problem}" for problem in problems)
    return not problems


IPyNbCell.compare_outputs = _compare_outputs_and_figures
