"""The routing model: ranked candidate routings, with times, for items old and new (docs/design.md, 'The routing model').

One part per module (docs/architecture.md):
vocabulary (steps, routings, step order), features/encoding (what is read of an item),
forest and neighbours (similar items and their votes), experts (the step models and their
stacking), imputation (blank attributes), durations (times), candidates (ranking and assembly),
output (what is returned), trial (checks on held-out training items), config (the tuning
constants), estimator (RoutingModel, which fits and asks the parts in turn).
"""

from routing_core.model.config import MODEL_FORMAT, MODEL_FORMATS_READ, ModelConfig
from routing_core.model.estimator import RoutingModel
from routing_core.model.explain import explain
from routing_core.model.forest import LeafForest
from routing_core.model.output import (
    Candidate,
    ItemPrediction,
    Step,
    batch_warnings,
    predictions_frame,
)

# The format this code saves (config.py; bump it when the learned state changes): 4, one part per
# module (routing_core/model/), its configuration recorded. MODEL_FORMATS_READ are the formats it
# loads: a version in any other is reported as needing a retrain, and code that does not know
# this format refuses it with that message instead of failing on its contents.
# The default limits other code plans memory with (routing_core.engine.training).
BATCH = ModelConfig().candidates.batch
MAX_PROCESS_CODES = ModelConfig().vocabulary.max_process_codes

__all__ = [
    "BATCH", "MAX_PROCESS_CODES", "MODEL_FORMAT", "MODEL_FORMATS_READ", "Candidate", "ItemPrediction", "LeafForest", "ModelConfig",
    "RoutingModel", "Step", "batch_warnings", "explain", "predictions_frame",
]
