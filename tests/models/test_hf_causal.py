"""Tests for lm_eval_ja.models.hf_causal: reference conformance, batching, PEFT, model_args errors."""

import json

import pytest
import torch
import transformers
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model

from lm_eval_ja.errors import UserError
from lm_eval_ja.models import HFCausalLM
from lm_eval_ja.models.hf_settings import ACCEPTED_ARGS
from tests.conftest import CONFORMANCE, TINY_MODEL

REFERENCE_MODEL = TINY_MODEL

needs_shared = pytest.mark.skipif(
    not REFERENCE_MODEL.is_dir(), reason=f"conformance model not found at {REFERENCE_MODEL} (shared/ is absent)"
)

CONTEXTS = [
    "質問:日本の首都はどこですか?\n回答:",
    "短い",
    "文章:昔々、ある所におじいさんとおばあさんが住んでいました。おじいさんは山へ芝刈りに、おばあさんは川へ洗濯に行きました。\n質問:",
    "",
]


def ll_requests(pairs):
    return [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]


def gen_requests(contexts, until, caps):
    return [
        Instance("generate_until", {}, (ctx, {"until": until, "max_gen_toks": cap, "do_sample": False}), i)
        for i, (ctx, cap) in enumerate(zip(contexts, caps))
    ]


def read_cases(name, n=5):
    with open(CONFORMANCE / "cases" / f"{name}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f][:n]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tokenizer():
    if not REFERENCE_MODEL.is_dir():
        pytest.skip(f"conformance tokenizer not found at {REFERENCE_MODEL} (shared/ is absent)")
    return transformers.AutoTokenizer.from_pretrained(REFERENCE_MODEL)


def _save_tiny(config, tokenizer, path, seed=0):
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, tokenizer):
    """Random GPT-NeoX and Llama models (hidden 32, 2 layers) sharing the conformance tokenizer."""
    root = tmp_path_factory.mktemp("tiny")
    common = dict(vocab_size=6000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, max_position_embeddings=256, bos_token_id=0, eos_token_id=0)
    neox = transformers.GPTNeoXConfig(initializer_range=0.5, **common)
    llama = transformers.LlamaConfig(num_key_value_heads=2, initializer_range=0.5, **common)
    return {
        "neox": _save_tiny(neox, tokenizer, root / "neox"),
        "llama": _save_tiny(llama, tokenizer, root / "llama", seed=1),
    }


# ---------------------------------------------------------------------------------------------- registry


def test_registered_under_both_names_without_hiding_lm_evals_hf():
    assert get_model("hf-causal") is HFCausalLM
    assert get_model("hf-causal-experimental") is HFCausalLM
    assert get_model("hf").__name__ == "HFLM"


# ---------------------------------------------------------------------------------------------- conformance


@pytest.fixture(scope="module")
def reference_lm():
    if not REFERENCE_MODEL.is_dir():
        pytest.skip(f"conformance model not found at {REFERENCE_MODEL} (shared/ is absent)")
    return HFCausalLM(pretrained=str(REFERENCE_MODEL), device="cpu")


@needs_shared
@pytest.mark.parametrize("case", ["jcommonsenseqa-1.1-0.3__3", "jnli-1.3-0.3__3"])
def test_loglikelihood_matches_reference(reference_lm, case):
    records = read_cases(case)
    pairs, expected = [], []
    for record in records:
        for request, response in zip(record["requests"], record["responses"]):
            assert reference_lm.tok_encode(request["continuation"]) == request["continuation_token_ids"]
            pairs.append((record["context"], request["continuation"]))
            expected.append(response)
    got = reference_lm.loglikelihood(ll_requests(pairs), disable_tqdm=True)
    for (logprob, greedy), (ref_logprob, ref_greedy) in zip(got, expected, strict=True):
        assert logprob == pytest.approx(ref_logprob, abs=1e-4)
        assert greedy == ref_greedy


