"""Hugging Face causal LM for lm-eval that scores and generates like jp-stable's ``hf-causal``.

Registered as ``hf-causal`` and ``hf-causal-experimental``. The numbers follow the reference harness
(protocol §7.4-7.5): context and continuation are tokenised separately without special tokens, inputs are
left-truncated to ``max_length``, and generation is greedy with the last token of the first stop string as
the only token-level stop. Batching changes speed, not results.

Sampled generation (``do_sample``) runs in its own decode loop (:func:`_sample_rows`): each row draws from a
``torch.Generator`` seeded by its request's ``seed``, so sampled requests share batches and a row's tokens depend on
its seed and its logits only, not on the other rows of its batch.

Log-likelihoods go through ``scoring.PrefixCacheScorer`` by default: a context shared by several requests is run
once and its continuations are scored from its key/value cache, with the vocabulary projection only where a token
is scored. ``fast_scoring=False`` keeps the plain one-forward-per-request path (the baseline of the tests).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from dataclasses import dataclass
from itertools import takewhile
from typing import Any

# lm_eval.models registers lm-eval's own models lazily; importing it first keeps `hf` and friends in the
# registry when we add ours.
import lm_eval.models  # noqa: F401
import torch
import torch.nn.functional as F
import transformers
from lm_eval import utils as lm_utils
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from lm_eval_ja import distributed
from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import as_bool
from lm_eval_ja.models.hf_settings import load, settings
from lm_eval_ja.models.scoring import PrefixCacheScorer
from lm_eval_ja.models.scoring import plan as scoring_plan

logger = logging.getLogger(__name__)


def _truthy(key: str, value: Any) -> bool:
    """A gen_kwargs flag that may be a bool or a YAML/CLI string (the model_args rule)."""
    return as_bool(key, value)


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def _clean_up_spaces(text: str) -> str:
    """transformers 4.x ``clean_up_tokenization``: drop the space before punctuation and English clitics."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text


def _length_buckets(keys_and_lengths: list[tuple[Any, int]], slack: float | dict = 0.9) -> list[int]:
    """Bucket ids for (key, length) items sorted by key then length, longest first: a new bucket starts at a new key
    or where a prompt is shorter than ``slack`` times its bucket's longest, so left padding wastes at most ~10%
    (``slack`` may be a dict by key; 0 never cuts)."""
    buckets, first, current = [], None, -1
    for key, length in keys_and_lengths:
        cut = slack.get(key, 0.9) if isinstance(slack, dict) else slack
        if first is None or key != first[0] or length < cut * first[1]:
            first, current = (key, length), current + 1
        buckets.append(current)
    return buckets


@dataclass(frozen=True)
class _Sampling:
    """How one row samples, in Hugging Face ``generate`` order: repetition penalty, temperature, top-k, top-p."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 1234


@dataclass(frozen=True)
class _GenerationJob:
    context: list[int]
    stop_ids: tuple[int, ...]
    cap: int
    until: list[str]
    #: how the row samples; None for greedy
    sampling: _Sampling | None

    def batch_key(self, index: int) -> tuple:
        # Greedy requests share batches with greedy ones of the same stop tokens (model.generate, as the reference);
        # sampled requests share batches with any sampled ones: every row has its own generator, stops and settings.
        return ("sampled",) if self.sampling else ("greedy", self.stop_ids)


class _RowCaps(transformers.StoppingCriteria):
    """Marks each row of a batched generate() done once it has its own number of new tokens."""

    def __init__(self, prompt_width: int, caps: list[int], device):
        self.prompt_width = prompt_width
        self.caps = torch.tensor(caps, device=device)

    def __call__(self, input_ids, scores, **kwargs):
        return (input_ids.shape[1] - self.prompt_width) >= self.caps


class _RowSettings:
    """The sampling settings of a batch's rows as (rows, 1) tensors, built once per batch and cut with its rows."""

    def __init__(self, settings: list[_Sampling], vocab: int, device):
        column = lambda values, dtype=torch.float32: torch.tensor(values, dtype=dtype, device=device)[:, None]
        ks = [min(s.top_k, vocab) for s in settings]
        self.penalize = any(s.repetition_penalty != 1 for s in settings)
        self.penalty = column([s.repetition_penalty for s in settings])
        self.temperature = column([s.temperature for s in settings])
        self.max_k = max(k if 0 < k < vocab else 0 for k in ks)
        self.k_index = column([max(k, 1) - 1 for k in ks], torch.long)
        self.k_on = column([0 < k < vocab for k in ks], torch.bool)
        self.nucleus = any(s.top_p < 1 for s in settings)
        self.top_p = column([s.top_p for s in settings])
        self.p_on = column([s.top_p < 1 for s in settings], torch.bool)

    def select(self, index: torch.Tensor) -> _RowSettings:
        kept = object.__new__(_RowSettings)
        for name, value in vars(self).items():
            setattr(kept, name, value[index] if isinstance(value, torch.Tensor) else value)
        return kept


