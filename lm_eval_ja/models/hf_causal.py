"""Hugging Face causal LM for lm-eval that scores and generates like jp-stable's ``hf-causal``.

Registered as ``hf-causal`` and ``hf-causal-experimental``. The numbers follow the reference harness
(protocol §7.4-7.5): context and continuation are tokenised separately without special tokens, inputs are
left-truncated to ``max_length``, and generation is greedy with the last token of the first stop string as
the only token-level stop. Batching changes speed, not results.

Log-likelihoods go through ``scoring.PrefixCacheScorer`` by default: a context shared by several requests is run
once and its continuations are scored from its key/value cache, with the vocabulary projection only where a token
is scored. ``fast_scoring=False`` keeps the plain one-forward-per-request path (the baseline of the tests).
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import logging
from itertools import takewhile
from pathlib import Path
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
import transformers
from tqdm import tqdm

# lm_eval.models registers lm-eval's own models lazily; importing it first keeps `hf` and friends in the
# registry when we add ours.
import lm_eval.models  # noqa: F401
from lm_eval import utils as lm_utils
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval_ja import distributed
from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import as_bool
from lm_eval_ja.models.scoring import PrefixCacheScorer
from lm_eval_ja.models.scoring import plan as scoring_plan

logger = logging.getLogger(__name__)

ACCEPTED_ARGS = (
    "pretrained", "revision", "subfolder", "tokenizer", "use_fast", "trust_remote_code", "dtype",
    "torch_dtype", "device", "device_map", "device_map_option", "peft", "load_in_8bit", "load_in_4bit",
    "gguf_file", "batch_size", "max_batch_size", "max_length", "max_gen_toks", "low_cpu_mem_usage",
    "use_accelerate", "fast_scoring", "joint_tokenization", "chat_template",
)

_DTYPES = {
    "auto": "auto",
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


# ----------------------------------------------------------------------------------------------------------
# model_args parsing: values may arrive as strings from a `k=v,k=v` string


def _truthy(key: str, value: Any) -> bool:
    """A gen_kwargs flag that may be a bool or a YAML/CLI string (the model_args rule)."""
    return as_bool(key, value)


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    raise UserError(f"{key}={value!r} is not a positive integer; use e.g. {key}=8.")


def _as_batch_size(value: Any) -> int | str:
    # lm-eval's `auto:N` (re-detect N times) is treated as plain `auto`.
    if isinstance(value, str) and value.strip().lower().split(":")[0] == "auto":
        return "auto"
    try:
        return _as_int("batch_size", value)
    except UserError:
        raise UserError(f"batch_size={value!r} is not a positive integer or 'auto'; use e.g. batch_size=8 "
                        "or batch_size=auto.") from None


def _as_dtype(dtype: Any, torch_dtype: Any) -> torch.dtype | str:
    if dtype is not None and torch_dtype is not None and str(dtype) != str(torch_dtype):
        raise UserError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; give only one of them.")
    value = dtype if dtype is not None else torch_dtype
    if value is None:
        # The reference hf-causal loads in float32 unless told otherwise; transformers 5 would pick "auto".
        return torch.float32
    if isinstance(value, torch.dtype):
        return value
    name = str(value).strip().lower().removeprefix("torch.")
    if name not in _DTYPES:
        raise UserError(f"dtype={value!r} is not supported; use one of auto, float32, bfloat16, float16.")
    return _DTYPES[name]


def _as_device(value: Any) -> torch.device:
    if value is None or str(value).strip() == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = str(value).strip().lower()
    if name.isdigit():  # the reference accepts a bare GPU index
        name = f"cuda:{name}"
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise UserError("device=mps was given but this machine has no MPS device; use device=cpu.")
        return torch.device("mps")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise UserError(f"device={value} was given but this machine has no CUDA device; use device=cpu.")
        return torch.device(name)
    raise UserError(f"device={value!r} is not understood; use cpu, cuda, cuda:N, N (a GPU index) or mps.")


def _data_parallel_device(device: torch.device, given: Any, device_map: Any) -> torch.device:
    """Under a launcher with several processes each rank holds a whole model: on a GPU machine its own GPU."""
    _, world, local_rank = distributed.launched()
    if world <= 1:
        return device
    if device_map:
        raise UserError(f"device_map={device_map} spreads one model over several GPUs, but {world} processes were "
                        "started (torchrun / accelerate launch) and each holds a whole model; drop device_map for "
                        "data parallelism, or run one process for model parallelism.")
    if device.type != "cuda":
        return device
    if given is not None and (":" in str(given) or str(given).strip().isdigit()):
        raise UserError(f"device={given} puts every one of the {world} data-parallel processes on one GPU; give "
                        "device=cuda (or none) and each process takes the GPU of its LOCAL_RANK.")
    return torch.device(f"cuda:{local_rank}")


def _reject_unknown(unknown: dict) -> None:
    if not unknown:
        return
    key = sorted(unknown)[0]
    close = difflib.get_close_matches(key, ACCEPTED_ARGS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UserError(f"Unknown model_args key {key!r} for hf-causal; {hint}accepted keys: {', '.join(ACCEPTED_ARGS)}.")


def _check_quantization(load_in_8bit: bool, load_in_4bit: bool) -> None:
    """Fail before any weights are read if bitsandbytes quantisation cannot work here."""
    if not (load_in_8bit or load_in_4bit):
        return
    flag = "load_in_8bit" if load_in_8bit else "load_in_4bit"
    if load_in_8bit and load_in_4bit:
        raise UserError("load_in_8bit and load_in_4bit are both True; choose one of them.")
    if not torch.cuda.is_available():
        raise UserError(f"{flag}=True needs a CUDA GPU and the bitsandbytes package (pip install "
                        f"'lm-eval-ja[quant]'); this machine has no CUDA device, so drop {flag} or run on a GPU.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(f"{flag}=True needs a CUDA GPU and the bitsandbytes package, which is not installed; "
                        "run pip install 'lm-eval-ja[quant]' or drop the flag.")


# ----------------------------------------------------------------------------------------------------------
# loading


def _check_local_model(pretrained: Any, gguf_file: str | None) -> None:
    """A local model folder that cannot hold a model is said so now, not by a confusing tokenizer error."""
    if not isinstance(pretrained, str):
        return
    local = Path(pretrained).expanduser()
    if local.is_dir():
        if gguf_file and not (local / gguf_file).is_file():
            raise UserError(f"gguf_file={gguf_file} is not in the folder pretrained={pretrained}; give the name of a "
                            "GGUF file in that folder.")
        if not gguf_file and not (local / "config.json").is_file():
            raise UserError(f"pretrained={pretrained} is a folder without config.json, so there is no model to load; "
                            "point pretrained= at the model's folder, or give gguf_file= for a GGUF model.")
    elif pretrained.startswith(("/", "./", "../", "~")):
        raise UserError(f"pretrained={pretrained}: no such folder; point pretrained= at the model's folder or a hub id.")


def _load_tokenizer(name_or_obj: Any, hub_kwargs: dict, use_fast: bool, gguf_file: str | None):
    if isinstance(name_or_obj, transformers.PreTrainedTokenizerBase):
        return name_or_obj
    kwargs = dict(hub_kwargs, use_fast=use_fast)
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        return transformers.AutoTokenizer.from_pretrained(name_or_obj, **kwargs)
    except OSError as err:
        raise UserError(f"Could not load a tokenizer from {name_or_obj!r} ({str(err).splitlines()[0]}); "
                        "check the path or hub id (pretrained=, or tokenizer= for a separate one).") from err


def _load_model(pretrained: Any, hub_kwargs: dict, dtype, device: torch.device, device_map,
                load_in_8bit: bool, load_in_4bit: bool, gguf_file: str | None, peft: str | None):
    """Load the weights (optionally quantised or dispatched), apply a PEFT adapter; the model is in eval mode."""
    if isinstance(pretrained, transformers.PreTrainedModel):
        model = pretrained
    else:
        kwargs = dict(hub_kwargs, dtype=dtype)
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        if load_in_8bit or load_in_4bit:
            compute_dtype = dtype if isinstance(dtype, torch.dtype) else None
            kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
                load_in_8bit=load_in_8bit, load_in_4bit=load_in_4bit, bnb_4bit_compute_dtype=compute_dtype)
            # bitsandbytes weights cannot be moved with .to(); place them at load time.
            device_map = device_map or {"": str(device)}
        if device_map:
            kwargs["device_map"] = device_map
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(pretrained, **kwargs)
        except OSError as err:
            raise UserError(f"Could not load pretrained={pretrained!r} ({str(err).splitlines()[0]}); "
                            "check the path or hub id.") from err
    if not device_map and not getattr(model, "hf_device_map", None):
        model.to(device)
    if peft:
        model = _apply_peft(model, peft)
    model.eval()
    return model


def _apply_peft(model, adapter: str):
    if importlib.util.find_spec("peft") is None:
        raise UserError(f"peft={adapter} needs the peft package; run pip install peft or drop peft=.")
    import peft as peft_lib

    try:
        # Applied on top of the base weights, not merged, as the reference does. The model's revision is
        # not passed: an adapter repository has its own history.
        return peft_lib.PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError) as err:
        where = "is not a local adapter folder and" if not Path(adapter).exists() else "is a folder but"
        raise UserError(f"peft={adapter} {where} could not be loaded as a PEFT adapter "
                        f"({str(err).splitlines()[0]}); give a folder with adapter_config.json or a hub id.") from err


def default_max_length(config, tokenizer) -> int:
    if hasattr(config, "get_text_config"):  # multimodal configs keep the LM's limits in a sub-config
        config = config.get_text_config()
    for attr in ("n_ctx", "n_positions", "max_position_embeddings"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    # Tokenizers without a limit report a huge sentinel (1e30).
    if 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        return int(tokenizer.model_max_length)
    return 2048


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def _clean_up_spaces(text: str) -> str:
    """transformers 4.x ``clean_up_tokenization``: drop the space before punctuation and English clitics."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text