@needs_shared
def test_generation_matches_reference(reference_lm):
    records = read_cases("jsquad-1.1-0.2__2")
    requests = [
        Instance("generate_until", {}, (r["context"], {"until": r["requests"][0]["until"],
                                                       "max_gen_toks": r["requests"][0]["max_tokens"]}), i)
        for i, r in enumerate(records)
    ]
    assert reference_lm.generate_until(requests, disable_tqdm=True) == [r["responses"][0] for r in records]


# ---------------------------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("arch", ["neox", "llama"])
def test_batched_loglikelihood_equals_unbatched(tiny_models, arch):
    lm = HFCausalLM(pretrained=str(tiny_models[arch]), device="cpu", batch_size=1)
    pairs = [(ctx, cont) for ctx in CONTEXTS for cont in ("東京", "大阪府です", "は")]
    requests = ll_requests(pairs)
    one = lm.loglikelihood(requests, disable_tqdm=True)
    lm._batch_size = 4
    four = lm.loglikelihood(requests, disable_tqdm=True)
    for (a, greedy_a), (b, greedy_b) in zip(one, four, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
        assert greedy_a == greedy_b


def test_auto_batch_size_halves_after_out_of_memory(tiny_models, monkeypatch):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu", batch_size="auto")
    requests = ll_requests([(ctx, "東京") for ctx in CONTEXTS[:3]] * 2)
    expected = lm.loglikelihood(requests, disable_tqdm=True)
    real_score_batch = lm._score_batch

    def small_memory(pairs, batch_size):
        if len(pairs) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_score_batch(pairs, batch_size)

    monkeypatch.setattr(lm, "_score_batch", small_memory)
    lm.batch_sizes["loglikelihood"] = 8
    got = lm.loglikelihood(requests, disable_tqdm=True)
    assert [s for s, _ in got] == pytest.approx([s for s, _ in expected], abs=1e-5)
    assert lm.batch_sizes["loglikelihood"] == 2


def test_loglikelihood_is_reference_formula_with_left_truncation(tiny_models):
    """Separate tokenisation, no BOS, [eot] for an empty context, input = (ctx+cont)[-(L+1):][:-1]."""
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu", max_length=8)
    model, tok = lm.model, lm.tokenizer
    for context, continuation in [(CONTEXTS[2], "おじいさん"), ("", "川へ洗濯")]:
        ctx = tok.encode(context, add_special_tokens=False) if context else [tok.eos_token_id]
        cont = tok.encode(continuation, add_special_tokens=False)
        inp = (ctx + cont)[-9:][:-1]
        with torch.no_grad():
            logprobs = torch.log_softmax(model(torch.tensor([inp])).logits[0], dim=-1)[len(inp) - len(cont):]
        expected = float(logprobs[torch.arange(len(cont)), torch.tensor(cont)].sum())
        (got, greedy), = lm.loglikelihood(ll_requests([(context, continuation)]), disable_tqdm=True)
        assert got == pytest.approx(expected, abs=1e-5)
        assert greedy == bool((logprobs.argmax(-1) == torch.tensor(cont)).all())


def test_loglikelihood_rolling_equals_empty_context_loglikelihood(tiny_models):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu")
    text = CONTEXTS[2]
    rolling, = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)], disable_tqdm=True)
    (expected, _), = lm.loglikelihood(ll_requests([("", text)]), disable_tqdm=True)
    assert rolling == pytest.approx(expected, abs=1e-4)
    lm._max_length = 8  # several windows
    rolling_short, = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)],
                                              disable_tqdm=True)
    assert rolling_short < 0 and rolling_short != pytest.approx(rolling, abs=1e-3)


def _reference_greedy(lm, context, until, cap):
    """Plain full-recompute greedy loop following protocol §7.5."""
    stop_ids = lm.tok_encode(until[0])
    stop = stop_ids[-1] if stop_ids else lm.eot_token_id
    ids = lm.tok_encode(context)[cap - lm.max_length:]
    new = []
    with torch.no_grad():
        while len(new) < cap:
            nxt = int(lm.model(torch.tensor([ids + new])).logits[0, -1].argmax())
            new.append(nxt)
            if nxt == stop:
                break
    text = lm.tok_decode(new)
    for s in until:
        text = text.split(s)[0]
    return new, text