def _next_token_probs(scores: torch.Tensor, seen: torch.Tensor | None,
                      settings: list[_Sampling] | _RowSettings) -> torch.Tensor:
    """Next-token probabilities per row, as Hugging Face ``generate(do_sample=True)`` computes them for that row alone:
    repetition penalty over the row's own tokens (prompt and answer, never padding), temperature, top-k, top-p
    (``RepetitionPenaltyLogitsProcessor``, ``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper``).
    Every operation is row-wise, so a row's result does not depend on the other rows."""
    rows = settings if isinstance(settings, _RowSettings) else _RowSettings(settings, scores.shape[-1], scores.device)
    if seen is not None and rows.penalize:
        penalty = rows.penalty
        scores = torch.where(seen, torch.where(scores < 0, scores * penalty, scores / penalty), scores)
    scores = scores / rows.temperature
    if rows.max_k:
        kth = torch.topk(scores, rows.max_k, dim=-1).values.gather(-1, rows.k_index.clamp(max=rows.max_k - 1))
        kth = torch.where(rows.k_on, kth, torch.full_like(kth, -math.inf))
        scores = scores.masked_fill(scores < kth, -math.inf)
    if rows.nucleus:
        # Only tokens left by top-k can be kept or removed (the others have probability 0 and add 0 to the sums), so
        # with top-k on, sort just the most a row has left (ties at the k-th score included) instead of the vocabulary.
        left = int((scores > -math.inf).sum(-1).max())
        if left < scores.shape[-1]:
            candidates, order = torch.topk(scores, left, dim=-1)
            candidates, order = candidates.flip(-1), order.flip(-1)
        else:
            candidates, order = torch.sort(scores, descending=False, stable=True)
        cumulative = candidates.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= 1 - rows.top_p
        remove[:, -1] = False  # keep at least one token
        remove &= rows.p_on
        scores = scores.scatter(1, order, candidates.masked_fill(remove, -math.inf))
    return scores.softmax(dim=-1)