def _length_buckets(keys_and_lengths: list[tuple[Any, int]], slack: float = 0.9) -> list[int]:
    """Bucket ids for (key, length) items sorted by key then length, longest first: a new bucket starts at a new key
    or where a prompt is shorter than ``slack`` times its bucket's longest, so left padding wastes at most ~10%."""
    buckets, first, current = [], None, -1
    for key, length in keys_and_lengths:
        if first is None or key != first[0] or length < slack * first[1]:
            first, current = (key, length), current + 1
        buckets.append(current)
    return buckets


@dataclass(frozen=True)
class _GenerationJob:
    context: list[int]
    stop_ids: tuple[int, ...]
    cap: int
    until: list[str]
    #: (temperature, seed) when sampling
    sampling: tuple[float, int] | None

    def batch_key(self, index: int) -> tuple:
        # Sampled requests run one at a time (their seed decides the result), greedy ones share batches.
        return (self.stop_ids, index if self.sampling else -1)


class _RowCaps(transformers.StoppingCriteria):
    """Marks each row of a batched generate() done once it has its own number of new tokens."""

    def __init__(self, prompt_width: int, caps: list[int], device):
        self.prompt_width = prompt_width
        self.caps = torch.tensor(caps, device=device)

    def __call__(self, input_ids, scores, **kwargs):
        return (input_ids.shape[1] - self.prompt_width) >= self.caps