@pytest.mark.parametrize("arch", ["neox", "llama"])
def test_generation_is_greedy_and_batching_does_not_change_it(tiny_models, arch):
    lm = HFCausalLM(pretrained=str(tiny_models[arch]), device="cpu", max_length=64, batch_size=1)
    contexts = CONTEXTS[:3] * 2
    caps = [3, 9, 5, 12, 1, 7]
    # Use a token the model really emits as the stop, so the stop-token path is exercised.
    first_tokens, _ = _reference_greedy(lm, contexts[1], ["never-seen-stop"], 9)
    stop_text = lm.tok_decode(first_tokens[4:5])
    until = [stop_text, "。"]
    expected = [_reference_greedy(lm, c, until, cap)[1] for c, cap in zip(contexts, caps)]
    requests = gen_requests(contexts, until, caps)
    assert lm.generate_until(requests, disable_tqdm=True) == expected
    lm._batch_size = 4
    assert lm.generate_until(requests, disable_tqdm=True) == expected
    # Same context, different caps: each request gets its own answer (no reference dedup bug).
    assert expected[1] != expected[4]


def test_generation_batched_token_ids_equal_unbatched(tiny_models):
    lm = HFCausalLM(pretrained=str(tiny_models["llama"]), device="cpu")
    contexts = [lm.tok_encode(c) or [0] for c in CONTEXTS]
    caps = [4, 10, 2, 6]
    batched = lm._generate_batch(contexts, stop_ids=(5,), caps=caps)
    single = [lm._generate_batch([c], stop_ids=(5,), caps=[cap])[0] for c, cap in zip(contexts, caps)]
    assert batched == single
    assert all(len(tokens) <= cap for tokens, cap in zip(single, caps))


def test_decode_applies_reference_space_clean_up(tiny_models):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu")
    ids = lm.tok_encode("Hello , world . It is n't")
    lm.tokenizer.clean_up_tokenization_spaces = True
    assert lm.tok_decode(ids) == "Hello, world. It isn't"
    lm.tokenizer.clean_up_tokenization_spaces = False
    assert lm.tok_decode(ids) == "Hello , world . It is n't"


def test_chat_template(tiny_models):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu")
    lm.tokenizer.chat_template = None
    with pytest.raises(UserError, match="has no chat template"):
        lm.apply_chat_template([{"role": "user", "content": "こんにちは"}])
    lm.tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    chat = [{"role": "user", "content": "こんにちは"}]
    assert lm.apply_chat_template(chat) == "user: こんにちは\nassistant: "
    assert lm.chat_template(True) == lm.tokenizer.chat_template


# ---------------------------------------------------------------------------------------------- model_args


def test_model_args_string(tiny_models):
    lm = HFCausalLM.create_from_arg_string(
        f"pretrained={tiny_models['neox']},batch_size=4,max_length=128,max_gen_toks=16,dtype=bfloat16,"
        "use_fast=True,trust_remote_code=False,low_cpu_mem_usage=True,use_accelerate=False",
        {"batch_size": None, "max_batch_size": 64, "device": "cpu"},
    )
    assert (lm.batch_size, lm.max_length, lm.max_gen_toks) == (4, 128, 16)
    assert lm.model.dtype == torch.bfloat16 and lm.device == torch.device("cpu")
    assert lm.eot_token_id == 0 and lm.tokenizer_name.endswith("neox")
    default = HFCausalLM(pretrained=str(tiny_models["neox"]), batch_size="auto", device="cpu")
    assert default.max_length == 256  # config.max_position_embeddings
    assert default.max_gen_toks == 256 and default.batch_size == "auto"
    assert default.model.dtype == torch.float32


def test_pretrained_may_be_a_loaded_model(tiny_models):
    path = tiny_models["llama"]
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    requests = ll_requests([(CONTEXTS[0], "東京")])
    from_objects = HFCausalLM(pretrained=model, tokenizer=tok, device="cpu").loglikelihood(requests)
    from_path = HFCausalLM(pretrained=str(path), device="cpu").loglikelihood(requests)
    assert from_objects[0][0] == pytest.approx(from_path[0][0], abs=1e-6)
    with pytest.raises(UserError, match="give its tokenizer too"):
        HFCausalLM(pretrained=model)