def _draw(probs: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One token per row by inverse transform sampling: row r takes one uniform number from its own generator (a CPU
    generator, so a seed gives the same numbers on any device) and picks the token where the cumulative probability
    passes it. Zero-probability tokens are never picked."""
    uniforms = torch.stack([torch.rand((), dtype=torch.float64, generator=g) for g in generators])
    cdf = probs.double().cumsum(dim=-1)
    target = (uniforms.to(probs.device) * cdf[:, -1])[:, None]
    return torch.searchsorted(cdf, target, right=True).clamp_(max=probs.shape[-1] - 1)[:, 0]


def _prunable(cache) -> bool:
    """Whether finished rows can be dropped from ``cache`` (plain dynamic key/value layers only)."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer
    layers = getattr(cache, "layers", None)
    return (isinstance(cache, transformers.Cache) and bool(layers)
            and all(type(layer) in (DynamicLayer, DynamicSlidingWindowLayer) for layer in layers))


def _sample_rows(model, device, contexts: list[list[int]], stop_ids: list[tuple[int, ...]], caps: list[int],
                 settings: list[_Sampling], pad_id: int = 0) -> list[list[int]]:
    """Sampled new tokens per row (up to and including its first stop token, at most its cap).

    A decode loop over the model's key/value cache: left-padded prompts with an attention mask and position ids
    counting each row's own tokens (as ``generate`` builds them), one token per row per step drawn by :func:`_draw`
    from a generator seeded with the row's ``seed``. A finished row leaves the batch (its cache rows are dropped when
    the cache allows it). In exact arithmetic a row's tokens are those it would get alone.
    """
    n = len(contexts)
    width = max(len(c) for c in contexts)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros(n, width, dtype=torch.long)
    for row, ids in enumerate(contexts):
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        attention_mask[row, width - len(ids):] = 1
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    position_ids = (attention_mask.cumsum(-1) - 1).masked_fill_(attention_mask == 0, 1)
    lengths = attention_mask.sum(-1)
    generators = [torch.Generator().manual_seed(s.seed % 2**64) for s in settings]
    extra = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    # transformers >= 5.2x names the key/value cache `cache` (`past_key_values` is deprecated there)
    cache_arg = "cache" if _accepts(model, "cache") else "past_key_values"
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True, **extra)
    past = _cache_of(out)
    prune = _prunable(past)
    seen = None  # for a repetition penalty: the tokens of each row (prompt and answer so far)
    if any(s.repetition_penalty != 1 for s in settings):
        vocab = out.logits.shape[-1]
        seen = torch.zeros(n, vocab, dtype=torch.bool, device=device)
        for row, ids in enumerate(contexts):
            seen[row, torch.tensor([i for i in ids if i < vocab], dtype=torch.long, device=device)] = True

    rows = _RowSettings(settings, out.logits.shape[-1], device)
    new: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    active = list(range(n))  # the original row of each batch row
    while True:
        probs = _next_token_probs(out.logits[:, -1, :].float(), seen, rows)
        tokens = _draw(probs, [generators[r] for r in active])
        for row, token in zip(active, tokens.tolist()):
            if not done[row]:  # a finished row still in the batch (cache not prunable) is ignored
                new[row].append(token)
                done[row] = token in stop_ids[row] or len(new[row]) >= caps[row]
        if all(done):
            return new
        keep = [i for i, row in enumerate(active) if not done[row]]
        if prune and len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            past.batch_select_indices(index)
            tokens, attention_mask, lengths = tokens[index], attention_mask[index], lengths[index]
            seen = None if seen is None else seen[index]
            rows, active = rows.select(index), [active[i] for i in keep]
        if seen is not None:
            seen.scatter_(1, tokens[:, None].clamp(max=seen.shape[1] - 1), True)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones(len(active), 1)], dim=-1)
        out = model(input_ids=tokens[:, None], attention_mask=attention_mask, position_ids=lengths[:, None],
                    use_cache=True, **{cache_arg: past})
        past, lengths = _cache_of(out), lengths + 1


def _cache_of(output):
    cache = output.get("cache") if hasattr(output, "get") else None
    return cache if cache is not None else output.past_key_values


def _accepts(model, argument: str) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return argument in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


