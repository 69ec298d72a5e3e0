"""hf-causal's model_args and loading: every value checked and typed (no loading), then the tokenizer, the weights
(quantised, dispatched, GGUF), a PEFT adapter and the context length.

:func:`settings` validates hf-causal's model_args exactly as they arrive from ``--model_args`` (strings) or from
Python (objects); every problem is a :class:`~lm_eval_ja.errors.UserError` naming the key. The command line calls
it before any data is read; :class:`lm_eval_ja.models.hf_causal.HFCausalLM` calls it again and then loads.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
from pathlib import Path
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
import transformers

import lm_eval_ja.distributed as distributed
from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import as_bool

logger = logging.getLogger("lm_eval_ja.models.hf_causal")

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


def as_int(key: str, value: Any) -> int:
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
        return as_int("batch_size", value)
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


def load_tokenizer(name_or_obj: Any, hub_kwargs: dict, use_fast: bool, gguf_file: str | None):
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


def load_model(pretrained: Any, hub_kwargs: dict, dtype, device: torch.device, device_map,
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
    _check_model_given(pretrained, tokenizer)
    load_in_8bit, load_in_4bit = as_bool("load_in_8bit", load_in_8bit), as_bool("load_in_4bit", load_in_4bit)
    _note_ignored(low_cpu_mem_usage, use_accelerate)
    if device_map and device_map_option and device_map != device_map_option:
        raise UserError("device_map and device_map_option disagree; give only one of them.")
    out = SimpleNamespace(
        pretrained=pretrained, revision=revision, subfolder=subfolder, tokenizer=tokenizer, peft=peft,
        gguf_file=gguf_file, use_fast=as_bool("use_fast", use_fast),
        trust_remote_code=as_bool("trust_remote_code", trust_remote_code),
        device_map=device_map or device_map_option, load_in_8bit=load_in_8bit, load_in_4bit=load_in_4bit,
        batch_size=_as_batch_size(batch_size), max_batch_size=as_int("max_batch_size", max_batch_size),
        max_gen_toks=as_int("max_gen_toks", max_gen_toks), fast_scoring=as_bool("fast_scoring", fast_scoring),
        joint_tokenization=as_bool("joint_tokenization", joint_tokenization),
        max_length=as_int("max_length", max_length) if max_length is not None else None,
        dtype=_as_dtype(dtype, torch_dtype),
        device=_data_parallel_device(_as_device(device), device, device_map or device_map_option),
        chat_template=_read_chat_template(chat_template),
    )
    _check_quantization(load_in_8bit, load_in_4bit)
    _check_local_model(pretrained, gguf_file)
    return out


def _check_model_given(pretrained: Any, tokenizer: Any) -> None:
    if pretrained is None or (isinstance(pretrained, str) and not pretrained.strip()):
        raise UserError("hf-causal needs a model: give --model_args pretrained=<hub id or local path>.")
    if isinstance(pretrained, transformers.PreTrainedModel) and tokenizer is None:
        raise UserError("pretrained is a loaded model object, so give its tokenizer too "
                        "(tokenizer=<name or object>).")


def _note_ignored(low_cpu_mem_usage: Any, use_accelerate: Any) -> None:
    """Old jp-stable flags that are accepted (and checked) but change nothing."""
    if low_cpu_mem_usage is not None:
        as_bool("low_cpu_mem_usage", low_cpu_mem_usage)
        logger.info("low_cpu_mem_usage is ignored: transformers always loads weights lazily now.")
    if use_accelerate is not None and as_bool("use_accelerate", use_accelerate):
        logger.info("use_accelerate is ignored; device_map=auto spreads a model over several GPUs.")


def _read_chat_template(chat_template: Any) -> str | None:
    """``chat_template=<file>``: the Jinja template in that file (for a model that has none)."""
    if chat_template is None:
        return None
    template = Path(str(chat_template)).expanduser()
    if not template.is_file():
        raise UserError(f"chat_template={chat_template}: no such file; give the path of a file holding a Jinja "
                        "chat template.")
    return template.read_text(encoding="utf-8")


@dataclass
class Loaded:
    """What :func:`load` gives the LM: tokenizer, model (eval mode), the device inputs go to, context length."""

    tokenizer: Any
    model: Any
    device: torch.device
    max_length: int


def load(a: SimpleNamespace) -> Loaded:
    """Load what :func:`settings` describes: the tokenizer (a separate one does not share the model's revision,
    subfolder or GGUF file; ``chat_template`` set on it), the weights, the adapter, the context length."""
    hub_kwargs: dict[str, Any] = {"trust_remote_code": a.trust_remote_code}
    if a.revision:
        hub_kwargs["revision"] = str(a.revision)
    if a.subfolder:
        hub_kwargs["subfolder"] = str(a.subfolder)
    if a.tokenizer:
        tokenizer = load_tokenizer(a.tokenizer, {"trust_remote_code": a.trust_remote_code}, a.use_fast, None)
    else:
        tokenizer = load_tokenizer(a.pretrained, hub_kwargs, a.use_fast, a.gguf_file)
    if a.chat_template is not None:  # a base or GGUF model without one, asked as a chat model
        tokenizer.chat_template = a.chat_template
    model = load_model(a.pretrained, hub_kwargs, a.dtype, a.device, a.device_map, a.load_in_8bit, a.load_in_4bit,
                       a.gguf_file, a.peft)
    device = a.device
    if getattr(model, "hf_device_map", None):
        # Dispatched models move activations themselves; inputs go where the embeddings live.
        weight = model.get_input_embeddings().weight
        device = weight.device if weight.device.type != "meta" else torch.device("cpu")
    return Loaded(tokenizer, model, device, a.max_length or default_max_length(model.config, tokenizer))
