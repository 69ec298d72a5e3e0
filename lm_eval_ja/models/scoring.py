"""Log-likelihood scoring that reads every shared context once.

A multiple-choice document sends one request per choice, each repeating the same few-shot prompt. The scorer
groups requests whose model inputs start with the same tokens, runs that shared prefix once to get its key/value
cache, and then runs only each request's remaining tokens (its *suffix*) from the cache, batched across groups:
prefixes left-padded (so cache positions of real tokens stay contiguous, which sliding-window attention relies
on), suffixes right-padded, position ids explicit. The output projection (the vocabulary-sized matrix) is applied
only at the positions that are scored.

The model input of each request is the plain path's (jp-stable ``hf-causal`` and lm-eval ``hf``): the last
``max_length + 1`` tokens of context + continuation minus the final one, with the continuation's tokens scored at
the end. Only the way the same numbers are computed changes, so the results equal the one-request-at-a-time
computation up to float rounding.

``score_token_pairs`` is the entry point for any ``(context_ids, continuation_ids)`` list, whatever tokenisation
produced it: groups are formed by the common token prefix of the inputs, not by the context string.
"""

from __future__ import annotations

import copy
import inspect
import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

TokenPair = tuple[list[int], list[int]]
Score = tuple[float, bool]

#: Upper bound on the float32 logits materialised at once (elements): ~256 MiB, whatever the vocabulary.
_LOGITS_BLOCK = 1 << 26


# ----------------------------------------------------------------------------------------------------------
# planning: which requests share which prefix


@dataclass
class Row:
    """One request: scored from positions ``start:start + len(targets)`` of its group's suffix ``source``."""

    index: int
    source: int
    start: int
    targets: list[int]


@dataclass
class Group:
    """A prefix run once, the distinct suffixes run from its cache, and the requests they score."""

    prefix: list[int]
    suffixes: list[list[int]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.prefix) + max(len(s) for s in self.suffixes)


def model_input(context: list[int], continuation: list[int], max_length: int) -> list[int]:
    """The reference's model input: the last ``max_length + 1`` tokens of context + continuation, minus the last."""
    return (context + continuation)[-(max_length + 1):][:-1]


def plan(pairs: list[TokenPair], max_length: int) -> tuple[list[Group], dict[int, Score]]:
    """Groups to run (widest first) and the results known without running (empty continuations)."""
    known: dict[int, Score] = {}
    items = []  # (request index, model input, first scored position, continuation)
    for index, (context, continuation) in enumerate(pairs):
        if not continuation:  # the plain path sums nothing and finds every (no) token greedy
            known[index] = (0.0, True)
            continue
        inp = model_input(context, continuation, max_length)
        if len(continuation) > len(inp):
            raise ValueError(f"A continuation of {len(continuation)} tokens cannot be scored within "
                             f"max_length={max_length}.")
        items.append((index, inp, len(inp) - len(continuation), continuation))
    # Sorted inputs put requests that share a prefix next to each other.
    items.sort(key=lambda item: item[1])
    groups = [_make_group(members, shared) for members, shared in _clusters(items)]
    groups.sort(key=lambda g: -g.width)
    return groups, known


def _clusters(items: list) -> list[tuple[list, int]]:
    """Runs of sorted items that share a prefix worth computing once, each with that prefix's length.

    The prefix can never reach into a scored position. A newcomer that shares fewer tokens with the run
    shortens the prefix for everyone; it joins only if that costs less than running its own prefix.
    """
    runs: list[tuple[list, int]] = []
    members: list = []
    first: list[int] = []
    shared = 0
    for item in items:
        _, inp, start, _ = item
        if members:
            common = min(start, _common_prefix(first, inp, shared))
            if common > 0 and (shared - common) * len(members) < common:
                members.append(item)
                shared = common
                continue
            runs.append((members, shared))
        members, first, shared = [item], inp, start
    if members:
        runs.append((members, shared))
    return runs