# ----------------------------------------------------------------------------------------------------------


def settings(
    pretrained: Any = None,
    revision: str | None = None,
    subfolder: str | None = None,
    tokenizer: Any = None,
    use_fast: Any = True,
    trust_remote_code: Any = False,
    dtype: Any = None,
    torch_dtype: Any = None,
    device: Any = None,
    device_map: Any = None,
    device_map_option: Any = None,
    peft: str | None = None,
    load_in_8bit: Any = False,
    load_in_4bit: Any = False,
    gguf_file: str | None = None,
    batch_size: Any = 1,
    max_batch_size: Any = 64,
    max_length: Any = None,
    max_gen_toks: Any = 256,
    low_cpu_mem_usage: Any = None,
    use_accelerate: Any = None,
    fast_scoring: Any = True,
    joint_tokenization: Any = False,
    chat_template: str | None = None,
    **unknown: Any,
) -> SimpleNamespace:
    """hf-causal's model_args, validated and typed (values may be strings, as they arrive from --model_args); every
    problem is a UserError naming the key. Nothing is loaded."""
    _reject_unknown(unknown)
    if pretrained is None or (isinstance(pretrained, str) and not pretrained.strip()):
        raise UserError("hf-causal needs a model: give --model_args pretrained=<hub id or local path>.")
    if isinstance(pretrained, transformers.PreTrainedModel) and tokenizer is None:
        raise UserError("pretrained is a loaded model object, so give its tokenizer too "
                        "(tokenizer=<name or object>).")
    load_in_8bit, load_in_4bit = as_bool("load_in_8bit", load_in_8bit), as_bool("load_in_4bit", load_in_4bit)
    if low_cpu_mem_usage is not None:
        as_bool("low_cpu_mem_usage", low_cpu_mem_usage)
        logger.info("low_cpu_mem_usage is ignored: transformers always loads weights lazily now.")
    if use_accelerate is not None and as_bool("use_accelerate", use_accelerate):
        logger.info("use_accelerate is ignored; device_map=auto spreads a model over several GPUs.")
    if device_map and device_map_option and device_map != device_map_option:
        raise UserError("device_map and device_map_option disagree; give only one of them.")
    out = SimpleNamespace(
        pretrained=pretrained, revision=revision, subfolder=subfolder, tokenizer=tokenizer, peft=peft,
        gguf_file=gguf_file, use_fast=as_bool("use_fast", use_fast),
        trust_remote_code=as_bool("trust_remote_code", trust_remote_code),
        device_map=device_map or device_map_option, load_in_8bit=load_in_8bit, load_in_4bit=load_in_4bit,
        batch_size=_as_batch_size(batch_size), max_batch_size=_as_int("max_batch_size", max_batch_size),
        max_gen_toks=_as_int("max_gen_toks", max_gen_toks), fast_scoring=as_bool("fast_scoring", fast_scoring),
        joint_tokenization=as_bool("joint_tokenization", joint_tokenization),
        max_length=_as_int("max_length", max_length) if max_length is not None else None,
        dtype=_as_dtype(dtype, torch_dtype),
        device=_data_parallel_device(_as_device(device), device, device_map or device_map_option),
    )
    if chat_template is not None:
        template = Path(str(chat_template)).expanduser()
        if not template.is_file():
            raise UserError(f"chat_template={chat_template}: no such file; give the path of a file holding a Jinja "
                            "chat template.")
        out.chat_template = template.read_text(encoding="utf-8")
    else:
        out.chat_template = None
    _check_quantization(load_in_8bit, load_in_4bit)
    _check_local_model(pretrained, gguf_file)
    return out


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

    def __init__(self, **model_args: Any) -> None:
        super().__init__()
        a = settings(**model_args)
        self._dp = distributed.start()
        self._batch_size, self._max_batch_size, self._max_gen_toks = a.batch_size, a.max_batch_size, a.max_gen_toks
        self._fast_scoring, self._joint_tokenization = a.fast_scoring, a.joint_tokenization
        self._scorer: PrefixCacheScorer | None = None
        self._device = a.device
        pretrained, revision, peft, gguf_file = a.pretrained, a.revision, a.peft, a.gguf_file
        hub_kwargs = {"trust_remote_code": a.trust_remote_code}
        if revision:
            hub_kwargs["revision"] = str(revision)
        if a.subfolder:
            hub_kwargs["subfolder"] = str(a.subfolder)
        self.pretrained, self.revision, self.peft = pretrained, revision, peft
        if a.tokenizer:  # a separate tokenizer does not share the model's revision, subfolder or GGUF file
            self.tokenizer = _load_tokenizer(a.tokenizer, {"trust_remote_code": a.trust_remote_code}, a.use_fast, None)
        else:
            self.tokenizer = _load_tokenizer(pretrained, hub_kwargs, a.use_fast, gguf_file)
        if a.chat_template is not None:  # a base or GGUF model without one, asked as a chat model
            self.tokenizer.chat_template = a.chat_template
        self._model = _load_model(pretrained, hub_kwargs, a.dtype, self._device, a.device_map, a.load_in_8bit,
                                  a.load_in_4bit, gguf_file, peft)
        if getattr(self._model, "hf_device_map", None):
            # Dispatched models move activations themselves; inputs go where the embeddings live.
            weight = self._model.get_input_embeddings().weight
            self._device = weight.device if weight.device.type != "meta" else torch.device("cpu")
        self._max_length = a.max_length or default_max_length(self._model.config, self.tokenizer)
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

        Greedy unless ``do_sample`` (then sampled at ``temperature``, seeded by the request's ``seed``, one request at
        a time so a result does not depend on its batch). The only token-level stop is the last token of the first
        stop string, as in the reference; without stop strings (a chat answer) generation stops at the model's
        end-of-sequence tokens and special tokens are dropped from the text.
        """
        jobs = [self._job(context, dict(gen_kwargs or {})) for context, gen_kwargs in (req.args for req in requests)]

        def run(chunk: list[int], batch_size: int) -> list[str]:
            first = jobs[chunk[0]]
            new_tokens = self._generate_batch([jobs[i].context for i in chunk], first.stop_ids,
                                              [jobs[i].cap for i in chunk], first.sampling)
            texts = []
            for i, tokens in zip(chunk, new_tokens):
                job = jobs[i]
                if job.until:
                    text = self.tok_decode(tokens)
                    for stop in job.until:
                        text = text.split(stop)[0]
                else:
                    text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
                texts.append(text)
            return texts

        # A batch shares its stop tokens and sampling; longest prompts first so an out-of-memory shows up at once.
        order = sorted(range(len(jobs)), key=lambda i: (jobs[i].batch_key(i), -len(jobs[i].context)))
        bucket = dict(zip(order, _length_buckets([(jobs[i].batch_key(i), len(jobs[i].context)) for i in order])))
        return self._in_batches("generate_until", [[i] for i in order], run, disable_tqdm,
                                key=lambda unit: bucket[unit[0]])

    def _job(self, context: str, gen_kwargs: dict) -> "_GenerationJob":
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
            sampling = (float(gen_kwargs.get("temperature", 1.0)), int(gen_kwargs.get("seed", 1234)))
        # Same slice as the reference: keeps the last max_length - cap tokens.
        context_ids = self.tok_encode(context)[cap - self.max_length:] or [self.eot_token_id]
        return _GenerationJob(context_ids, stops, cap, until, sampling)

    def _end_of_sequence_ids(self) -> tuple[int, ...]:
        """The tokenizer's EOS and every EOS of the model's generation config (chat models end a turn with one)."""
        ids = [self.eot_token_id]
        configured = getattr(getattr(self._model, "generation_config", None), "eos_token_id", None)
        ids += configured if isinstance(configured, (list, tuple)) else [configured]
        return tuple(dict.fromkeys(int(i) for i in ids if i is not None))

    @torch.no_grad()
    def _generate_batch(self, contexts: list[list[int]], stop_ids: tuple[int, ...], caps: list[int],
                        sampling: tuple[float, int] | None = None) -> list[list[int]]:
        """New tokens per row: up to and including the first stop token, at most that row's cap (greedy, or sampled
        at ``sampling = (temperature, seed)``)."""
        width = max(len(c) for c in contexts)
        pad = stop_ids[0]
        input_ids = torch.full((len(contexts), width), pad, dtype=torch.long)
        attention_mask = torch.zeros(len(contexts), width, dtype=torch.long)
        for row, ids in enumerate(contexts):  # left padding so every row continues at the same column
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            attention_mask[row, width - len(ids):] = 1
        options = dict(do_sample=False)
        if sampling is not None:
            temperature, seed = sampling
            torch.manual_seed(seed)
            options = dict(do_sample=True, temperature=temperature)
        out = self._model.generate(
            input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device),
            max_new_tokens=max(caps), eos_token_id=list(stop_ids), pad_token_id=pad,
            stopping_criteria=transformers.StoppingCriteriaList([_RowCaps(width, caps, self.device)]), **options,
        )
        results = []
        for row, cap in enumerate(caps):
            tokens = out[row, width:width + cap].tolist()
            end = next((k for k, t in enumerate(tokens) if t in stop_ids), None)
            results.append(tokens if end is None else tokens[:end + 1])
        return results

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
