"""Candidate routings: scored, ordered, with references and times, and the special candidates
(an item's own known routing, the most frequent routing when it leads, the fallback)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from routing_core.model.config import CandidateConfig
from routing_core.model.durations import StepEvidence
from routing_core.model.features import ItemFeaturizer, attribute_codes, mutual_information
from routing_core.model.neighbours import Neighbours
from routing_core.model.output import Candidate, ItemPrediction, Step, probability
from routing_core.model.vocabulary import Vocabulary


def group_words(column: str, value: str) -> str:
    """A group in words: "item code prefix SH", "material C45"."""
    part = {"code:prefix": "item code prefix", "code:alpha": "item code letters", "code:length": "item code length"}
    if column in part:
        return f"{part[column]} {value}"
    if column.startswith("code:first"):
        return f"item code starting {value}"
    return f"{column} {value}"


def fallback_group(featurizer: ItemFeaturizer, item_frame: pd.DataFrame, item_routing: np.ndarray
                   ) -> tuple[str | None, dict[str, tuple[int, int]]]:
    """(the categorical column that tells most about the routing (mutual information), and per
    value of it (routing, items) of its most frequent routing)."""
    raw = featurizer.derived(item_frame)
    best, best_info = None, 0.0
    for col in featurizer.categorical_:
        info = mutual_information(attribute_codes(raw, col, False, 1), item_routing)
        if info > best_info:
            best, best_info = col, info
    routing_of: dict[str, tuple[int, int]] = {}
    if best is not None:
        values = raw[best].astype("str").where(raw[best].notna(), None)
        frame = pd.DataFrame({"g": values.to_numpy(), "r": item_routing}).dropna()
        top = frame.groupby(["g", "r"]).size().reset_index(name="n")
        top = top.sort_values(["g", "n"], ascending=[True, False]).drop_duplicates("g")
        routing_of = {str(g): (int(r), int(n)) for g, r, n in top.itertuples(index=False)}
    return best, routing_of


@dataclass(frozen=True)
class ItemQuery:
    """One item as the parts found it: its row in the batch and code, its neighbours and their
    similarities, its group's value, the share of its values training knew, its neighbour query
    (and whether it had no code to search by), and its step probabilities (shown per step)."""

    row: int
    code: object
    neighbours: np.ndarray
    similarities: np.ndarray
    group: object
    familiar: float
    query: np.ndarray
    codeless: bool
    step_probs: np.ndarray


class CandidateBuilder:
    """Ranks step sets and voted routings, and assembles the candidates of one item."""

    def __init__(self, vocab: Vocabulary, neighbours: Neighbours, evidence: StepEvidence,
                 config: CandidateConfig, *, n_neighbors: int, similarity_threshold: float,
                 vote_weight: float, group_column: str | None, group_routing: dict,
                 baseline_trial: dict | None = None, baseline_leads: bool = False) -> None:
        self.vocab, self.neighbours, self.evidence, self.config = vocab, neighbours, evidence, config
        self.n_neighbors, self.similarity_threshold, self.vote_weight = n_neighbors, similarity_threshold, vote_weight
        self.group_column, self.group_routing = group_column, group_routing
        self.top_routing = int(np.argmax(vocab.routing_count_))
        self.baseline_trial, self.baseline_leads = baseline_trial, baseline_leads

    def rank(self, probs: np.ndarray, votes: list[dict[int, float]], weights: np.ndarray, top_k: int,
             cache: dict | None = None) -> list[tuple[float, list[int], int | None]]:
        """Candidate routings scored by the forest's vote for whole routings blended with the
        joint probability of their steps.

        Candidates: the routings of the leaf mates, and step sets composed from step
        probabilities (the most likely set and its variants on the least certain steps), which
        may be routings never seen whole. With several imputed rows (blank attributes), scores
        are their weighted mix.
        """
        v, c = self.vocab, self.config
        p = np.clip(probs, c.prob_clip, 1 - c.prob_clip)
        lp1, lp0 = np.log(p), np.log1p(-p)
        base = lp0.sum(axis=1)
        gain = lp1 - lp0
        pool: dict[tuple[int, ...], int | None] = {}
        for e in range(len(p)):
            for r, _ in sorted(votes[e].items(), key=lambda kv: -kv[1])[: c.max_voted]:
                pool.setdefault(tuple(v.routing_token_lists_[r]), r)
            best = frozenset(np.flatnonzero(p[e] >= 0.5).tolist())
            unsure = [int(t) for t in np.argsort(np.abs(p[e] - 0.5))[: c.max_unsure] if c.unsure_margin < p[e, t] < 1 - c.unsure_margin]
            proposals = [best] + [best ^ {t} for t in unsure]
            proposals += [best ^ {a, b} for j, a in enumerate(unsure) for b in unsure[j + 1 :]]
            for s in proposals:
                if not s or not v.consistent(s):
                    continue
                routing = v.routing_by_set_.get(s)
                pool.setdefault(tuple(v.order(s, routing, cache)), routing)
        keys = list(pool)
        incidence = np.zeros((len(keys), p.shape[1]))
        order_p = np.ones(len(keys))
        for k, toks in enumerate(keys):
            incidence[k, list(toks)] = 1.0
            r = pool[toks]
            if r is not None:  # how often this set of steps comes in this order
                order_p[k] = v.routing_count_[r] / v.set_count_[r]
        joint = np.exp(base[None, :] + incidence @ gain.T) * order_p[:, None]  # candidates x rows
        voted = np.array([[votes[e].get(pool[k], 0.0) if pool[k] is not None else 0.0
                           for e in range(len(p))] for k in keys])
        w = self.vote_weight
        score = (w * voted + (1 - w) * joint) @ weights
        order = np.argsort(-score, kind="stable")[: top_k * 2 + 2]
        return [(float(score[k]), list(keys[k]), pool[keys[k]]) for k in order]

    def assemble(self, item: ItemQuery, scored, evidence, top_k, ignore_history) -> ItemPrediction:
        """The item's candidates: its own routing when known, the most frequent routing when it
        leads, the fallback when nothing is similar and most values are unknown, then the ranked
        ones (`scored`, from rank)."""
        i, code, nn_idx, nn_sim, probs = item.row, item.code, item.neighbours, item.similarities, item.step_probs
        familiar, group, query, codeless = item.familiar, item.group, item.query, item.codeless
        v = self.vocab
        candidates: list[Candidate] = []
        known = not ignore_history and code in v.item_index_
        if known:
            candidates.append(self.known(v.item_index_[code]))
        best_sim = float(nn_sim[0]) if len(nn_sim) else 0.0
        # Nothing similar enough and most of the item's values unknown to training: fall back. An
        # item whose values are known is answered by the model even when no single training item
        # is close (a new combination of known options), however unsure: the group's most frequent
        # routing was right less often than the model's candidate on such items.
        fallback = not known and best_sim < self.similarity_threshold and familiar < self.config.familiar_share
        message = "Known item: candidate 1 is its routing in the training data." if known else ""
        scale = 1.0
        if not known and not fallback and self.baseline_leads:
            lead = self.baseline(i, nn_idx, nn_sim, evidence, probs)
            candidates.append(lead)
            message = lead.note
        if fallback:
            fb = self.fallback(i, group, best_sim, query, evidence, codeless, probs)
            candidates.append(fb)
            message = fb.note
            scale = fb.score
        valid = nn_idx >= 0
        nb = (nn_idx[valid], v.item_routing_[nn_idx[valid]], nn_sim[valid])
        seen = {tuple(c.processes) for c in candidates}
        for score, toks, routing in scored:
            if len(candidates) >= top_k:
                break
            procs = v.token_processes(toks)
            if procs in seen:
                continue
            seen.add(procs)
            refs, exact = self.references(toks, routing, nb, exclude=str(code) if known else None)
            note = "" if exact or not refs else (
                "No similar item has exactly this routing: the reference items share most of its steps.")
            candidates.append(self.candidate(i, toks, score * scale, refs, evidence, "model", note, probs))
        for rank, c in enumerate(candidates, start=1):
            c.rank = rank
        return ItemPrediction(str(code), candidates[:top_k], known, fallback, message)

    def candidate(self, i: int, toks, score, refs, evidence, kind, note, probs=None) -> Candidate:
        steps = [self.evidence.step(i, self.config.step_number_gap * (j + 1), t, evidence, None if probs is None else float(probs[t]))
                 for j, t in enumerate(toks)]
        durations = [s.duration_min for s in steps if s.duration_min is not None]
        total = float(sum(durations)) if durations else None
        return Candidate(0, float(probability(score)), steps, total, refs, kind, note)

    def references(self, toks, routing, nb, exclude: str | None = None) -> tuple[list[tuple[str, float]], bool]:
        """The similar items with this routing, most similar first, and True; when none has it
        (a composed routing), those sharing most of its steps, and False. `exclude` is the item
        asked about (its own routing is another candidate)."""
        v = self.vocab
        idx, routings, sims = nb
        if routing is not None:
            found = [(str(v.items_[idx[j]]), round(float(sims[j]), 4)) for j in np.flatnonzero(routings == routing)]
            found = [(c, s) for c, s in found if c != exclude]
            if found:
                return found[: self.n_neighbors], True
        target = frozenset(toks)
        scored = []
        for j in range(len(idx)):
            other = v.routing_tokens_[routings[j]]
            overlap = len(target & other) / max(len(target | other), 1)
            if overlap < self.config.reference_overlap:
                continue
            code = str(v.items_[idx[j]])
            if code != exclude:
                scored.append((overlap * float(sims[j]), code, float(sims[j])))
        best = sorted(scored, reverse=True)[: self.n_neighbors]
        return [(c, round(s, 4)) for _, c, s in sorted(best, key=lambda t: -t[2])], False

    def known(self, i: int) -> Candidate:
        """Training item i's own routing, as recorded."""
        v = self.vocab
        steps = []
        for j, r in enumerate(range(v.item_ptr_[i], v.item_ptr_[i + 1])):
            d = v.row_duration_[r]
            d = None if d != d else float(d)
            attrs = {c: (v.op_values_[c][codes[r]] if codes[r] >= 0 else None) for c, codes in v.row_op_.items()}
            steps.append(Step(self.config.step_number_gap * (j + 1), v.processes_[v.row_process_[r]], d, d, d, attrs))
        durations = [s.duration_min for s in steps if s.duration_min is not None]
        return Candidate(rank=1, score=1.0, steps=steps,
                         total_duration_min=float(sum(durations)) if durations else None,
                         references=[(str(v.items_[i]), 1.0)], kind="known",
                         note="The item's own routing in the training data.")

    def baseline(self, i: int, nn_idx: np.ndarray, nn_sim: np.ndarray, evidence: dict, probs=None) -> Candidate:
        """The most frequent routing, leading the candidates of a model that did not beat it on
        held-out items (trial.baseline_trial)."""
        v, trial, routing = self.vocab, self.baseline_trial, self.top_routing
        toks = v.order(v.routing_tokens_[routing], routing)
        valid = nn_idx >= 0
        refs, _ = self.references(toks, routing, (nn_idx[valid], v.item_routing_[nn_idx[valid]], nn_sim[valid]))
        note = (
            "The most frequent routing leads: on items held out in training, the model's first "
            f"candidates were no closer to the recorded routings (sequence similarity "
            f"{trial['model_similarity']:.2f} against {trial['most_frequent_similarity']:.2f}). "
            "The attributes say little about the routing; the model's candidates follow."
        )
        share = float(v.routing_count_[routing] / max(v.n_items_, 1))
        return self.candidate(i, toks, share, refs, evidence, "baseline", note, probs)

    def fallback(self, i: int, group, best_sim: float, query: np.ndarray, evidence: dict,
                 codeless: bool = False, probs=None) -> Candidate:
        """The most frequent routing of the item's group (else overall), with a low score."""
        v = self.vocab
        key = None if group is None or (isinstance(group, float) and math.isnan(group)) else str(group)
        if key is not None and key in self.group_routing:
            routing, n = self.group_routing[key]
            where = f"the most frequent routing of items with {group_words(self.group_column, key)} ({n} items)"
        else:
            routing = self.top_routing
            where = f"the most frequent routing overall ({int(v.routing_count_[routing])} items)"
        note = (
            f"No training item is similar enough (best similarity {best_sim:.2f} < "
            f"{self.similarity_threshold:.2f}); proposing {where}."
        )
        toks = v.order(v.routing_tokens_[routing], routing)
        c = self.config
        score = c.fallback_score_scale * max(best_sim, 0.0) + c.fallback_score_floor
        members = np.flatnonzero(v.item_routing_ == routing)[: self.config.fallback_reference_pool]
        X = self.neighbours.X_
        sims = np.clip(self.neighbours.attribute_similarity(X[members] @ query, members, codeless), 0.0, 1.0)
        best = np.argsort(-sims, kind="stable")[: c.fallback_references]
        refs = [(str(v.items_[members[j]]), round(float(sims[j]), 4)) for j in best]
        return self.candidate(i, toks, score, refs, evidence, "fallback", note, probs)