def _common_prefix(a: list[int], b: list[int], limit: int) -> int:
    """Length of the common prefix of ``a`` and ``b``, at most ``limit`` (binary search on C-speed slices)."""
    if a[:limit] == b[:limit]:
        return limit
    low, high = 0, limit - 1
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _make_group(members: list, shared: int) -> Group:
    """The group of a run: its prefix, its distinct suffixes, and which suffix scores each request.

    A suffix that starts another one is scored from that one's hidden states (causal attention makes them
    identical), as happens when one-token continuations share their input. In sorted order a suffix is directly
    followed by one that extends it, if any does, so one backward sweep finds every suffix's longest extension.
    """
    suffixes = sorted({tuple(inp[shared:]) for _, inp, _, _ in members})
    host = list(range(len(suffixes)))
    for i in reversed(range(len(suffixes) - 1)):
        if suffixes[i + 1][:len(suffixes[i])] == suffixes[i]:
            host[i] = host[i + 1]
    position = {suffix: i for i, suffix in enumerate(suffixes)}
    group, source_of = Group(prefix=members[0][1][:shared]), {}
    for index, inp, start, targets in members:
        h = host[position[tuple(inp[shared:])]]
        if h not in source_of:
            source_of[h] = len(group.suffixes)
            group.suffixes.append(list(suffixes[h]))
        group.rows.append(Row(index, source_of[h], start - shared, targets))
    return group


# ----------------------------------------------------------------------------------------------------------
# running


