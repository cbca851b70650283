"""Combining laws per observable: a weighted product of experts with a noise floor.

For a predicted observable with domain size D and active experts i (laws that fired), each giving a
distribution p_i over values,

    score(v) = sum_i w_i * log((1 - eps) * p_i(v) + eps / D),     P(v) = exp(score(v)) / Z,

normalised over the whole domain: values no expert names share the score sum_i w_i * log(eps / D),
so Z is exact without enumerating the domain. A lone expert speaks for itself (w = 1): weights only
arbitrate between laws that predict the same observable, which keeps a law's own probabilities
meaningful (a sapling probability of 0.1 is 0.1). An observable no law predicts keeps its value with
probability 1 - q_c and otherwise takes any other value uniformly, where q_c is fitted per class.

All functions are batched over a `laws.table.Table` and differentiable in the parameters.
"""

from __future__ import annotations

import dataclasses

import torch

from lawsmith.laws.table import Table

NOISE_FLOOR = 1e-3


@dataclasses.dataclass
class Scores:
    """Per group: `log_z` [G] and `rest` [G] (score of each unnamed value); per slot `score` [S]."""
    score: torch.Tensor
    rest: torch.Tensor
    log_z: torch.Tensor


def active_experts(table: Table, law_mask: torch.Tensor | None) -> torch.Tensor:
    """How many experts of each group belong to laws still in the model. [G]"""
    active = (torch.ones_like(table.expert_law, dtype=torch.float64) if law_mask is None
              else law_mask[table.expert_law].to(torch.float64))
    return torch.zeros(len(table.group_domain), dtype=torch.float64,
                       device=active.device).index_add_(0, table.expert_group, active)


def expert_weights(table: Table, weights: torch.Tensor,
                   law_mask: torch.Tensor | None = None,
                   global_weights: bool = False) -> torch.Tensor:
    """The weight each expert gets: its law's weight, 1 when it is alone on its group (unless
    `global_weights`: PoE-World weighs every expert, alone or not), 0 when its law is masked
    out. [X]"""
    w = weights[table.expert_law]
    if not global_weights:
        alone = active_experts(table, law_mask)[table.expert_group] == 1
        w = torch.where(alone, torch.ones((), dtype=weights.dtype, device=weights.device), w)
    return w if law_mask is None else w * law_mask[table.expert_law]


def pair_probabilities(table: Table, probabilities: torch.Tensor) -> torch.Tensor:
    """The probability each expert gives each of its slots (the product of its entries' fixed
    and fitted probabilities, summed over the entries of one pair). [P]"""
    probs = torch.cat([table.constants, probabilities])[table.entry_prob]
    return torch.zeros(len(table.pair_expert), dtype=torch.float64,
                       device=probs.device).index_add_(0, table.entry_pair, probs)


def scores(table: Table, probabilities: torch.Tensor, weights: torch.Tensor,
           eps: float = NOISE_FLOOR, law_mask: torch.Tensor | None = None,
           global_weights: bool = False) -> Scores:
    """Slot scores and log-normalisers for every group (groups with no active law: meaningless)."""
    G, S = len(table.group_domain), len(table.slot_group)
    pair_p = pair_probabilities(table, probabilities)
    floor = torch.log(eps / table.group_domain)                           # [G]
    w = expert_weights(table, weights, law_mask, global_weights)         # [X]
    pair_group = table.expert_group[table.pair_expert]
    gain = w[table.pair_expert] * (torch.log((1 - eps) * pair_p + eps / table.group_domain[pair_group])
                                   - floor[pair_group])
    base = torch.zeros(G, dtype=torch.float64, device=w.device).index_add_(
        0, table.expert_group, w * floor[table.expert_group])
    score = base[table.slot_group] + torch.zeros(S, dtype=torch.float64, device=w.device).index_add_(
        0, table.pair_slot, gain)
    rest_count = table.group_domain - table.group_slot_count
    rest_total = torch.where(rest_count > 0, base + torch.log(rest_count.clamp(min=1)),
                             torch.full_like(base, -torch.inf))
    top = torch.maximum(torch.full((G,), -torch.inf, dtype=torch.float64, device=w.device)
                        .scatter_reduce(0, table.slot_group, score, "amax"), rest_total)
    total = torch.zeros(G, dtype=torch.float64, device=w.device).index_add_(
        0, table.slot_group, torch.exp(score - top[table.slot_group])) + torch.exp(rest_total - top)
    return Scores(score, base, top + torch.log(total))


def group_log_probs(table: Table, scored: Scores, change: torch.Tensor,
                    law_mask: torch.Tensor | None = None) -> torch.Tensor:
    """log P(observed value) for every predicted observable; a group whose laws are all masked out
    is scored as unexplained. [G]"""
    observed = table.group_observed
    hit = scored.score[observed.clamp(min=0)]
    predicted = torch.where(observed >= 0, hit, scored.rest) - scored.log_z
    if law_mask is None:
        return predicted
    q = change[table.group_class]
    alone = torch.where(table.group_unchanged, torch.log1p(-q), torch.log(q) - table.group_log_others)
    return torch.where(active_experts(table, law_mask) > 0, predicted, alone)


def unexplained_log_probs(table: Table, change: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(per unexplained change [U], per unexplained unchanged count [V]) log-probabilities."""
    changed = table.changed_count * torch.log(change[table.changed_class]) - table.changed_log_others
    stayed = table.stay_count * torch.log1p(-change[table.stay_class])
    return changed, stayed


def transition_log_probs(table: Table, probabilities: torch.Tensor, weights: torch.Tensor,
                         change: torch.Tensor, eps: float = NOISE_FLOOR,
                         law_mask: torch.Tensor | None = None,
                         global_weights: bool = False) -> torch.Tensor:
    """log P(next_state | state, action) per transition; `law_mask` [L] bool leaves laws out. [N]"""
    scored = scores(table, probabilities, weights, eps, law_mask, global_weights)
    groups = group_log_probs(table, scored, change, law_mask)
    changed, stayed = unexplained_log_probs(table, change)
    total = torch.zeros(table.transitions, dtype=torch.float64, device=groups.device)
    total.index_add_(0, table.group_transition, groups)
    total.index_add_(0, table.changed_transition, changed)
    total.index_add_(0, table.stay_transition, stayed)
    return total


def total_log_prob(table: Table, probabilities: torch.Tensor, weights: torch.Tensor,
                   change: torch.Tensor, eps: float = NOISE_FLOOR,
                   global_weights: bool = False) -> torch.Tensor:
    """log P of all the table's transitions together (exact for compacted tables too). []"""
    return (transition_log_probs(table, probabilities, weights, change, eps,
                                 global_weights=global_weights).sum()
            + table.constant)
