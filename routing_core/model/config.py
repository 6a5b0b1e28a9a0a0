"""The routing model's tuning constants, grouped by the part that reads them.

One `ModelConfig` (frozen dataclasses) is a parameter of `RoutingModel`: `get_params` and `clone`
see it, and the manifest records it with each version (`ModelConfig.to_dict`). The defaults are
the values the accuracy benchmark (docs/benchmarks.md) was measured with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass


@dataclass(frozen=True)
class VocabularyConfig:
    occurrences: int = 64  # a process the n-th time in one routing is its own step up to this n
    max_process_codes: int = 2_000  # codes beyond the most widespread are pooled into one
    pooled_name: str = "OTHER_PROCESS"


@dataclass(frozen=True)
class NeighbourConfig:
    mate_window: int = 8  # training items per leaf considered as neighbours of a query
    knn_share: float = 0.5  # share of the routing vote given to the most similar items
    knn_sharpness: float = 16.0  # similarity exponent of that vote
    vote_prior_count: float = 2.0  # votes of a routing seen n times weigh n / (n + this)
    forest_max_outputs: int = 64  # the forest's trees split on at most this many steps
    forest_max_rows: int = 100_000  # items each tree is grown on at most (all are placed in leaves)


@dataclass(frozen=True)
class ExpertConfig:
    linear_rows: int = 50_000  # items the additive model is fitted on (a sample when more)
    linear_alpha: float = 1.0  # ridge penalty, in % of the number of items ...
    linear_min_alpha: float = 3.0  # ... and at least this
    linear_clip: float = 0.001  # its probabilities stay within [clip, 1 - clip]
    step_tree_rows: int = 30_000  # items the step trees are grown on
    step_tree_min_leaf: int = 5  # items per leaf at least (more for big data: n / 2000)
    step_tree_depth: int = 10
    step_tree_min_positive: int = 3  # a step on fewer items (or missing from fewer) gets no tree
    step_tree_max: int = 64  # trees for the steps whose presence varies most
    stack_folds: int = 3
    stack_rows: int = 4_000  # items answered out of fold
    stack_cells: int = 2_000_000  # ... and at most this many (item, step) pairs
    stack_min_items: int = 60  # fewer items: the experts' odds are simply multiplied
    stack_ridge: float = 1e-3  # penalty of the stacking weights, per item
    stack_lift_cells: int = 400_000  # (item, step) answers each expert's held-out lift is measured on


@dataclass(frozen=True)
class ImputationConfig:
    max_values: int = 4  # values tried for one blank cell
    min_share: float = 0.1  # ... each at least this likely
    max_rows: int = 8  # rows per item after expanding all its blanks
    rows: int = 5_000  # training items per attribute model
    max_classes: int = 12  # attributes with more values use the similar items' values instead
    newton_max_size: int = 1_200  # features x classes fitted by Newton steps (else L-BFGS)
    newton_cells: float = 4e8  # items x (features x classes)^2 per Newton step at most ...
    newton_min_rows: int = 1_000  # ... but at least this many items
    size_min_rows: int = 20  # rows a group needs for its own spread of the log sizes
    size_max_nats: float = 12.0  # the sizes shift a value's log-odds by at most this much
    size_filled: float = 0.9  # a measurement joins a group's evidence when this share has it
    size_t_dof: float = 4.0  # degrees of freedom of the Student t of the log measurements


@dataclass(frozen=True)
class DurationConfig:
    rows: int = 20_000  # rows per process the time model is fitted on
    min_rows: int = 8  # fewer rows: no model, times of similar items only
    alpha: float = 1.0  # ridge penalty, in % of the rows ...
    min_alpha: float = 3.0  # ... and at least this


@dataclass(frozen=True)
class CandidateConfig:
    batch: int = 2_000  # items per prediction batch (bounds the memory of one batch)
    max_voted: int = 12  # routings taken from the vote per row
    max_unsure: int = 5  # least certain steps flipped to compose alternatives
    familiar_share: float = 0.5  # below this share of known values a dissimilar item falls back
    fallback_reference_pool: int = 20_000  # items of the fallback routing searched for references


@dataclass(frozen=True)
class TrialConfig:
    code_dropout: float = 0.3  # share of items whose code tokens are blanked when trees grow
    baseline_min_items: int = 400  # fewer items: no trial against the most frequent routing
    baseline_held: int = 1_000  # items the trial answers ...
    baseline_fit: int = 4_000  # ... with a model fitted on at most this many others


@dataclass(frozen=True)
class ModelConfig:
    vocabulary: VocabularyConfig = field(default_factory=VocabularyConfig)
    neighbours: NeighbourConfig = field(default_factory=NeighbourConfig)
    experts: ExpertConfig = field(default_factory=ExpertConfig)
    imputation: ImputationConfig = field(default_factory=ImputationConfig)
    durations: DurationConfig = field(default_factory=DurationConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)

    def to_dict(self) -> dict:
        """Plain nested dict (for the manifest)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> ModelConfig:
        """A config from `to_dict` output; unknown keys are refused, missing ones take defaults."""
        if not data:
            return cls()
        parts = {}
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown part(s) of the model configuration: {', '.join(sorted(unknown))}")
        for f in fields(cls):
            given = data.get(f.name) or {}
            if not isinstance(given, dict):
                raise ValueError(f"the {f.name} settings must be a table of names and values, not {given!r}")
            part_cls = type(f.default_factory())
            known = {g.name for g in fields(part_cls)}
            unknown = set(given) - known
            if unknown:
                raise ValueError(f"unknown setting(s) in {f.name}: {', '.join(sorted(unknown))}")
            parts[f.name] = part_cls(**given)
        return cls(**parts)

    def replace(self, **changes: dict) -> ModelConfig:
        """A copy with some settings changed: `config.replace(trial={"code_dropout": 0.0})`."""
        data = self.to_dict()
        for part, values in changes.items():
            if part not in data:
                raise ValueError(f"unknown part of the model configuration: {part}")
            data[part] = {**data[part], **(asdict(values) if is_dataclass(values) else values)}
        return ModelConfig.from_dict(data)
