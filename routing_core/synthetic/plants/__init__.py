"""Seeded generators of routing exports from other plants and industries, for the accuracy benchmark.

Each generator stands for a plant the model was never tuned on: its own products, causal rules,
item code pattern, process vocabulary and ERP column names. Each returns ``(ops, truth, mapping)``:

- ``ops``: the export, long form (one row per operation), with the plant's own column names,
  some blank cells and a few dirty values;
- ``truth``: one row per item: ``item_code``, ``perturbed`` (the item got a "plant variant":
  neighbours swapped, an extra step or a dropped step, a ``noise`` share of items),
  ``clean_routing`` (the routing the rules give, steps joined by '>') and ``best_chance``: the
  chance that the likeliest routing, given what the export shows of the item, is the recorded
  one. It is 0 for a plant variant (drawn at random; that it equals a guess is rare enough to
  leave out) and 1 for an item whose deciding facts are all in its row. Where a deciding cell is
  blank (or, in the job shop, the drawing decides a step the log does not show), it is the
  share of the likeliest routing over the values the hidden facts may take, under the
  generator's own distributions, conditioned on the rest of the row: exactly where that is
  simple, generously where it is not (each generator says how). The mean over a set of items is what a model can expect as its top-1
  accuracy at most; generous choices (dirty values count as known, a few clues count as giving
  a fact away, see each generator) keep it an upper bound, though a lucky draw can beat it;
- ``mapping``: ``{source column: canonical target}`` for the item, process, sequence and
  duration columns.

Everything is vectorised over rows; Python loops run only over the distinct combinations of the
facts that decide a routing (a few hundred at most) and, for ``best_chance``, over the items with
a hidden deciding fact (the chance computed once per distinct combination of what their rows
show). ``PLANTS`` maps a name to its generator; all share the signature ``(n_items=3000,
seed=..., noise=0.05)``.

One module per plant (``valves``, ``pcb``, ``sheetmetal``, ``jobshop``: its constants, causal rules
and generator), the helpers they share in ``common``.
"""

from __future__ import annotations

from collections.abc import Callable

from routing_core.synthetic.plants.common import Generated
from routing_core.synthetic.plants.jobshop import generate_jobshop
from routing_core.synthetic.plants.pcb import generate_pcb
from routing_core.synthetic.plants.sheetmetal import generate_sheetmetal
from routing_core.synthetic.plants.valves import generate_valves

__all__ = ["PLANTS", "Generated", "generate_jobshop", "generate_pcb", "generate_sheetmetal", "generate_valves"]

PLANTS: dict[str, Callable[..., Generated]] = {
    "valves": generate_valves, "pcb": generate_pcb, "sheetmetal": generate_sheetmetal, "jobshop": generate_jobshop,
}