def _causal_lm(model):
    """The transformers causal LM behind ``model`` (a PEFT wrapper injects its layers in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _select_rows(cache, rows: torch.Tensor):
    """A copy of ``cache`` with the batch rows ``rows`` (the prefix cache itself serves later passes)."""
    new = copy.copy(cache)
    if hasattr(cache, "layers"):  # transformers >= 4.56: per-layer objects (sliding-window state included)
        new.layers = [copy.copy(layer) for layer in cache.layers]
    else:  # older DynamicCache: lists of tensors
        new.key_cache, new.value_cache = list(cache.key_cache), list(cache.value_cache)
    new.batch_select_indices(rows)
    return new


def _cache_bytes(cache) -> int:
    if hasattr(cache, "layers"):
        tensors = [t for layer in cache.layers for t in (getattr(layer, "keys", None), getattr(layer, "values", None))]
    else:
        tensors = list(cache.key_cache) + list(cache.value_cache)
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


class PrefixCacheScorer:
    """Scores token pairs on a transformers causal LM by running each shared prefix once.

    The LM is split into its body (``base_model``, giving hidden states) and its output head
    (``get_output_embeddings()``) plus the architecture's final logit transform: Gemma-2/3
    ``final_logit_softcapping``, Cohere ``logit_scale``, Granite ``logits_scaling``. ``self_check()`` compares
    the whole path with the model's own forward on a small input; callers fall back to the plain path if it
    fails (an architecture with another transform, or one that ignores position ids or the cache).
    """

    def __init__(self, model, device: torch.device | str):
        self.lm = _causal_lm(model)
        self.device = torch.device(device)
        self.body = self.lm.base_model
        # transformers 5 names the key/value cache `cache` (`past_key_values` warns on every call); older ones don't.
        self._cache_name = "cache" if "cache" in inspect.signature(self.body.forward).parameters else "past_key_values"
        self.head = self.lm.get_output_embeddings()
        if self.body is self.lm or self.head is None:
            raise TypeError(f"{type(self.lm).__name__} has no separate body and output head")
        config = self.lm.config
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        self.softcap = getattr(config, "final_logit_softcapping", None)
        self.scale = getattr(config, "logit_scale", None)
        self.divisor = getattr(config, "logits_scaling", None)
        self.vocab_size = self.head.weight.shape[0]

    # ------------------------------------------------------------------ public

    @torch.no_grad()
    def score(self, pairs: list[TokenPair], max_length: int, batch_size: int | None = None) -> list[Score]:
        """Scores of ``pairs`` in order, all groups' prefixes in one pass (the caller sizes ``pairs``)."""
        groups, results = plan(pairs, max_length)
        if groups:
            results.update(self.run(groups, batch_size))
        return [results[i] for i in range(len(pairs))]

    @torch.no_grad()
    def run(self, groups: list[Group], batch_size: int | None = None) -> dict[int, Score]:
        """Run ``groups``: one prefix pass, then suffix passes (see ``_suffix_rows`` for their size)."""
        cache, prefix_mask = self._prefill([g.prefix for g in groups])
        prefix_lens = torch.tensor([len(g.prefix) for g in groups])
        jobs = sorted(((g, s) for g, group in enumerate(groups) for s in range(len(group.suffixes))),
                      key=lambda job: -len(groups[job[0]].suffixes[job[1]]))
        step = self._suffix_rows(cache, len(groups), prefix_mask.shape[1], batch_size or len(groups))
        results: dict[int, Score] = {}
        for begin in range(0, len(jobs), step):
            part = jobs[begin:begin + step]
            owners = torch.tensor([g for g, _ in part])
            hidden = self._extend(cache, prefix_mask, prefix_lens, owners,
                                  [groups[g].suffixes[s] for g, s in part])
            results.update(self._score_rows(hidden, part, groups))
        return results

    def _suffix_rows(self, cache, n_prefixes: int, width: int, batch_size: int) -> int:
        """Rows per suffix pass: ``batch_size``, or more while the cache copied for them stays below what the plain
        path's logits take at that batch size (vocabulary-sized rows at every position); fewer passes, same bound.
        """
        if cache is None:
            return batch_size
        per_row_cache = _cache_bytes(cache) / n_prefixes
        per_row_logits = width * self.vocab_size * self.head.weight.element_size()
        return batch_size * max(1, int(per_row_logits // max(per_row_cache, 1)))

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits of hidden states, with the architecture's final transform (as its ``forward`` applies it)."""
        logits = self.head(hidden)
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        if self.scale is not None:
            logits = logits * self.scale
        if self.divisor is not None:
            logits = logits / self.divisor
        return logits

    @torch.no_grad()
    def self_check(self, max_length: int = 64) -> bool:
        """Whether this path reproduces the model's own full forward on a small batch (two prefix lengths)."""
        vocab = min(self.vocab_size, 50)
        a, b = [t % vocab for t in range(3, 10)], [t % vocab for t in range(11, 14)]
        pairs = [(a, [5 % vocab, 7 % vocab]), (a, [5 % vocab]), (a, [9 % vocab]), (b, [2 % vocab, 4 % vocab])]
        try:
            fast = self.score(pairs, max_length)
        except Exception as err:  # noqa: BLE001 - any failure means "not supported here"
            logger.warning("Fast scoring is not supported by %s (%s: %s).", type(self.lm).__name__,
                           type(err).__name__, err)
            return False
        tolerance = 1e-3 if self.head.weight.dtype == torch.float32 else 5e-2
        # The plain computation in one right-padded batch: the model's own logits at the continuation.
        inputs = [model_input(context, continuation, max_length) for context, continuation in pairs]
        ids = torch.zeros(len(inputs), max(map(len, inputs)), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, inp in enumerate(inputs):
            ids[row, :len(inp)], mask[row, :len(inp)] = torch.tensor(inp), 1
        logits = self.lm(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        for row, ((_, continuation), (logprob, _)) in enumerate(zip(pairs, fast)):
            n = len(inputs[row])
            expected = F.log_softmax(logits[row, n - len(continuation):n].float(), dim=-1)
            expected = float(expected.gather(-1, torch.tensor(continuation, device=self.device)[:, None]).sum())
            if abs(expected - logprob) > tolerance * max(1.0, abs(expected)):
                logger.warning("Fast scoring disagrees with %s's own forward (%.6f vs %.6f).",
                               type(self.lm).__name__, logprob, expected)
                return False
        return True

    # ------------------------------------------------------------------ passes

    def _prefill(self, prefixes: list[list[int]]):
        """Cache of the left-padded prefixes and its attention mask; ``(None, empty mask)`` if all are empty."""
        width = max(len(p) for p in prefixes)
        mask = torch.zeros(len(prefixes), width, dtype=torch.long)
        if width == 0:
            return None, mask
        ids = torch.zeros(len(prefixes), width, dtype=torch.long)
        positions = torch.zeros(len(prefixes), width, dtype=torch.long)
        for row, prefix in enumerate(prefixes):
            if prefix:
                ids[row, width - len(prefix):] = torch.tensor(prefix)
                mask[row, width - len(prefix):] = 1
                positions[row, width - len(prefix):] = torch.arange(len(prefix))
        out = self.body(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                        position_ids=positions.to(self.device), use_cache=True)
        return getattr(out, self._cache_name), mask

    def _extend(self, cache, prefix_mask, prefix_lens, owners: torch.Tensor, suffixes: list[list[int]]):
        """Hidden states of right-padded ``suffixes``, each continuing the cached prefix of its owner."""
        width = max(len(s) for s in suffixes)
        ids = torch.zeros(len(suffixes), width, dtype=torch.long)
        suffix_mask = torch.zeros(len(suffixes), width, dtype=torch.long)
        for row, suffix in enumerate(suffixes):
            ids[row, :len(suffix)] = torch.tensor(suffix)
            suffix_mask[row, :len(suffix)] = 1
        mask = torch.cat([prefix_mask[owners], suffix_mask], dim=1)
        positions = prefix_lens[owners][:, None] + torch.arange(width)
        past = _select_rows(cache, owners.to(self.device)) if cache is not None else None
        out = self.body(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                        position_ids=positions.to(self.device), use_cache=past is not None,
                        **({self._cache_name: past} if past is not None else {}))
        return out.last_hidden_state

    def _score_rows(self, hidden: torch.Tensor, part: list[tuple[int, int]], groups: list[Group]):
        """Sum of target log-probabilities and greedy match for every request computed by this pass."""
        slots: dict[int, int] = {}  # flat hidden position -> projected row (requests sharing a position share it)
        where, targets, spans = [], [], []
        width = hidden.shape[1]
        for batch_row, (g, s) in enumerate(part):
            for row in groups[g].rows:
                if row.source == s:
                    first = batch_row * width + row.start
                    spans.append((row.index, len(targets), len(row.targets)))
                    where.extend(slots.setdefault(p, len(slots)) for p in range(first, first + len(row.targets)))
                    targets.extend(row.targets)
        device = hidden.device
        selected = hidden.reshape(-1, hidden.shape[-1]).index_select(0, torch.tensor(list(slots), device=device))
        logprobs, greedy = self._target_logprobs(selected, torch.tensor(where, device=device),
                                                 torch.tensor(targets, device=device))
        return {index: (float(logprobs[at:at + n].sum()), bool(greedy[at:at + n].all())) for index, at, n in spans}

    def _target_logprobs(self, hidden: torch.Tensor, where: torch.Tensor, targets: torch.Tensor):
        """Log-probability of ``targets[i]`` at position ``hidden[where[i]]`` and whether it is the argmax.

        The logits are made for a block of positions at a time, so a 262k vocabulary stays within bounds.
        """
        block = max(1, _LOGITS_BLOCK // self.vocab_size)
        logprobs = torch.empty(len(targets), device=hidden.device)
        greedy = torch.empty(len(targets), dtype=torch.bool, device=hidden.device)
        for begin in range(0, hidden.shape[0], block):
            block_logprobs = F.log_softmax(self.project(hidden[begin:begin + block]).float(), dim=-1)
            inside = (where >= begin) & (where < begin + block)
            at, target = where[inside] - begin, targets[inside]
            logprobs[inside] = block_logprobs[at, target]
            greedy[inside] = block_logprobs.argmax(dim=-1)[at] == target
        return logprobs.cpu(), greedy.cpu()


def score_token_pairs(model, pairs: list[TokenPair], max_length: int, batch_size: int = 8,
                      device: torch.device | str | None = None) -> list[Score]:
    """Log-likelihood and greedy flag of each ``(context_ids, continuation_ids)``, sharing common prefixes.

    ``batch_size`` prefixes run together; no out-of-memory handling here (``HFCausalLM`` adds it).
    """
    device = device if device is not None else next(_causal_lm(model).parameters()).device
    scorer = PrefixCacheScorer(model, device)
    groups, results = plan(pairs, max_length)
    for begin in range(0, len(groups), batch_size):
        results.update(scorer.run(groups[begin:begin + batch_size], batch_size))
    return [results[i] for i in range(len(pairs))]