def test_unknown_key_names_it_and_suggests_the_close_one():
    with pytest.raises(UserError) as err:
        HFCausalLM(pretrained="unused", batchsize=4)
    assert str(err.value) == (
        "Unknown model_args key 'batchsize' for hf-causal; did you mean 'batch_size'? "
        f"accepted keys: {', '.join(ACCEPTED_ARGS)}."
    )


@pytest.mark.parametrize("args, message", [
    ({"batch_size": "abc"},
     "batch_size='abc' is not a positive integer or 'auto'; use e.g. batch_size=8 or batch_size=auto."),
    ({"load_in_8bit": "maybe"}, "load_in_8bit='maybe' is not a boolean; use load_in_8bit=True or load_in_8bit=False."),
    ({"max_length": "0"}, "max_length='0' is not a positive integer; use e.g. max_length=8."),
    ({"dtype": "float8"}, "dtype='float8' is not supported; use one of auto, float32, bfloat16, float16."),
    ({"device": "tpu"}, "device='tpu' is not understood; use cpu, cuda, cuda:N, N (a GPU index) or mps."),
])
def test_bad_values(args, message):
    with pytest.raises(UserError) as err:
        HFCausalLM(pretrained="unused", **args)
    assert str(err.value) == message


def test_missing_pretrained():
    with pytest.raises(UserError) as err:
        HFCausalLM()
    assert str(err.value) == "hf-causal needs a model: give --model_args pretrained=<hub id or local path>."


def test_load_in_8bit_without_cuda_fails_before_loading(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError) as err:  # the path does not exist: the check must come first
        HFCausalLM(pretrained="/nonexistent/model", load_in_8bit="True", device="cpu")
    assert str(err.value) == (
        "load_in_8bit=True needs a CUDA GPU and the bitsandbytes package (pip install 'lm-eval-ja[quant]'); "
        "this machine has no CUDA device, so drop load_in_8bit or run on a GPU."
    )


def test_missing_peft_adapter(tiny_models):
    with pytest.raises(UserError, match=r"^peft=/nonexistent/adapter is not a local adapter folder"):
        HFCausalLM(pretrained=str(tiny_models["neox"]), peft="/nonexistent/adapter", device="cpu")


def test_gguf_file_is_forwarded(monkeypatch, tiny_models):
    seen = {}
    real_model, real_tok = transformers.AutoModelForCausalLM.from_pretrained, transformers.AutoTokenizer.from_pretrained

    def fake_model(name, **kwargs):
        seen["model"] = kwargs.get("gguf_file")
        return real_model(tiny_models["neox"])

    def fake_tok(name, **kwargs):
        seen["tokenizer"] = kwargs.get("gguf_file")
        return real_tok(tiny_models["neox"])

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_tok)
    HFCausalLM(pretrained="some/repo-GGUF", gguf_file="model.Q4_K_M.gguf", device="cpu")
    assert seen == {"model": "model.Q4_K_M.gguf", "tokenizer": "model.Q4_K_M.gguf"}


# ---------------------------------------------------------------------------------------------- peft


def test_peft_adapter_is_applied(tiny_models, tmp_path):
    peft = pytest.importorskip("peft")
    base_path = tiny_models["neox"]
    base = transformers.AutoModelForCausalLM.from_pretrained(base_path)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query_key_value"], init_lora_weights=False,
                           task_type="CAUSAL_LM")
    torch.manual_seed(2)
    peft.get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")
    fresh = transformers.AutoModelForCausalLM.from_pretrained(base_path)
    merged = peft.PeftModel.from_pretrained(fresh, tmp_path / "adapter").merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    transformers.AutoTokenizer.from_pretrained(base_path).save_pretrained(tmp_path / "merged")

    requests = ll_requests([(CONTEXTS[0], "東京"), (CONTEXTS[2], "おばあさん")])
    scores = {
        name: [s for s, _ in HFCausalLM.create_from_arg_string(args, {"device": "cpu"}).loglikelihood(
            requests, disable_tqdm=True)]
        for name, args in {
            "base": f"pretrained={base_path}",
            "adapter": f"pretrained={base_path},peft={tmp_path / 'adapter'}",
            "merged": f"pretrained={tmp_path / 'merged'}",
        }.items()
    }
    assert all(abs(a - b) > 1e-3 for a, b in zip(scores["adapter"], scores["base"]))
    assert scores["adapter"] == pytest.approx(scores["merged"], abs=1e-4)


