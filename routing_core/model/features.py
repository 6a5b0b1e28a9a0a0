"""Item features for the routing model: attributes, the words of free text (routing_core.model.text) and
the structure of the item code."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from routing_core.mapping.schema import ITEM
from routing_core.model.config import DIVISION_GUARD, LOG_GUARD, FeatureConfig, TextConfig
from routing_core.model.encoding import (
    BLANK,
    MISSING,
    NUMBER_RE,
    UNSEEN,
    Encoded,
    as_text,
    attribute_codes,
    code_tokens,
    collapse_rare,
    column_of,
    entropy,
    finite_values,
    held_out_lift,
    is_numeric,
    mutual_information,
    narrowed,
    number_fields,
    sample_skew,
    texts_of,
)
from routing_core.model.memo import thread_memo
from routing_core.model.text import (
    TOKEN_PATTERN,
    is_free_text,
    keyed_numbers,
    number_keys,
    step_relevance,
    text_terms,
)

_FEATURES, _TEXT = FeatureConfig(), TextConfig()


class ItemFeaturizer(TransformerMixin, BaseEstimator):
    """Item attributes (+ item code structure) -> dense float32 matrix for similarity and trees.

    Numbers: median-imputed, log-scaled when skewed, standardised, with a missing indicator.
    Categories: one-hot over values seen at least `min_frequency` times (others share no column).
    Text that holds numbers (e.g. dimensions "300x100x200") also gives the count and the values of
    its numbers. Code tokens (prefix, leading letters, first characters) are kept only when they
    carry information about the target passed to fit (`y`, e.g. the routing of each item).
    Each attribute's block is scaled by `weights_` (relevance to `y`), so cosine similarity on the
    output favours attributes that decide the routing.
    """


    # Class defaults: a featurizer saved before these parameters existed reads with the defaults.
    config: FeatureConfig | None = None
    text: TextConfig | None = None

    def __init__(self, attributes: list[str] | None = None, use_code: bool = True,
                 config: FeatureConfig | None = None, text: TextConfig | None = None) -> None:
        self.attributes = attributes
        self.use_code = use_code
        self.config = config  # what is read of an item (config.FeatureConfig; None: the defaults)
        self.text = text  # how free text is read (config.TextConfig; None: the defaults)

    settings = property(lambda self: self.config or _FEATURES)
    text_settings = property(lambda self: self.text or _TEXT)

    # -- building the raw columns (attributes + derived) ------------------------------------
    def derived(self, items: pd.DataFrame) -> pd.DataFrame:
        """The attribute columns plus derived ones (code tokens, numbers and words in text). One
        fit or prediction reads the same items several times, and reading text is slow on big
        data: inside `remembering()`, the last two results per featurizer are kept with their
        tables (so no other table takes their identity) until the block ends."""
        memo = thread_memo()
        if memo is None:
            return self._derive(items)
        key = (tuple(self.attributes_), tuple(getattr(self, "text_cols_", [])), tuple(self.text_number_cols_),
               tuple(self.code_cols_), len(getattr(self, "code_values_", None) or ()))
        kept = memo.get(id(self), (self, []))[1]
        for entry in kept:
            if entry[0] is items and entry[1] == key:
                return entry[2]
        out = next((f for f in (narrowed(m, items, key) for m in kept) if f is not None), None)
        out = self._derive(items) if out is None else out
        memo[id(self)] = (self, [*kept[-1:], (items, key, out)])  # self kept too: its id is not reused
        return out

    def _derive(self, items: pd.DataFrame) -> pd.DataFrame:
        cols: dict[str, object] = {}
        index = items.index
        text_cols = getattr(self, "text_cols_", [])
        for col in self.attributes_:
            if col not in text_cols:
                cols[col] = items[col] if col in items else pd.Series(np.nan, index=index)
        for col in self.text_number_cols_:
            width = self.text_number_width_[col]
            codes, uniques = pd.factorize(column_of(items, col), use_na_sentinel=True)  # each text once
            fields = [number_fields(t, width) for t in texts_of(pd.Series(uniques))] + [number_fields(None, width)]
            count = np.array([f[0] for f in fields], dtype=np.float64)
            cols[f"{col}#count"] = count[codes]
            for k in range(width):
                cols[f"{col}#{k + 1}"] = np.array([f[1][k] for f in fields], dtype=np.float64)[codes]
        for col in text_cols:
            cols.update(self._text_columns(col, column_of(items, col)))
        if self.code_cols_:
            codes = items[ITEM] if ITEM in items else pd.Series("", index=index)
            tokens = code_tokens(codes.fillna(""), only=self.code_cols_, config=self.settings)
            known = np.ones(len(index), dtype=bool)
            seen = self.code_values_
            for col in self.code_cols_:
                values = tokens[col].to_numpy(dtype=object)
                if seen is not None:
                    known &= pd.Index(values).isin(seen[col])
                cols[col] = values
            # A code in a pattern training never had (a new number range, or no code yet) tells
            # nothing: its tokens count as blank, and the item stands on its attributes.
            for col in self.code_cols_:
                cols[col] = np.where(known, cols[col], None)
        return pd.DataFrame(cols, index=index)

    def _text_columns(self, col: str, values: pd.Series) -> dict[str, np.ndarray]:
        """A free-text column as the model reads it: its first word without digits (a category:
        descriptions mostly start with what the item is), one 0/1 column per learned word, and the numbers
        written after learned keys ("DN50" -> DN = 50)."""
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        texts = [str(u) for u in uniques]
        terms = text_terms(texts)
        out: dict[str, np.ndarray] = {}
        head = np.array([next((w for w in t if not any(ch.isdigit() for ch in w)), None) for t in terms] + [None],
                        dtype=object)
        out[f"{col}:head"] = head[codes]
        vocab = self.text_terms_[col]
        has = np.zeros((len(uniques) + 1, len(vocab)), dtype=np.float64)
        position = {w: k for k, w in enumerate(vocab)}
        for u, words in enumerate(terms):
            for w in words:
                k = position.get(w)
                if k is not None:
                    has[u, k] = 1.0
        rows = has[codes]
        for k, w in enumerate(vocab):
            out[f"{col}[{w}]"] = rows[:, k]
        keys = self.text_keys_[col]
        if keys:
            found = [keyed_numbers(t) for t in texts] + [{}]
            table = np.array([[f.get(k, np.nan) for k in keys] for f in found], dtype=np.float64)
            for k, key in enumerate(keys):
                out[f"{col}#{key}"] = table[codes, k]
        return out

    def _learn_text_numbers(self, items: pd.DataFrame) -> None:
        """Text columns (not read through words) whose values mostly hold numbers, with many
        distinct values (dimensions "300x100x200"): their count and first numbers are read."""
        c = self.settings
        self.text_number_cols_: list[str] = []
        self.text_number_width_: dict[str, int] = {}
        for col in self.attributes_:
            s = items[col] if col in items else None
            if s is None or is_numeric(s) or pd.api.types.is_bool_dtype(s) or col in self.text_cols_:
                continue
            nonnull = s.dropna().astype("str")
            if nonnull.empty:
                continue
            has_num = nonnull.str.contains(NUMBER_RE, regex=True).mean()
            if has_num >= c.text_numbers_share and nonnull.nunique() >= min(
                    c.text_numbers_min_values, max(c.text_numbers_min_floor, len(items) // 2)):
                counts = nonnull.str.count(NUMBER_RE.pattern)
                self.text_number_cols_.append(col)
                self.text_number_width_[col] = int(min(max(counts.max(), 1), c.text_numbers_width))

    def _learn_text(self, items: pd.DataFrame, steps: np.ndarray | None) -> None:
        """Which attribute columns are free text, and the words and keys each is read through:
        words in at least min_frequency items (and not in nearly all), the max_terms that give
        the strongest evidence about a step; keys of numbers in key_share of the texts (TextConfig)."""
        from sklearn.feature_extraction.text import CountVectorizer

        tc = self.text_settings
        self.text_cols_: list[str] = []
        self.text_terms_: dict[str, list[str]] = {}
        self.text_keys_: dict[str, list[str]] = {}
        if not self.settings.read_text:
            return
        for col in self.attributes_:
            s = items[col] if col in items else None
            if s is None or is_numeric(s) or pd.api.types.is_bool_dtype(s):
                continue
            if not is_free_text(s, self.settings.min_frequency, self.settings.max_categories, tc):
                continue
            texts = texts_of(s)
            filled = [t for t in texts if t is not None]
            keys = number_keys(filled, max(self.settings.min_frequency, tc.key_share * len(filled)), tc)
            # A key with its number ("D40", "IT7") is read as the number; the words are the rest.
            # A key with its number ("D40", "IT7"), or a bare whole number where the text has keys
            # (the "40" of "dia 40"), is read as the number; the words are the rest.
            alternatives = "|".join(map(re.escape, (k for k in keys if not k.startswith("×"))))
            keyed = re.compile(rf"(?:{alternatives})\d+(?:[.,]\d+)?|\d+") if keys else None
            vectorizer = CountVectorizer(
                token_pattern=TOKEN_PATTERN, lowercase=False, binary=True,
                preprocessor=str.upper, min_df=self.settings.min_frequency, max_df=tc.max_df, dtype=np.float32,
            )
            try:
                T = vectorizer.fit_transform([t or "" for t in texts])
            except ValueError:  # no word frequent enough
                T = None
            terms: list[str] = []
            if T is not None:
                vocab = vectorizer.get_feature_names_out()
                scored = steps is not None and len(steps) == len(texts)
                if scored:
                    score = step_relevance(T.tocsc(), steps, tc.relevance_max_steps)
                else:  # no steps to tell: the words in at least 2 % of the texts
                    score = np.asarray(T.sum(axis=0)).ravel() / max(len(texts), 1)
                order = np.argsort(-score, kind="stable")
                keep = [k for k in order if score[k] >= (tc.min_evidence if scored else tc.min_share)
                        and not (keyed is not None and keyed.fullmatch(str(vocab[k])))][:tc.max_terms]
                terms = [str(vocab[k]) for k in keep]  # the most telling first
            self.text_cols_.append(col)
            self.text_terms_[col] = terms
            self.text_keys_[col] = keys

    def reading(self) -> dict:
        """What the fitted featurizer reads, as plain data (for the metrics of a version): the
        text columns with their words and keys, the code tokens used, and the held-out checks."""
        return {
            "text_columns": {col: {"words": list(self.text_terms_[col]), "keys": list(self.text_keys_[col])}
                             for col in getattr(self, "text_cols_", [])},
            "item_code_tokens": list(self.code_cols_),
            "checks": dict(getattr(self, "lift_", {})),
        }

    def encode(self, items: pd.DataFrame) -> Encoded:
        """The learned columns of `items` as arrays: numbers, and category codes (-1: a value
        not seen in training, -2: blank)."""
        raw = self.derived(items)
        num = {col: finite_values(raw[col]) for col in self.numeric_}
        cat = {}
        for col in self.categorical_:
            lookup = self.code_of_[col]
            blank = lookup.get(MISSING, BLANK)
            cat[col] = np.array([blank if t is None else lookup.get(t, UNSEEN) for t in texts_of(raw[col])],
                                dtype=np.int64)
        if self.code_cols_:  # a code with a token training did not learn tells nothing: all blank
            codeless = np.zeros(len(items), dtype=bool)
            for col in self.code_cols_:
                codeless |= cat[col] < 0
            for col in self.code_cols_:
                cat[col] = np.where(codeless, BLANK, cat[col])
        return Encoded(len(items), num, cat)

    def fit(self, items: pd.DataFrame, y: np.ndarray | None = None,
            steps: np.ndarray | None = None) -> ItemFeaturizer:
        """Learn imputation, scaling, categories, words of text, useful code tokens and attribute
        weights. `y`: the routing of each item; `steps`: which steps each item has (n x S bool),
        to keep the words that tell them."""
        attrs = list(self.attributes) if self.attributes is not None else [
            c for c in items.columns if c != ITEM
        ]
        self.attributes_ = [c for c in attrs if c != ITEM]
        n = len(items)
        self._learn_text(items, steps)
        self._learn_text_numbers(items)
        self.code_cols_: list[str] = []
        self.code_values_: dict[str, pd.Index] = {}
        if self.use_code and ITEM in items and y is not None:
            tokens = code_tokens(items[ITEM], config=self.settings)
            y_codes = pd.factorize(np.asarray(y))[0]
            hy = entropy(np.bincount(y_codes)) or 1.0
            min_count = max(self.settings.min_frequency, int(self.settings.min_share * n))
            for col in tokens.columns:
                x = collapse_rare(tokens[col], min_count)
                if x.max() < 1:
                    continue
                if mutual_information(x, y_codes) / hy >= self.settings.code_min_info:
                    self.code_cols_.append(col)
            self.code_values_ = {col: pd.Index(tokens[col].astype("str").unique()) for col in self.code_cols_}
        self._fit_columns(items, y)
        self.lift_: dict[str, dict] = {}
        if self.settings.code_check and y is not None and (self.code_cols_ or self.text_cols_):
            self._keep_what_earns_its_place(items, y)
        return self

    def _keep_what_earns_its_place(self, items: pd.DataFrame, y: np.ndarray) -> None:
        """Drop the item code's tokens, and each free-text column (its first word, words and keyed
        numbers: the whole column), where they do not tell the routing better than the other
        attributes on items held out of the fit.

        The code: a new item often has no code yet, or one from a new number range, so a model
        leaning on it answers those worse; it must win clearly (by code_min_lift of the items).
        A text: an item text often repeats the structured attributes ("SHAFT D40 S45C HT"), and
        read twice they only dilute the trees; it must win beyond chance, or it is left out.
        The test: a small forest predicting the routing, with and without the part, scored on a
        third of the items; wins and losses are compared by a paired sign test (two standard
        errors). The figures are kept in `lift_`.
        """
        c = self.settings
        rng = np.random.default_rng(0)
        rows = rng.permutation(len(items))[:c.check_rows]
        if len(rows) < c.check_min_items:
            return  # too few items to tell: everything stays
        # The most frequent routings as classes, the rest as one (a forest's memory grows with
        # leaves x classes).
        codes, _ = pd.factorize(np.asarray(y)[rows])
        counts = np.bincount(codes)
        top = np.argsort(-counts, kind="stable")[:c.check_classes]
        label = np.full(len(counts), len(top))
        label[top] = np.arange(len(top))
        target = label[codes]
        X = np.nan_to_num(self.ordinal(self.encode(items.iloc[rows])), nan=-1.0)
        cut = (2 * len(rows)) // c.check_parts
        parts = {"item code": (self.code_columns_ordinal_, c.code_min_lift)} if self.code_cols_ else {}
        for col in self.text_cols_:
            parts[col] = (self._ordinal_columns(self._text_column_names(col)), 0.0)
        lift, dropped = held_out_lift(X, target, cut, parts, c.check_trees)
        self.lift_.update(lift)
        if not dropped:
            return
        if "item code" in dropped:
            self.code_cols_, self.code_values_ = [], {}
        self.text_cols_ = [c for c in self.text_cols_ if c not in dropped]
        self.attributes_ = [c for c in self.attributes_ if c not in dropped]
        self._fit_columns(items, y)

    def _text_column_names(self, col: str) -> list[str]:
        """The derived columns a text column is read through (first word, words, keyed numbers)."""
        return [f"{col}:head", *(f"{col}[{w}]" for w in self.text_terms_[col]),
                *(f"{col}#{k}" for k in self.text_keys_[col])]

    def _ordinal_columns(self, names: list[str]) -> np.ndarray:
        """Columns of the tree features (transform_ordinal) holding the derived columns `names`."""
        wanted = set(names)
        n_num = len(self.numeric_)
        out = [i for i, c in enumerate(self.numeric_) if c in wanted]
        for j, col in enumerate(self.categorical_):
            if col in wanted:
                out.append(n_num + j)
                start = self.tree_onehot_.get(j)
                if start is not None:
                    out.extend(range(start, start + len(self.categories_[col])))
        return np.asarray(out, dtype=np.int64)

    def _fit_columns(self, items: pd.DataFrame, y: np.ndarray | None) -> None:
        """Imputation, scaling, categories, layout and weights of the derived columns."""
        n, margin = len(items), self.settings.range_margin
        raw = self.derived(items)
        self.numeric_: list[str] = []
        self.categorical_: list[str] = []
        self.median_: dict[str, float] = {}
        self.log_: dict[str, bool] = {}
        self.mean_: dict[str, float] = {}
        self.scale_: dict[str, float] = {}
        self.categories_: dict[str, list[str]] = {}
        self.has_missing_: dict[str, bool] = {}
        self.log_positive_: dict[str, bool] = {}
        self.range_: dict[str, tuple[float, float]] = {}
        self.log_stats_: dict[str, tuple[float, float]] = {}
        for col in raw.columns:
            s = raw[col]
            if is_numeric(s):
                v = finite_values(s)
                ok = ~np.isnan(v)
                if not ok.any():
                    continue
                self.numeric_.append(col)
                positive = bool((v[ok] >= 0).all())
                skewed = self.settings.log_skewed and positive and np.nanmax(v) > 0 and sample_skew(v[ok]) > self.settings.skew_min
                self.log_[col] = skewed
                if skewed:
                    v = np.log1p(v)
                med = float(np.median(v[ok]))
                v = np.where(ok, v, med)
                self.median_[col] = med
                self.mean_[col] = float(v.mean())
                self.scale_[col] = float(v.std()) or 1.0
                self.has_missing_[col] = self.settings.missing_indicators and bool((~ok).any())
                finite = finite_values(s)
                finite = finite[~np.isnan(finite)]
                spread = float(finite.max() - finite.min())
                self.range_[col] = (float(finite.min()) - margin * spread, float(finite.max()) + margin * spread)
                raw_ok = finite_values(s)
                raw_ok = raw_ok[~np.isnan(raw_ok)]
                positive_all = bool((raw_ok > 0).all())
                self.log_positive_[col] = positive_all
                if positive_all:
                    lv = np.log(raw_ok)
                    self.log_stats_[col] = (float(lv.mean()), float(lv.std()) or 1.0)
            else:
                text = as_text(s)
                # Sporadic blanks are gaps (unknown value); blanks in a large share of items
                # are a value of their own (e.g. "no treatment" left empty).
                if s.isna().mean() < self.settings.blank_as_value:
                    text = text[s.notna()]
                counts = text.value_counts()
                keep = counts[counts >= self.settings.min_frequency].index[: self.settings.max_categories]
                if len(keep) == 0:
                    continue
                self.categorical_.append(col)
                self.categories_[col] = [str(v) for v in keep]
        self._build_layout()
        self.tree_onehot_: dict[int, int] = {}
        width = len(self.numeric_) + len(self.categorical_)
        for j, col in enumerate(self.categorical_):
            if 2 < len(self.categories_[col]) <= self.settings.tree_onehot_max:
                self.tree_onehot_[j] = width
                width += len(self.categories_[col])
        self.weights_ = {col: 1.0 for col in self.numeric_ + self.categorical_}
        if self.settings.weighting and y is not None and n > 0:
            self.weights_ = self._relevance(raw, np.asarray(y))
        self._scale_vector()

    def _build_layout(self) -> None:
        names: list[str] = []
        self.blocks_: dict[str, list[int]] = {}
        for col in self.numeric_:
            idx = [len(names)]
            names.append(col)
            if self.has_missing_[col]:
                idx.append(len(names))
                names.append(f"{col}=<missing>")
            self.blocks_[col] = idx
        self.cat_index_: dict[str, dict[str, int]] = {}
        self.code_of_: dict[str, dict[str, int]] = {}
        for col in self.categorical_:
            start = len(names)
            self.cat_index_[col] = {v: start + i for i, v in enumerate(self.categories_[col])}
            self.code_of_[col] = {v: i for i, v in enumerate(self.categories_[col])}
            names.extend(f"{col}={v}" for v in self.categories_[col])
            self.blocks_[col] = list(range(start, len(names)))
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)

    def _relevance(self, raw: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
        """Weight of each column: sqrt of its normalised mutual information with y (floor: min_weight)."""
        y_codes = pd.factorize(y)[0]
        hy = entropy(np.bincount(y_codes)) or 1.0
        min_count = max(self.settings.min_frequency, int(self.settings.min_share * len(raw)))
        weights = {}
        for col in self.numeric_ + self.categorical_:
            x = attribute_codes(raw, col, col in self.median_, min_count, self.settings.relevance_bins)
            info = mutual_information(x, y_codes) / hy
            weights[col] = float(max(np.sqrt(max(info, 0.0)), self.settings.min_weight))
        top = max(weights.values(), default=1.0) or 1.0
        return {col: w / top for col, w in weights.items()}

    def _scale_vector(self) -> None:
        w = np.ones(self.n_features_out_, dtype=np.float32)
        for col, idx in self.blocks_.items():
            weight = self.weights_.get(col, 1.0)
            if col in self.categories_:
                # A one-hot block has norm 1; scale so a category mismatch costs like ~2 std.
                weight *= np.sqrt(2.0)
            w[idx] = weight
        self.column_weight_ = w

    def transform(self, items: pd.DataFrame) -> np.ndarray:
        """Dense float32 matrix, one row per item (unknown categories and blank cells are zeros)."""
        return self.dense(self.encode(items))

    def dense(self, enc: Encoded) -> np.ndarray:
        out = np.zeros((enc.n, self.n_features_out_), dtype=np.float32)
        for col in self.numeric_:
            v = enc.num[col]
            miss = np.isnan(v)
            if self.log_[col]:
                v = np.log1p(np.clip(v, 0, None))
            v = np.where(miss, self.median_[col], v)
            idx = self.blocks_[col]
            out[:, idx[0]] = (v - self.mean_[col]) / self.scale_[col]
            if len(idx) > 1:
                out[:, idx[1]] = miss
        for col in self.categorical_:
            code = enc.cat[col]
            ok = np.flatnonzero(code >= 0)
            out[ok, self.blocks_[col][0] + code[ok]] = 1.0
        out *= self.column_weight_
        return out

    def transform_both(self, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(transform(items), transform_ordinal(items)) sharing one pass over the columns."""
        enc = self.encode(items)
        return self.dense(enc), self.ordinal(enc)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_out_

    # -- a tree-friendly view: one column per attribute, categories as integer codes --------
    def transform_ordinal(self, items: pd.DataFrame) -> np.ndarray:
        """Dense float64 matrix with one column per numeric/categorical column (NaN = missing
        or unseen), then one-hot columns of the small categoricals."""
        return self.ordinal(self.encode(items))

    def ordinal(self, enc: Encoded) -> np.ndarray:
        cols = [enc.num[col] for col in self.numeric_]
        cols += [np.where(enc.cat[col] >= 0, enc.cat[col], np.nan) for col in self.categorical_]
        if not cols:
            return np.zeros((enc.n, 0))
        out = np.column_stack(cols).astype(np.float64)
        # Small categories also one-hot: a tree then isolates one value in a single split.
        extra = []
        n_num = len(self.numeric_)
        for j in self.tree_onehot_:
            codes = out[:, n_num + j]
            block = (codes[:, None] == np.arange(len(self.categories_[self.categorical_[j]]))).astype(np.float64)
            block[np.isnan(codes)] = np.nan
            extra.append(block)
        return np.hstack([out, *extra]) if extra else out

    def imputation_design(self, enc: Encoded) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Unweighted features for predicting one attribute from the others: standardised numbers
        (and their logs, so products and ratios of sizes become linear), missing indicators and
        one-hot categories. Also the columns of each categorical (to leave out when it is the target)."""
        dense = self.dense(enc) / np.where(self.column_weight_ > 0, self.column_weight_, 1.0)
        logs = []
        for col in self.numeric_:
            if not self.log_positive_.get(col, False):
                continue
            lv = np.log(np.clip(enc.num[col], LOG_GUARD, None))
            mean, scale = self.log_stats_[col]
            logs.append(np.where(np.isnan(lv), 0.0, (lv - mean) / scale))
        Z = np.hstack([dense, np.column_stack(logs)]) if logs else dense
        blocks = {j: np.asarray(self.blocks_[col]) for j, col in enumerate(self.categorical_)}
        return Z.astype(np.float32), blocks

    def familiarity(self, enc: Encoded) -> np.ndarray:
        """Per row, the relevance-weighted share of columns whose value the training data knows:
        a category seen there, or a number inside the training range. Blank cells count as
        unknown; the item code and the words and keyed numbers of a text do not count (a new item
        often has no code yet; a word or a key its text lacks is not unknown)."""
        total = np.zeros(enc.n)
        known = np.zeros(enc.n)
        words = self.word_columns_ | {f"{c}#{k}" for c, keys in getattr(self, "text_keys_", {}).items() for k in keys}
        for col in self.numeric_:
            if col in words:
                continue
            w = self.weights_.get(col, 1.0)
            lo, hi = self.range_[col]
            known += w * ((enc.num[col] >= lo) & (enc.num[col] <= hi))
            total += w
        for col in self.categorical_:
            if col in self.code_cols_:
                continue
            w = self.weights_.get(col, 1.0)
            known += w * (enc.cat[col] >= 0)
            total += w
        return np.where(total > 0, known / np.maximum(total, DIVISION_GUARD), 0.0)

    def set_category(self, x: np.ndarray, j: int, value: float) -> None:
        """Set categorical column j (index into categorical_) of a tree-feature row to a code."""
        x[len(self.numeric_) + j] = value
        start = self.tree_onehot_.get(j)
        if start is not None:
            size = len(self.categories_[self.categorical_[j]])
            x[start : start + size] = 0.0
            x[start + int(value)] = 1.0

    def codeless(self, enc: Encoded) -> np.ndarray:
        """Per row, whether the item came without a familiar code (its code tokens are blank)."""
        out = np.zeros(enc.n, dtype=bool)
        for col in self.code_cols_:
            out |= enc.cat[col] < 0
        return out

    @property
    def code_columns_out_(self) -> np.ndarray:
        """Columns of the dense output that hold the item code's tokens."""
        return np.asarray([i for c in self.code_cols_ if c in self.blocks_ for i in self.blocks_[c]],
                          dtype=np.int64)

    @property
    def code_columns_ordinal_(self) -> np.ndarray:
        """Columns of the tree features (transform_ordinal) that hold the item code's tokens."""
        return self._ordinal_columns(self.code_cols_)

    @property
    def word_columns_(self) -> set[str]:
        """The 0/1 columns of the learned words of text attributes."""
        return {f"{col}[{w}]" for col, terms in getattr(self, "text_terms_", {}).items() for w in terms}
