"""The routing model's tuning constants, grouped by the part that reads them.

One `ModelConfig` (frozen dataclasses) is a parameter of `RoutingModel`; the manifest records it
(`ModelConfig.to_dict`) beside RoutingModel's own parameters (defaults: `ParamDefaults`). They are
every number the model uses: tests/unit/model/test_config_literals.py fails when another module of
routing_core/model holds a numeric literal. Each value says why it has its value ("measured" names
the benchmark row or commit). A version saved before a field existed reads back with its default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass

# The format saved models are written in (routing_core.model re-exports it; the history there).
MODEL_FORMAT = 4  # convention: bumped when the learned state changes
MODEL_FORMATS_READ = (4,)  # the formats this code loads

# ---------------------------------------------------------------- not tuning: file format, numeric guards, presentation
SAVE_COMPRESSION = 3  # convention: joblib's zlib level 3, the usual size/speed middle
SEED_LIMIT = 2**31 - 1  # convention: per-tree seeds below this, inside the 32-bit range scikit-learn accepts
DIVISION_GUARD = 1e-12  # convention: keeps a division by a zero total finite (answers 0 there)
LOG_GUARD = 1e-9  # convention: keeps the log of a zero probability or size finite
LOGIT_LIMIT = 30.0  # convention: stacked log-odds beyond ±30 give probabilities 1e-13 from 0 or 1
ORDER_BELOW_ONE = 0.999999  # convention: an order value kept inside [0, 1) (a leaf's key is leaf + order)
COVARIANCE_JITTER = (1e-12, 1e-9)  # convention: absolute and relative diagonal added so a covariance solves
NUMBER_CAP = 1e12  # convention: larger magnitudes are capped; no measurement in a routing export is bigger
FIT_PROGRESS = {"routings": 0.1, "features": 0.2, "forest": 0.4, "imputation": 0.65, "additive": 0.7, "step_trees": 0.75, "stacking": 0.8, "durations": 0.85, "trial": 0.9}  # progress reported as each stage of a fit starts: rough shares of its time, chosen, not measured
SHOWN_VALUES = 3  # convention: likely values of a blank attribute, and attributes explaining a step, listed
SHOWN_NAMES = 5  # convention: names listed in a warning before "and n more"
SHOWN_WORDS = 8  # convention: words of a text column listed in the description of what a version reads
EXPLAIN_MIN_WEIGHT = 0.01  # convention: an attribute moving a step's probability by less than 1 point is not named


@dataclass(frozen=True)
class ParamDefaults:
    """Defaults of RoutingModel's own parameters (recorded as its params) and of LeafForest's."""

    top_k: int = 5  # chosen, not measured: a short list to check by hand
    similarity_threshold: float = 0.8  # chosen, not measured: below this cosine a neighbour is not "similar" (coverage)
    n_neighbors: int = 10  # chosen, not measured: similar items shown and timed per query
    n_estimators: int = 12  # chosen, not measured (LeafForest defaulted to 20 unused; this is what versions were fitted with)
    min_samples_leaf: int = 2  # convention: a leaf holds at least a pair, so a leaf mate exists
    max_features: float = 0.5  # chosen, not measured (LeafForest defaulted to 0.7 unused)
    vote_weight: float = 0.1  # measured: commit 6443782 (0.4 -> 0.1, top-1 on generated data, six seeds)
    min_split_gain: float = 0.0  # convention: no split is refused for a small gain (the leaf size bounds them)
    max_samples: float = 0.8  # chosen, not measured: each tree sees 80 % of the items (bagging)


@dataclass(frozen=True)
class VocabularyConfig:
    occurrences: int = 64  # a process the n-th time in one routing is its own step up to this n; chosen, not measured (5b231ce: more repeats no longer fail, they share a step)
    max_process_codes: int = 2_000  # codes beyond the most widespread are pooled into one; chosen, not compared (5b231ce: memory and time grow with the square of the codes)
    pooled_name: str = "OTHER_PROCESS"  # convention: says what the pooled step is
    prior_clip: float = 1e-3  # a step's base rate stays within [clip, 1 - clip]; chosen, not measured (finite log-odds)


@dataclass(frozen=True)
class FeatureConfig:
    """What the item featurizer (features.py, encoding.py) reads of an item."""

    min_frequency: int = 5  # a category or word needs this many items; chosen, not measured (first version, 0d12dd3)
    code_min_info: float = 0.02  # a code token is read when it tells this share of the routing's entropy; chosen, not measured
    weighting: bool = True  # attributes weighed by their relevance to the routing; on (off only for the plain baselines)
    max_categories: int = 200  # values kept per category column; chosen, not measured (bounds the one-hot width)
    blank_as_value: float = 0.1  # blanks in this share of items are a value of their own; chosen, not measured
    tree_onehot_max: int = 16  # the trees also see one-hot columns of a category with at most this many values; chosen, not measured
    log_skewed: bool = True  # skewed positive numbers are read as logs; on (sizes and weights differ by factors)
    skew_min: float = 1.0  # ... skewed meaning a sample skewness above this; convention: a common rule of thumb
    missing_indicators: bool = True  # a blank number gets an indicator column; on (a blank can say something)
    read_text: bool = True  # free-text columns are read through their words (text.py); on (9897803: deciding facts can be in a description)
    code_check: bool = True  # the code and each text must beat the attributes on held-out items; on (99e4a56: a new item often has no code)
    range_margin: float = 0.25  # a number is familiar within the training range widened by this share of it; chosen, not measured
    min_weight: float = 0.05  # no attribute weighs less than this; chosen, not measured (an attribute never vanishes)
    min_share: float = 0.002  # a code token or value needs this share of the items (and min_frequency) to count; chosen, not measured
    relevance_bins: int = 10  # a number is cut into this many quantile bins to measure its relevance; convention: deciles
    text_numbers_share: float = 0.8  # a category column whose values hold numbers this often gives their numbers; chosen, not measured
    text_numbers_min_values: int = 10  # ... when it has this many distinct values (or half the items) ...
    text_numbers_min_floor: int = 3  # ... and at least this many
    text_numbers_width: int = 4  # numbers read per value at most ("300x100x200" gives 3); chosen, not measured
    code_prefix_share: float = 0.5  # the code's prefix is a token when this share of codes has a separator; convention: most of them
    code_alpha_share: float = 0.5  # its leading letters when this share starts with letters; convention: most of them
    code_same_length: float = 0.9  # its first characters when this share of codes has the common length; chosen, not measured
    code_first_chars: int = 3  # first 1 .. this many characters are tokens; chosen, not measured
    check_rows: int = 6_000  # items the check of the code's and texts' worth is run on (a sample when more); chosen, not measured (time)
    check_min_items: int = 60  # fewer items: the code and texts are kept untested; chosen, not measured
    check_classes: int = 256  # routings told apart in the check (the rarer ones count as one); chosen, not measured (forest memory)
    check_parts: int = 3  # the check fits on all but 1 / this of the items and scores on the rest; convention: thirds
    check_trees: int = 20  # trees of the check's small forest; chosen, not measured
    code_min_lift: float = 0.01  # top-1 share the code must add to the attributes' to be kept; chosen, not measured (99e4a56: a new item often has no code)


@dataclass(frozen=True)
class TextConfig:
    """How free text is read (text.py)."""

    min_tokens: float = 1.5  # mean words per value for a column to be read as text; chosen, not measured
    rare_share: float = 0.2  # ... and this share of its items holding a value too rare to be a category; chosen, not measured
    max_terms: int = 64  # words kept per text column (the most relevant to the steps); chosen, not measured (9897803)
    min_evidence: float = 24.0  # G statistic a word needs against some step (chance: p < 1e-6 per step); measured: commit 4ea61d2 (valves plant, three draws)
    min_share: float = 0.02  # with no steps to tell, a word needs this share of the texts; chosen, not measured
    max_df: float = 0.95  # a word in more than this share of the texts tells nothing; chosen, not measured
    relevance_max_steps: int = 256  # steps a word's relevance is measured against (those varying most); chosen, not compared (5b03a69: memory with many process codes)
    max_keys: int = 8  # keyed numbers kept per text column ("DN50" -> DN = 50); chosen, not measured
    key_share: float = 0.05  # share of the column's texts a key must appear in; chosen, not measured
    key_values: int = 4  # ... with at least this many distinct numbers (a grade "SS304" has one); chosen, not measured
    key_followed: float = 0.8  # ... and followed by a number in this share of the texts that hold it; chosen, not measured
    key_sample: int = 20_000  # texts the keys are learned from (a sample when more); chosen, not measured (time)


@dataclass(frozen=True)
class NeighbourConfig:
    mate_window: int = 8  # training items per leaf considered as neighbours of a query; chosen, not measured
    knn_share: float = 0.5  # share of the routing vote given to the most similar items; chosen, not measured (an even split)
    knn_sharpness: float = 16.0  # similarity exponent of that vote; chosen, not measured
    knn_min_similarity: float = 1e-6  # similarities are floored here before the exponent; convention: keeps the power finite
    attr_norm_floor: float = 1e-6  # a codeless query's similarity is divided by its attributes' norm, at least this; convention: a guard
    vote_prior_count: float = 2.0  # votes of a routing seen n times weigh n / (n + this); chosen, not measured
    vote_clip: float = 1e-4  # the vote's step probabilities stay within [clip, 1 - clip]; chosen, not measured (finite log-odds)
    forest_max_outputs: int = 64  # the forest's trees split on at most this many steps; chosen, not measured (tree memory)
    forest_max_rows: int = 100_000  # items each tree is grown on at most (all are placed in leaves); chosen, not measured (2288463: time at scale)
    size_rows: int = 20_000  # items the size direction is found on (a stride through them); chosen, not measured (time)
    size_quantiles: int = 1_025  # points of the size score's quantile table; convention: 1,024 steps
    search_chunk: int = 2**18  # (query, item) pairs scored at once; convention: bounds memory, no effect on answers


@dataclass(frozen=True)
class ExpertConfig:
    linear_rows: int = 50_000  # items the additive model is fitted on (a sample when more); chosen, not measured (time)
    linear_alpha: float = 1.0  # ridge penalty, in % of the number of items ...; chosen, not measured
    linear_min_alpha: float = 3.0  # ... and at least this (a few items' worth: little data must not overrule similar items); chosen, not measured
    linear_clip: float = 0.001  # its probabilities stay within [clip, 1 - clip]; chosen, not measured
    tree_clip: float = 1e-3  # the step trees' probabilities and base rates likewise; chosen, not measured
    forest_clip: float = 1e-4  # the forest vote's probabilities likewise, before stacking; chosen, not measured
    step_tree_rows: int = 30_000  # items the step trees are grown on; chosen, not measured (time)
    step_tree_min_leaf: int = 5  # items per leaf at least ...; chosen, not measured
    step_tree_leaf_rows: int = 2_000  # ... and at least the items / this; chosen, not measured (bigger leaves on big data)
    step_tree_depth: int = 10  # chosen, not measured
    step_tree_min_positive: int = 3  # a step on fewer items (or missing from fewer) gets no tree; chosen, not measured
    step_tree_max: int = 64  # trees for the steps whose presence varies most; chosen, not measured (time)
    stack_folds: int = 3  # convention: three folds of out-of-fold answers (4a4e675)
    stack_rows: int = 4_000  # items answered out of fold; chosen, not measured (4a4e675; time)
    stack_cells: int = 2_000_000  # ... and at most this many (item, step) pairs; chosen, not measured (memory)
    stack_min_items: int = 60  # fewer items: the experts' odds are simply multiplied; chosen, not measured
    stack_ridge: float = 1e-3  # penalty of the stacking weights, per item; chosen, not measured
    stack_lift_cells: int = 400_000  # (item, step) answers each expert's held-out lift is measured on; measured: docs/benchmarks.md, 'Measured in passing' (time)
    stack_seed: int = 7  # seed of the lift's sample and halves; convention: a stream of its own, apart from random_state
    stack_tol: float = 1e-6  # tolerance of the stacking weights' Newton solve; chosen, not measured
    stack_max_iter: int = 50  # ... and its steps at most; chosen, not measured


@dataclass(frozen=True)
class ImputationConfig:
    max_values: int = 4  # values tried for one blank cell; chosen, not measured (rows per item)
    min_share: float = 0.1  # ... each at least this likely; chosen, not measured
    max_rows: int = 8  # rows per item after expanding all its blanks; chosen, not measured (time)
    rows: int = 5_000  # training items per attribute model; chosen, not measured (time)
    max_classes: int = 12  # attributes with more values use the similar items' values instead; chosen, not measured
    newton_max_size: int = 1_200  # features x classes fitted by Newton steps (else L-BFGS); chosen, not measured
    newton_cells: float = 4e8  # items x (features x classes)^2 per Newton step at most ...; measured: commit cce9af9 (imputers of a 100,000-item fit)
    newton_min_rows: int = 1_000  # ... but at least this many items; chosen, not measured
    newton_max_iter: int = 100  # Newton steps at most; convention: scikit-learn's default
    lbfgs_max_iter: int = 300  # L-BFGS steps at most; chosen, not measured (more, cheaper steps)
    absent_logit: float = -30.0  # intercept of a value absent from the fitted items; convention: probability ~1e-13
    size_min_rows: int = 20  # rows a group needs for its own spread of the log sizes; chosen, not measured
    size_max_nats: float = 12.0  # the sizes shift a value's log-odds by at most this much; chosen, not measured
    size_filled: float = 0.9  # a measurement joins a group's evidence when this share has it; chosen, not measured
    size_t_dof: float = 4.0  # degrees of freedom of the Student t of the log measurements; chosen, not measured (heavy tails)
    size_trial_parts: int = 3  # the size trial fits on all but 1 / this of the items; convention: thirds


@dataclass(frozen=True)
class DurationConfig:
    rows: int = 20_000  # rows per process the time model is fitted on; chosen, not measured (time)
    min_rows: int = 8  # fewer rows: no model, times of similar items only; chosen, not measured
    columns_per_row: int = 4  # ... and at least one row per this many design columns; chosen, not measured
    alpha: float = 1.0  # ridge penalty, in % of the rows ...; chosen, not measured
    min_alpha: float = 3.0  # ... and at least this; chosen, not measured
    zero_offset: float = 0.05  # log(time + this share of the median time): times of 0 stay finite; chosen, not measured
    median: float = 0.5  # convention: the time shown is the median ...
    low: float = 0.1  # ... its likely range from the 10th ...
    high: float = 0.9  # ... to the 90th percentile (convention: an 80 % range)

    @property
    def quantiles(self) -> list[float]:
        return [self.median, self.low, self.high]


@dataclass(frozen=True)
class CandidateConfig:
    batch: int = 2_000  # items per prediction batch; chosen, not measured (bounds the memory of one batch)
    max_voted: int = 12  # routings taken from the vote per row; chosen, not measured
    max_unsure: int = 5  # least certain steps flipped to compose alternatives; chosen, not measured
    unsure_margin: float = 0.02  # a step is unsure when its probability is within (this, 1 - this); chosen, not measured
    prob_clip: float = 1e-4  # step probabilities stay within [clip, 1 - clip] when sets are scored; chosen, not measured
    familiar_share: float = 0.5  # below this share of known values a dissimilar item falls back; chosen, not measured
    reference_overlap: float = 0.5  # a composed routing's references share at least this share of its steps; chosen, not measured (half)
    fallback_reference_pool: int = 20_000  # items of the fallback routing searched for references; chosen, not measured (time)
    fallback_references: int = 3  # reference items shown with a fallback; chosen, not measured
    fallback_score_scale: float = 0.25  # a fallback's score is this x its best similarity ...; chosen, not measured (stays below model candidates)
    fallback_score_floor: float = 0.05  # ... plus this; chosen, not measured
    step_number_gap: int = 10  # steps numbered 10, 20, 30 …; convention: how routings are numbered


@dataclass(frozen=True)
class TrialConfig:
    code_dropout: float = 0.3  # share of items whose code tokens are blanked when trees grow; chosen, not measured (9897803)
    dropout_seed: int = 3  # random_state + this seeds the blanking; convention: a stream apart from the parts'
    baseline_min_items: int = 400  # fewer items: no trial against the most frequent routing; chosen (99e4a56: a trial on 25 items misled)
    baseline_held: int = 1_000  # items the trial answers ...; chosen, not measured (time)
    baseline_held_parts: int = 4  # ... and at most 1 / this of the items; convention: a quarter
    baseline_fit: int = 4_000  # ... with a model fitted on at most this many others; chosen, not measured (time)
    baseline_seed: int = 4  # random_state + this seeds the trial's split; convention: a stream apart from the parts'


@dataclass(frozen=True)
class ModelConfig:
    vocabulary: VocabularyConfig = field(default_factory=VocabularyConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    text: TextConfig = field(default_factory=TextConfig)
    neighbours: NeighbourConfig = field(default_factory=NeighbourConfig)
    experts: ExpertConfig = field(default_factory=ExpertConfig)
    imputation: ImputationConfig = field(default_factory=ImputationConfig)
    durations: DurationConfig = field(default_factory=DurationConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)

    def __setstate__(self, state: dict) -> None:
        """A part missing from a saved config reads back as its defaults (a missing field of a part
        falls back to its class default by itself)."""
        for f in fields(self):
            if f.name not in state:
                state[f.name] = f.default_factory()
        self.__dict__.update(state)

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