def test_sampling_is_seeded_per_request_and_independent_of_the_batch(tiny_models):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu", batch_size=4)
    kwargs = {"until": ["\n"], "max_gen_toks": 12, "do_sample": True, "temperature": 0.9}
    requests = [Instance("generate_until", {}, (CONTEXTS[0], {**kwargs, "seed": seed}), i)
                for i, seed in enumerate((1, 2, 1))]
    texts = lm.generate_until(requests, disable_tqdm=True)
    assert texts[0] == texts[2] and texts[0] != texts[1]  # same seed, same answer; another seed, another
    alone = lm.generate_until([requests[1]], disable_tqdm=True)
    assert alone == [texts[1]]
    greedy = gen_requests([CONTEXTS[0]], ["\n"], [12])
    assert lm.generate_until(greedy, disable_tqdm=True) == lm.generate_until(greedy, disable_tqdm=True)


def test_without_stop_strings_generation_ends_at_end_of_sequence_and_drops_special_tokens(tiny_models):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu")
    lm.model.generation_config.eos_token_id = [0, 7]
    assert lm._end_of_sequence_ids() == (0, 7)
    job = lm._job("こんにちは", {"until": [], "max_gen_toks": 5})
    assert job.stop_ids == (0, 7) and job.until == []
    (text,) = lm.generate_until(gen_requests(["こんにちは"], [], [5]), disable_tqdm=True)
    assert "<|endoftext|>" not in text


# ---------------------------------------------------------------------------------------------- batched sampling


def sample_requests(rows):
    """rows: (context, gen_kwargs) with do_sample added."""
    return [Instance("generate_until", {}, (ctx, {"do_sample": True, **kwargs}), i) for i, (ctx, kwargs) in
            enumerate(rows)]


#: eight sampled requests of mixed prompts, seeds, settings and stops (the chat tasks send until=[])
MIXED_SAMPLED = [
    (CONTEXTS[0], {"until": [], "max_gen_toks": 24, "temperature": 0.7, "seed": 11}),
    (CONTEXTS[1], {"until": [], "max_gen_toks": 24, "temperature": 1.0, "seed": 12}),
    (CONTEXTS[2], {"until": ["。"], "max_gen_toks": 16, "temperature": 1.3, "top_p": 0.9, "seed": 13}),
    (CONTEXTS[0], {"until": [], "max_gen_toks": 24, "temperature": 0.7, "seed": 14, "repetition_penalty": 1.3}),
    ("おじいさんは山へ", {"until": [], "max_gen_toks": 8, "temperature": 0.5, "top_k": 5, "seed": 15}),
    (CONTEXTS[2], {"until": [], "max_gen_toks": 24, "temperature": 0.9, "top_k": 0, "seed": 16}),
    (CONTEXTS[1], {"until": ["\n"], "max_gen_toks": 20, "temperature": 2.0, "top_p": 0.5, "seed": 17}),
    ("", {"until": [], "max_gen_toks": 12, "temperature": 1.1, "repetition_penalty": 0.8, "seed": 18}),
]