@register_model("hf-causal", "hf-causal-experimental")
class HFCausalLM(LM):
    """A transformers causal LM with jp-stable ``hf-causal`` tokenisation, scoring and greedy generation.

    ``pretrained`` is a hub id or folder (or a loaded ``PreTrainedModel``, then ``tokenizer`` is required).
    Defaults follow the reference: float32, batch size 1, ``max_gen_toks`` 256, ``max_length`` from the model
    config. ``peft`` applies an adapter on top of the base weights without merging. ``low_cpu_mem_usage`` and
    ``use_accelerate`` are accepted for old jp-stable scripts and ignored (``device_map_option`` is an alias of
    ``device_map``). Every value may be a string, as it arrives from ``--model_args``.

    ``fast_scoring`` (default True) scores each shared context once (see ``scoring``); False runs one forward per
    request. ``joint_tokenization=True`` tokenises context + continuation together as lm-eval's ``hf`` does
    (trailing context spaces moved to the continuation) instead of the reference's separate tokenisation.

    Started by ``torchrun`` / ``accelerate launch`` with several processes, each process is one data-parallel rank
    (:mod:`lm_eval_ja.distributed`): lm-eval's evaluator hands it every ``world_size``-th document and gathers the
    results on rank 0; prefix groups never cross ranks, since a rank scores only its own requests.
    """

    #: a generation request may carry its own ``seed`` (sampled chat answers are reproducible)
    accepts_request_seed = True

    def __init__(self, **model_args: Any) -> None:
        super().__init__()
        a = settings(**model_args)
        self._dp = distributed.start()
        self._batch_size, self._max_batch_size, self._max_gen_toks = a.batch_size, a.max_batch_size, a.max_gen_toks
        self._fast_scoring, self._joint_tokenization = a.fast_scoring, a.joint_tokenization
        self._scorer: PrefixCacheScorer | None = None
        self.pretrained, self.revision, self.peft = a.pretrained, a.revision, a.peft
        loaded = load(a)
        self.tokenizer, self._model, self._device, self._max_length = (loaded.tokenizer, loaded.model, loaded.device,
                                                                       loaded.max_length)
        self.batch_sizes: dict[str, int] = {}

    @classmethod
    def check_args(cls, model_args: dict[str, Any]) -> None:
        """Validate model_args without loading anything (the command line does it before reading data)."""
        settings(**model_args)

    # ------------------------------------------------------------------ properties

    @property
    def model(self):
        return self._model

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def max_gen_toks(self) -> int:
        return self._max_gen_toks

    @property
    def batch_size(self) -> int | str:
        return self._batch_size

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def rank(self) -> int:
        return self._dp.rank

    @property
    def world_size(self) -> int:
        return self._dp.world_size

    def all_gather(self, tensor):
        return self._dp.all_gather(tensor)

    def gather_object(self, obj, dst: int = 0):
        return self._dp.gather_object(obj, dst)

    def barrier(self) -> None:
        self._dp.barrier()

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def tok_encode(self, string: str) -> list[int]:
        return self.tokenizer.encode(string, add_special_tokens=False)

    def tok_decode(self, tokens: list[int]) -> str:
        """Decode keeping special tokens, with the reference's (transformers 4.x) space clean-up."""
        # transformers 5 skips the clean-up for BPE tokenizers even when their config asks for it; the
        # reference applied it, so do it here with the 4.x rules.
        text = self.tokenizer.decode(tokens, clean_up_tokenization_spaces=False)
        return _clean_up_spaces(text) if self.tokenizer.clean_up_tokenization_spaces else text

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        """The tokenizer's chat template (a named one if ``chat_template`` is a name), for lm-eval's logs."""
        template = getattr(self.tokenizer, "chat_template", None)
        if isinstance(template, dict):
            name = chat_template if isinstance(chat_template, str) else "default"
            return template.get(name)
        return template

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Render a chat with the tokenizer's template, as lm-eval's HFLM does for ``--apply_chat_template``."""
        import jinja2

        if not getattr(self.tokenizer, "chat_template", None):
            raise UserError(f"The tokenizer of {self.tokenizer.name_or_path} has no chat template; "
                            "drop --apply_chat_template for this model.")
        kwargs = dict(tokenize=False, add_generation_prompt=add_generation_prompt,
                      continue_final_message=not add_generation_prompt)
        try:
            return self.tokenizer.apply_chat_template(chat_history, **kwargs)
        except jinja2.exceptions.TemplateError:
            # Some templates reject a system turn; lm-eval drops it and retries.
            logger.warning("Chat template failed; retrying without the system message.")
            chat_history = [m for m in chat_history if m["role"] != "system"]
            return self.tokenizer.apply_chat_template(chat_history, **kwargs)

    def get_model_info(self) -> dict:
        info = {
            "model_num_parameters": sum(p.numel() for p in self._model.parameters()),
            "model_dtype": str(self._model.dtype),
            "model_revision": self.revision or "main",
        }
        if self.peft:
            info["peft"] = self.peft
        return info

    # ------------------------------------------------------------------ log-likelihood

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """Sum of log-probabilities of each continuation given its context, and whether it is the greedy one."""
        # Each context is tokenised once, not once per choice.
        encode = functools.lru_cache(maxsize=1024)(self.tok_encode)
        token_pairs = [self._encode_pair(context, continuation, encode) for context, continuation in
                       (req.args for req in requests)]
        # Each response is reported to the cache hook as its batch finishes (a run store keeps it at once).
        return self._loglikelihood_tokens(
            token_pairs, disable_tqdm=disable_tqdm,
            on_result=lambda i, result: self.cache_hook.add_partial("loglikelihood", requests[i].args, result))

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Log-likelihood of whole strings, scored in disjoint windows of ``max_length`` tokens (lm-eval's scheme)."""
        windows, owners = [], []
        for i, (string,) in enumerate(req.args for req in requests):
            for window in lm_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(string), prefix_token=self.eot_token_id,
                    max_seq_len=self.max_length, context_len=1):
                windows.append(lm_utils.make_disjoint_window(window))
                owners.append(i)
        scores = self._loglikelihood_tokens(windows, disable_tqdm=disable_tqdm)
        totals = [0.0] * len(requests)
        for owner, (logprob, _) in zip(owners, scores):
            totals[owner] += logprob
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    def _encode_pair(self, context: str, continuation: str, encode=None) -> tuple[list[int], list[int]]:
        """Token ids of a request: separately (reference) or jointly (lm-eval ``hf``); [eot] for no context."""
        encode = encode or self.tok_encode
        if context == "":
            return [self.eot_token_id], encode(continuation)
        if continuation == "__lasttoken__":  # reference special case: score the context's last token
            context_enc = encode(context)
            return context_enc[:-1], context_enc[-1:]
        if not self._joint_tokenization:
            return encode(context), encode(continuation)
        # lm-eval's _encode_pair: a trailing space belongs to the continuation's first word.
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole, context_enc = self.tok_encode(context + continuation), encode(context)
        return context_enc or [self.eot_token_id], whole[len(context_enc):]

    def _loglikelihood_tokens(self, token_pairs: list[tuple[list[int], list[int]]], disable_tqdm: bool = False,
                              on_result=None) -> list[tuple[float, bool]]:
        """Score ``(context_ids, continuation_ids)`` pairs in batches, longest first; results in input order.

        ``on_result(i, score)`` is called for every input pair as soon as its batch is done.
        """
        # Identical requests are scored once.
        unique: dict[tuple, int] = {}
        slot = [unique.setdefault((tuple(ctx), tuple(cont)), len(unique)) for ctx, cont in token_pairs]
        inputs_of: dict[int, list[int]] = {}
        for i, u in enumerate(slot):
            inputs_of.setdefault(u, []).append(i)

        def report(items, outputs):
            for u, score in zip(items, outputs):
                for i in inputs_of[u]:
                    on_result(i, score)

        pairs = [(list(ctx), list(cont)) for ctx, cont in unique]
        if self._fast_scorer() is not None:
            # A batch is whole groups sharing a prefix, so no prefix is run twice.
            groups, known = scoring_plan(pairs, self.max_length)
            units = [[row.index for row in group.rows] for group in groups] + [[i] for i in known]
        else:
            units = [[i] for i in sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))]
        scores = self._in_batches("loglikelihood", units, lambda chunk, batch_size: self._score_batch(
            [pairs[i] for i in chunk], batch_size), disable_tqdm, on_batch=report if on_result else None)
        return [scores[i] for i in slot]

    def _fast_scorer(self) -> PrefixCacheScorer | None:
        """The prefix-cache scorer, checked once against the model's own forward; None for the plain path."""
        if self._fast_scoring and self._scorer is None:
            try:
                scorer = PrefixCacheScorer(self._model, self.device)
            except (TypeError, AttributeError) as err:
                logger.warning("Fast scoring is not available for this model (%s); scoring one request per "
                               "forward.", err)
                scorer = None
            if scorer is not None and not scorer.self_check():
                logger.warning("Fast scoring failed its check on this model; scoring one request per forward.")
                scorer = None
            self._scorer, self._fast_scoring = scorer, scorer is not None
        return self._scorer

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]], batch_size: int) -> list[tuple[float, bool]]:
        """Scores of one batch: shared prefixes run once (fast scoring) or one forward row per pair."""
        scorer = self._fast_scorer()
        if scorer is not None:
            return scorer.score(pairs, self.max_length, batch_size=batch_size)
        return self._score_batch_plain(pairs)

    @torch.no_grad()
    def _score_batch_plain(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        # Reference input: the last max_length+1 tokens of context+continuation, minus the final one.
        inputs = [(ctx + cont)[-(self.max_length + 1):][:-1] for ctx, cont in pairs]
        width = max(len(x) for x in inputs)
        input_ids = torch.zeros(len(inputs), width, dtype=torch.long)
        attention_mask = torch.zeros(len(inputs), width, dtype=torch.long)
        for row, ids in enumerate(inputs):  # right padding: causal attention never looks at it
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention_mask[row, :len(ids)] = 1
        logits = self._model(input_ids=input_ids.to(self.device),
                             attention_mask=attention_mask.to(self.device)).logits
        scores = []
        for row, ((_, cont), ids) in enumerate(zip(pairs, inputs)):
            n, k = len(ids), len(cont)
            logprobs = F.log_softmax(logits[row, n - k:n].float(), dim=-1)
            target = torch.tensor(cont, device=logprobs.device)
            is_greedy = bool((logprobs.argmax(dim=-1) == target).all())
            scores.append((float(logprobs.gather(-1, target[:, None]).sum()), is_greedy))
        return scores

    # ------------------------------------------------------------------ generation

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Continuation of each context, cut at its stop strings (reference ``hf-causal`` semantics).

        Greedy unless ``do_sample``: then sampled with Hugging Face's ``temperature``, ``top_k``, ``top_p`` and
        ``repetition_penalty`` (a setting the request does not give comes from the model's generation config, else
        from transformers' defaults: 1.0, 50, 1.0, 1.0) from a generator seeded by the request's ``seed``
        (default 1234); sampled requests are batched together and a row's answer does not depend on its batch. The only
        token-level stop is the last token of the first stop string, as in the reference; without stop strings (a chat
        answer) generation stops at the model's end-of-sequence tokens and special tokens are dropped from the text.
        """
        jobs = [self._job(context, dict(gen_kwargs or {})) for context, gen_kwargs in (req.args for req in requests)]

        def run(chunk: list[int], batch_size: int) -> list[str]:
            batch = [jobs[i] for i in chunk]
            if batch[0].sampling is None:
                new_tokens = self._generate_batch([job.context for job in batch], batch[0].stop_ids,
                                                  [job.cap for job in batch])
            else:
                new_tokens = self._sample_batch([job.context for job in batch], [job.stop_ids for job in batch],
                                                [job.cap for job in batch], [job.sampling for job in batch])
            texts = []
            for i, job, tokens in zip(chunk, batch, new_tokens):
                if job.until:
                    text = self.tok_decode(tokens)
                    for stop in job.until:
                        text = text.split(stop)[0]
                else:
                    text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
                texts.append(text)
            return texts

        # Longest prompts first so an out-of-memory shows up at once. Greedy batches are cut where a prompt is under
        # 90% of its batch's longest (as before: same batches, same tokens); sampled ones are consecutive requests by
        # length, as log-likelihood batches are: decoding, not the prompt's padding, is most of their time.
        order = sorted(range(len(jobs)), key=lambda i: (jobs[i].batch_key(i), -len(jobs[i].context)))
        slack = {key: 0.0 if key == ("sampled",) else 0.9 for key in {jobs[i].batch_key(i) for i in order}}
        bucket = dict(zip(order, _length_buckets([(jobs[i].batch_key(i), len(jobs[i].context)) for i in order],
                                                 slack=slack)))
        return self._in_batches("generate_until", [[i] for i in order], run, disable_tqdm,
                                key=lambda unit: bucket[unit[0]])

    def _job(self, context: str, gen_kwargs: dict) -> _GenerationJob:
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        cap = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))
        if until:
            # The reference stops on one token only: the last token of the first stop string.
            stop_ids = self.tok_encode(until[0])
            stops = (stop_ids[-1] if stop_ids else self.eot_token_id,)
        else:
            stops = self._end_of_sequence_ids()
        sampling = None
        if _truthy("do_sample", gen_kwargs.get("do_sample", False)):
            sampling = self._sampling(gen_kwargs)
        # Same slice as the reference: keeps the last max_length - cap tokens.
        context_ids = self.tok_encode(context)[cap - self.max_length:] or [self.eot_token_id]
        return _GenerationJob(context_ids, stops, cap, until, sampling)

    def _sampling(self, gen_kwargs: dict) -> _Sampling | None:
        """A sampled request's settings (None: temperature 0 means greedy); unset ones as ``model.generate`` has them."""
        config = getattr(self._model, "generation_config", None)

        def value(key, default, kind):
            raw = gen_kwargs.get(key)
            raw = getattr(config, key, None) if raw is None else raw
            try:
                return kind(default if raw is None else raw)
            except (TypeError, ValueError):
                raise UserError(f"gen_kwargs {key}={raw!r} is not a number.") from None

        temperature = value("temperature", 1.0, float)
        top_k, top_p = value("top_k", 50, int), value("top_p", 1.0, float)
        penalty, seed = value("repetition_penalty", 1.0, float), value("seed", 1234, int)
        if temperature == 0:
            return None  # FastChat / lm-eval: temperature 0 is greedy decoding
        if not (temperature > 0 and math.isfinite(temperature)):
            raise UserError(f"gen_kwargs temperature={temperature!r} must be a positive number (0: greedy).")
        if top_k < 0:
            raise UserError(f"gen_kwargs top_k={top_k!r} must be 0 (no top-k) or a positive integer.")
        if not 0 < top_p <= 1:
            raise UserError(f"gen_kwargs top_p={top_p!r} must be in (0, 1].")
        if not (penalty > 0 and math.isfinite(penalty)):
            raise UserError(f"gen_kwargs repetition_penalty={penalty!r} must be a positive number (1: none).")
        return _Sampling(temperature, top_k, top_p, penalty, seed)

    def _end_of_sequence_ids(self) -> tuple[int, ...]:
        """The tokenizer's EOS and every EOS of the model's generation config (chat models end a turn with one)."""
        ids = [self.eot_token_id]
        configured = getattr(getattr(self._model, "generation_config", None), "eos_token_id", None)
        ids += configured if isinstance(configured, (list, tuple)) else [configured]
        return tuple(dict.fromkeys(int(i) for i in ids if i is not None))

    @torch.no_grad()
    def _generate_batch(self, contexts: list[list[int]], stop_ids: tuple[int, ...], caps: list[int],
                        sampling: list[_Sampling] | None = None) -> list[list[int]]:
        """New tokens per row: up to and including the first stop token, at most that row's cap (greedy with
        ``model.generate``, or sampled by :meth:`_sample_batch` when ``sampling`` gives each row's settings)."""
        if sampling is not None:
            return self._sample_batch(contexts, [stop_ids] * len(contexts), caps, sampling)
        width = max(len(c) for c in contexts)
        pad = stop_ids[0]
        input_ids = torch.full((len(contexts), width), pad, dtype=torch.long)
        attention_mask = torch.zeros(len(contexts), width, dtype=torch.long)
        for row, ids in enumerate(contexts):  # left padding so every row continues at the same column
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            attention_mask[row, width - len(ids):] = 1
        out = self._model.generate(
            input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device),
            max_new_tokens=max(caps), eos_token_id=list(stop_ids), pad_token_id=pad, do_sample=False,
            stopping_criteria=transformers.StoppingCriteriaList([_RowCaps(width, caps, self.device)]),
        )
        results = []
        for row, cap in enumerate(caps):
            tokens = out[row, width:width + cap].tolist()
            end = next((k for k, t in enumerate(tokens) if t in stop_ids), None)
            results.append(tokens if end is None else tokens[:end + 1])
        return results

    @torch.no_grad()
    def _sample_batch(self, contexts: list[list[int]], stop_ids: list[tuple[int, ...]], caps: list[int],
                      sampling: list[_Sampling]) -> list[list[int]]:
        """Sampled new tokens per row, each row with its own stops, cap, settings and seeded generator."""
        return _sample_rows(self._model, self.device, contexts, stop_ids, caps, sampling,
                            pad_id=self.eot_token_id if self.eot_token_id is not None else 0)

    # ------------------------------------------------------------------ batching

    def _in_batches(self, kind: str, units: list[list[int]], run, disable_tqdm: bool, key=lambda unit: None,
                    on_batch=None) -> list:
        """``run(items, batch_size)`` on the items of up to ``batch_size`` consecutive ``units`` at a time; results
        by item index; ``on_batch(items, outputs)`` after every batch.

        A unit (one request, or the requests sharing a prefix) is never split, and a batch holds units of one
        ``key``. With ``batch_size=auto`` an out-of-memory error halves the batch and retries the same units.
        """
        batch_size = self._initial_batch_size(kind)
        results = {}
        with tqdm(total=sum(map(len, units)), desc=kind, disable=disable_tqdm or self.rank > 0) as pbar:
            start = 0
            while start < len(units):
                chunk = units[start:start + batch_size]
                chunk = list(takewhile(lambda unit: key(unit) == key(chunk[0]), chunk))  # keys are contiguous
                items = [i for unit in chunk for i in unit]
                try:
                    outputs = run(items, batch_size)
                except RuntimeError as err:
                    if self._batch_size != "auto" or batch_size == 1 or not _is_oom(err):
                        raise
                    batch_size = self._shrink_batch(kind, batch_size)
                    continue
                results.update(zip(items, outputs))
                if on_batch is not None:
                    on_batch(items, outputs)
                start += len(chunk)
                pbar.update(len(items))
        return [results[i] for i in range(len(results))]

    def _initial_batch_size(self, kind: str) -> int:
        if self._batch_size != "auto":
            return self._batch_size
        # Without a GPU there is no out-of-memory signal to back off from, and batching gains little.
        size = self.batch_sizes.get(kind, self._max_batch_size if self.device.type == "cuda" else 1)
        self.batch_sizes[kind] = size
        return size

    def _shrink_batch(self, kind: str, batch_size: int) -> int:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.batch_sizes[kind] = max(1, batch_size // 2)
        logger.info("Out of memory at batch size %d; retrying with %d.", batch_size, self.batch_sizes[kind])
        return self.batch_sizes[kind]
