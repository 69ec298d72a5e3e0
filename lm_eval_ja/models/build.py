"""Building the evaluated model (or a judge) from its registry name and ``--model_args``, and checking both
before anything is loaded. Importing :mod:`lm_eval_ja.models` registers ``hf-causal`` with lm-eval."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import parse_model_args


def model_class(name: str):
    """lm-eval's model class registered as ``name`` (ours included), or a UserError naming the close ones."""
    import lm_eval.api.registry as lm_registry

    import lm_eval_ja.models  # noqa: F401  (registers hf-causal)

    try:
        return lm_registry.get_model(name)
    except (ValueError, KeyError):
        known = sorted(lm_registry.MODEL_REGISTRY)
        close = get_close_matches(name, known, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise UserError(f"Unknown --model {name!r}.{hint} Known models: {', '.join(known)}.") from None


def model_arguments(model_args: str, batch_size, device) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model_args, the --batch_size / --device given as flags); a value given both ways is an error."""
    args = parse_model_args(model_args)
    extra = {k: v for k, v in {"batch_size": batch_size, "device": device}.items() if v is not None}
    for key in extra:
        if key in args:
            raise UserError(f"{key} is given both in --model_args and as --{key}; give it once.")
    return args, extra


def api_defaults(cls) -> dict[str, Any]:
    """What an API model gets unless its model_args say otherwise (:data:`lm_eval_ja.models.served.API_DEFAULTS`:
    8 requests in flight, a 120 s timeout); nothing for a model that runs in this process."""
    from lm_eval.models.api_models import TemplateAPI

    from lm_eval_ja.models.served import API_DEFAULTS

    return dict(API_DEFAULTS) if isinstance(cls, type) and issubclass(cls, TemplateAPI) else {}


def check_model(name: str, model_args: str, batch_size=None, device=None) -> None:
    """Everything about the model that can be checked without loading it: its name, and its model_args where the
    model class can check them (``hf-causal``: unknown keys, values, 8-bit without CUDA, a folder with no model)."""
    cls = model_class(name)
    args, extra = model_arguments(model_args, batch_size, device)
    if hasattr(cls, "check_args"):
        cls.check_args({**args, **extra})


def build_model(name: str, model_args: str, batch_size=None, device=None):
    """Instantiate an lm-eval model by registry name (ours are registered by importing lm_eval_ja.models)."""
    cls = model_class(name)
    args, extra = model_arguments(model_args, batch_size, device)
    args = {**api_defaults(cls), **args}
    try:
        return cls.create_from_arg_obj(args, extra)
    except ModuleNotFoundError as exc:  # lm-eval's API models check for aiohttp / tenacity when they are built
        if "API model" in str(exc):
            raise UserError(f"--model {name} is an API model and needs lm-eval's API packages (aiohttp, tenacity): "
                            "pip install 'lm-eval-ja[api]'.") from None
        raise UserError(f"--model {name} needs {exc.name or 'a package'}, which is not installed: "
                        f"pip install {exc.name or '...'}.") from None
    except OSError as exc:  # a tokenizer or weights that cannot be found (lm-eval's models load them when built)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--model {name} could not be built ({first}); check the paths and hub ids in "
                        "--model_args.") from None