def test_sampling_probabilities_are_transformers_processors_row_by_row():
    from transformers.generation import logits_process as lp

    from lm_eval_ja.models.hf_causal import _next_token_probs, _Sampling

    torch.manual_seed(0)
    vocab = 300
    scores = torch.randn(5, vocab) * 3
    ids = torch.randint(0, vocab, (5, 40))
    seen = torch.zeros(5, vocab, dtype=torch.bool)
    seen.scatter_(1, ids, True)
    kth = scores[4].topk(40).values[-1]
    scores[4, (scores[4] < kth).nonzero()[:2, 0]] = kth  # ties at row 4's 40th score: top-k keeps all three
    full_sort = [_Sampling(0.7, 50, 1.0, 1.0), _Sampling(1.0, 0, 0.9, 1.3), _Sampling(1.5, 7, 0.5, 0.8),
                 _Sampling(1.0, 1, 1.0, 1.0), _Sampling(0.3, 400, 0.95, 1.1)]
    top_k_first = [_Sampling(0.7, 50, 0.9, 1.0), _Sampling(1.0, 3, 0.99, 1.3), _Sampling(1.5, 7, 0.5, 0.8),
                   _Sampling(1.0, 20, 1.0, 1.0), _Sampling(0.3, 40, 0.8, 1.1)]
    for settings in (full_sort, top_k_first):
        got = _next_token_probs(scores.clone(), seen, settings)
        for row, s in enumerate(settings):
            processors = lp.LogitsProcessorList([lp.RepetitionPenaltyLogitsProcessor(s.repetition_penalty)])
            if s.temperature != 1:
                processors.append(lp.TemperatureLogitsWarper(s.temperature))
            if s.top_k:
                processors.append(lp.TopKLogitsWarper(s.top_k))
            if s.top_p < 1:
                processors.append(lp.TopPLogitsWarper(s.top_p))
            expected = processors(ids[row:row + 1], scores[row:row + 1].clone()).softmax(-1)[0]
            assert torch.equal(got[row] > 0, expected > 0), (settings, row)  # the same tokens are kept
            torch.testing.assert_close(got[row], expected, rtol=1e-6, atol=1e-7)
    # Without a penalty anywhere no token mask is needed.
    plain = [_Sampling(0.7, 50, 0.9, 1.0)] * 2
    assert torch.equal(_next_token_probs(scores[:2], None, plain), _next_token_probs(scores[:2], seen[:2] & False,
                                                                                        plain))


def test_draw_follows_the_probabilities_and_its_generator():
    from lm_eval_ja.models.hf_causal import _draw

    probs = torch.tensor([[0.5, 0.0, 0.2, 0.3]])
    counts = torch.zeros(4)
    for seed in range(4000):
        counts[_draw(probs, [torch.Generator().manual_seed(seed)])] += 1
    assert counts[1] == 0
    assert (counts / 4000 - probs[0]).abs().max() < 0.03
    # A row's draw depends on its own generator only.
    rows = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]])
    pair = _draw(rows, [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)])
    assert int(pair[1]) == int(_draw(rows[1:], [torch.Generator().manual_seed(2)])[0])


@pytest.mark.parametrize("arch", ["neox", "llama"])
def test_top_k_1_sampling_is_greedy_decoding(tiny_models, arch):
    """The sampling loop's own KV cache, left padding and position ids give generate()'s greedy tokens at top_k=1."""
    lm = HFCausalLM(pretrained=str(tiny_models[arch]), device="cpu", max_length=64, batch_size=8)
    contexts = CONTEXTS * 2
    caps = [3, 9, 5, 12, 1, 7, 12, 10]
    greedy = lm.generate_until(gen_requests(contexts, ["。"], caps), disable_tqdm=True)
    sampled = lm.generate_until(sample_requests(
        [(c, {"until": ["。"], "max_gen_toks": cap, "top_k": 1, "temperature": 0.5, "seed": i})
         for i, (c, cap) in enumerate(zip(contexts, caps))]), disable_tqdm=True)
    assert sampled == greedy


def _reference_sampled(lm, context, gen_kwargs):
    """One request alone, no cache: full forward per step, the documented settings and one generator per request."""
    from lm_eval_ja.models.hf_causal import _draw, _next_token_probs

    job = lm._job(context, {"do_sample": True, **gen_kwargs})
    ids, new = list(job.context), []
    generator = torch.Generator().manual_seed(job.sampling.seed)
    with torch.no_grad():
        while len(new) < job.cap:
            scores = lm.model(torch.tensor([ids + new])).logits[:, -1].float()
            seen = torch.zeros_like(scores, dtype=torch.bool)
            seen[0, torch.tensor(ids + new)] = True
            new.append(int(_draw(_next_token_probs(scores, seen, [job.sampling]), [generator])[0]))
            if new[-1] in job.stop_ids:
                break
    return new


@needs_shared
def test_sampled_rows_are_their_own_alone_in_a_batch_and_across_runs(reference_lm, monkeypatch):
    """Same requests twice → same texts; each row's tokens alone == inside a batch of 8 (tiny fp32 model)."""
    lm = reference_lm
    jobs = [lm._job(ctx, {"do_sample": True, **kwargs}) for ctx, kwargs in MIXED_SAMPLED]
    batched = lm._sample_batch([j.context for j in jobs], [j.stop_ids for j in jobs], [j.cap for j in jobs],
                               [j.sampling for j in jobs])
    alone = [lm._sample_batch([j.context], [j.stop_ids], [j.cap], [j.sampling])[0] for j in jobs]
    assert batched == alone
    assert alone == [_reference_sampled(lm, ctx, kwargs) for ctx, kwargs in MIXED_SAMPLED]
    assert len(set(map(tuple, batched))) == len(batched)

    requests = sample_requests(MIXED_SAMPLED)
    sizes = []
    real = lm._sample_batch
    monkeypatch.setattr(lm, "_sample_batch", lambda *args: sizes.append(len(args[0])) or real(*args))
    monkeypatch.setattr(lm, "_batch_size", 8)
    first = lm.generate_until(requests, disable_tqdm=True)
    assert first == lm.generate_until(requests, disable_tqdm=True)
    assert sizes == [8, 8]  # one batch: other prompt lengths, seeds, settings and stops
    monkeypatch.setattr(lm, "_batch_size", 1)
    assert lm.generate_until(requests, disable_tqdm=True) == first


def test_sampled_requests_share_batches_by_length_and_back_off_after_out_of_memory(tiny_models, monkeypatch):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu", batch_size="auto")
    kwargs = {"until": [], "max_gen_toks": 6, "temperature": 0.8}
    requests = sample_requests([(CONTEXTS[0], {**kwargs, "seed": seed}) for seed in range(6)])
    lm.batch_sizes["generate_until"] = 8
    expected = lm.generate_until(requests, disable_tqdm=True)
    real, sizes = lm._sample_batch, []

    def small_memory(contexts, *args):
        sizes.append(len(contexts))
        if len(contexts) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(contexts, *args)

    monkeypatch.setattr(lm, "_sample_batch", small_memory)
    assert lm.generate_until(requests, disable_tqdm=True) == expected
    assert sizes == [6, 4, 2, 2, 2] and lm.batch_sizes["generate_until"] == 2


def test_sampling_settings_defaults_and_errors(tiny_models):
    lm = HFCausalLM(pretrained=str(tiny_models["neox"]), device="cpu")
    job = lm._job("こんにちは", {"do_sample": True, "until": []})
    # transformers' generate() defaults where neither the request nor the model's generation config sets a value
    assert (job.sampling.temperature, job.sampling.top_k, job.sampling.top_p, job.sampling.repetition_penalty,
            job.sampling.seed) == (1.0, 50, 1.0, 1.0, 1234)
    assert job.batch_key(0) == ("sampled",)
    lm.model.generation_config.top_k = 64
    assert lm._job("こんにちは", {"do_sample": "True"}).sampling.top_k == 64
    assert lm._job("こんにちは", {"do_sample": True, "top_k": 0}).sampling.top_k == 0
    lm.model.generation_config.top_k = None
    assert lm._job("こんにちは", {"do_sample": True, "temperature": 0}).sampling is None  # greedy
    assert lm._job("こんにちは", {"temperature": 0.7}).sampling is None  # no do_sample: greedy, as before
    for bad, message in [({"top_p": 0}, "top_p=0"), ({"temperature": -1}, "temperature=-1"),
                         ({"top_k": -2}, "top_k=-2"), ({"repetition_penalty": 0}, "repetition_penalty=0"),
                         ({"temperature": "warm"}, "temperature='warm' is not a number")]:
        with pytest.raises(UserError, match=message):
            lm._job("こんにちは", {"do_sample": True, **bad})
