"""Tests for lm_eval_ja.models.scoring: the prefix-cache scorer gives the plain path's numbers.

Every comparison is against the plain computation (one full forward per request, log-softmax over the model's
own logits): log-likelihoods within 1e-4 (float32) and identical greedy flags.
"""

import random

import pytest
import torch
import torch.nn.functional as F
import transformers
from lm_eval.api.instance import Instance

from lm_eval_ja.models import HFCausalLM
from lm_eval_ja.models.scoring import (
    PrefixCacheScorer,
    model_input,
    plan,
    score_token_pairs,
)
from tests.conftest import TINY_MODEL

TOKENIZER = TINY_MODEL
VOCAB = 6000

CONTEXTS = [
    "質問:日本の首都はどこですか?\n回答:",
    "短い",
    "文章:昔々、ある所におじいさんとおばあさんが住んでいました。おじいさんは山へ芝刈りに、おばあさんは川へ洗濯に"
    "行きました。おばあさんが川で洗濯をしていると、大きな桃が流れてきました。\n質問:桃はどこから来ましたか?\n回答:",
    "",
]
CHOICES = ["東京", "大阪府です", "は", "川上から流れてきた大きな桃", "山"]


def _config(arch: str, **extra):
    common = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=256, bos_token_id=0, eos_token_id=0, initializer_range=0.5)
    if arch == "neox":
        return transformers.GPTNeoXConfig(**common, **extra)
    if arch == "llama":
        return transformers.LlamaConfig(num_key_value_heads=2, **common, **extra)
    if arch == "gemma3":  # sliding window far below the inputs, and a final logit soft-cap
        return transformers.Gemma3TextConfig(num_key_value_heads=1, head_dim=8, sliding_window=5,
                                             final_logit_softcapping=2.0,
                                             layer_types=["sliding_attention", "full_attention"], **common, **extra)
    raise ValueError(arch)


def _model(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    return transformers.AutoModelForCausalLM.from_config(_config(arch)).eval()


def plain_scores(model, pairs, max_length):
    """One request at a time, the full model's logits: the definition the scorer must reproduce."""
    out = []
    for context, continuation in pairs:
        if not continuation:
            out.append((0.0, True))
            continue
        inp = model_input(context, continuation, max_length)
        with torch.no_grad():
            logits = model(torch.tensor([inp])).logits[0, len(inp) - len(continuation):]
        logprobs = F.log_softmax(logits.float(), dim=-1)
        target = torch.tensor(continuation)
        out.append((float(logprobs.gather(-1, target[:, None]).sum()), bool((logprobs.argmax(-1) == target).all())))
    return out


def assert_same(got, expected):
    assert len(got) == len(expected)
    for i, ((a, greedy_a), (b, greedy_b)) in enumerate(zip(got, expected)):
        assert a == pytest.approx(b, abs=1e-4), f"request {i}"
        assert greedy_a == greedy_b, f"request {i}"


def multiple_choice_pairs(seed: int, docs: int = 10, lengths=(1, 2, 7, 30, 90)):
    """Contexts of very different lengths (1-90 tokens), 0-5 choices each, choices of 1-6 tokens."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(docs):
        context = [rng.randrange(VOCAB) for _ in range(rng.choice(lengths))]
        for _ in range(rng.randrange(6)):
            pairs.append((context, [rng.randrange(VOCAB) for _ in range(rng.randrange(1, 7))]))
    return pairs


@pytest.fixture(scope="module")
def models():
    return {arch: _model(arch, seed) for seed, arch in enumerate(["neox", "llama", "gemma3"])}


# ---------------------------------------------------------------------------------------------- planning


def test_plan_runs_each_context_once_and_rebuilds_every_input():
    pairs = multiple_choice_pairs(0, lengths=(2, 7, 30, 90)) + [([5, 6, 7], [])]
    groups, known = plan(pairs, max_length=200)
    assert known == {len(pairs) - 1: (0.0, True)}
    assert len(groups) == len({tuple(ctx) for ctx, cont in pairs if cont})
    for group in groups:
        for row in group.rows:
            context, continuation = pairs[row.index]
            suffix = group.suffixes[row.source]
            rebuilt = group.prefix + suffix[:row.start + len(row.targets)]
            assert rebuilt == model_input(context, continuation, 200)
            assert row.targets == continuation
            assert row.start >= 0  # a shared prefix never covers a scored position


def test_plan_shares_a_common_token_prefix_not_a_context():
    """Joint tokenisation may merge the context's last token into the continuation's first."""
    whole = [[1, 2, 3, 4, 50, 9], [1, 2, 3, 4, 51, 8, 7], [1, 2, 3, 4, 5, 6]]
    pairs = [(w[:5], w[5:]) for w in whole]  # contexts differ in their last token
    groups, _ = plan(pairs, max_length=100)
    assert len(groups) == 1 and groups[0].prefix == [1, 2, 3, 4]


def test_plan_does_not_share_across_left_truncation():
    """Truncation shifts each continuation's input differently: no common prefix, each runs on its own."""
    context = list(range(10, 30))
    pairs = [(context, [1]), (context, [2, 3]), (context, [4, 5, 6])]
    groups, _ = plan(pairs, max_length=8)
    assert len(groups) == 3  # each window starts at a different token
    for group in groups:
        for row in group.rows:
            assert group.prefix + group.suffixes[row.source][:row.start + len(row.targets)] == \
                model_input(*pairs[row.index], 8)


def test_one_token_continuations_share_one_suffix():
    context = [3, 4, 5, 6]
    groups, _ = plan([(context, [7]), (context, [8]), (context, [9, 10])], max_length=100)
    assert len(groups) == 1 and groups[0].suffixes == [[6, 9]]  # [6] starts [6, 9]: no row of its own


# ---------------------------------------------------------------------------------------------- equality


@pytest.mark.parametrize("arch", ["neox", "llama", "gemma3"])
@pytest.mark.parametrize("max_length", [256, 40, 9])
def test_scores_equal_plain_path(models, arch, max_length):
    """Separate tokenisation pairs; max_length 40 and 9 truncate most inputs on the left."""
    pairs = multiple_choice_pairs(1)
    got = score_token_pairs(models[arch], pairs, max_length=max_length, batch_size=3)
    assert_same(got, plain_scores(models[arch], pairs, max_length))


@pytest.mark.parametrize("arch", ["neox", "llama"])
def test_joint_tokenisation_pairs_equal_plain_path(models, arch):
    """Context tokens that differ at the end per continuation (whole-string tokenisation split afterwards)."""
    rng = random.Random(2)
    pairs = []
    for _ in range(8):
        shared = [rng.randrange(VOCAB) for _ in range(rng.choice([2, 15, 60]))]
        for _ in range(4):
            whole = shared + [rng.randrange(VOCAB) for _ in range(rng.randrange(2, 6))]
            cut = len(shared) + rng.choice([-1, 0, 1])
            pairs.append((whole[:cut], whole[cut:]))
    got = score_token_pairs(models[arch], pairs, max_length=256, batch_size=4)
    assert_same(got, plain_scores(models[arch], pairs, 256))


def test_single_choice_documents_share_their_common_description(models):
    """One request per document (as in zero-shot tasks): a common description runs once for all."""
    rng = random.Random(4)
    description = [rng.randrange(VOCAB) for _ in range(40)]
    pairs = [(description + [rng.randrange(VOCAB) for _ in range(rng.randrange(3, 12))],
              [rng.randrange(VOCAB) for _ in range(rng.randrange(1, 4))]) for _ in range(12)]
    groups, _ = plan(pairs, max_length=256)
    assert len(groups) == 1 and groups[0].prefix == description
    got = score_token_pairs(models["llama"], pairs, max_length=256, batch_size=4)
    assert_same(got, plain_scores(models["llama"], pairs, 256))


def test_batch_size_does_not_change_scores(models):
    pairs = multiple_choice_pairs(3)
    one = score_token_pairs(models["llama"], pairs, max_length=64, batch_size=1)
    many = score_token_pairs(models["llama"], pairs, max_length=64, batch_size=16)
    assert_same(many, one)


def test_empty_inputs():
    model = _model("neox")
    assert score_token_pairs(model, [], max_length=16) == []
    assert score_token_pairs(model, [([1, 2], []), ([3], [])], max_length=16) == [(0.0, True), (0.0, True)]


def test_continuation_longer_than_the_window_is_an_error():
    with pytest.raises(ValueError, match="cannot be scored within max_length=4"):
        plan([([1], [2, 3, 4, 5, 6])], max_length=4)


def test_projection_only_at_scored_positions(models):
    model = models["gemma3"]
    pairs = [([1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11]), ([1, 2, 3, 4, 5, 6, 7, 8], [12]), ([20, 21], [22, 23])]
    seen = []
    handle = model.get_output_embeddings().register_forward_hook(lambda mod, args, out: seen.append(out.shape[0]))
    try:
        score_token_pairs(model, pairs, max_length=64)
    finally:
        handle.remove()
    # One vocabulary row per scored position: [12] is scored where [9, 10, 11] starts, so they share it.
    assert sum(seen) == 3 + 2


def test_final_logit_softcapping_is_applied(models):
    model = models["gemma3"]
    scorer = PrefixCacheScorer(model, "cpu")
    assert scorer.softcap == 2.0
    hidden = torch.randn(3, model.config.hidden_size)
    projected = scorer.project(hidden)
    assert projected.abs().max() <= 2.0
    assert torch.allclose(projected, torch.tanh(model.lm_head(hidden) / 2.0) * 2.0)


def test_self_check_rejects_a_wrong_projection(models, monkeypatch):
    scorer = PrefixCacheScorer(models["llama"], "cpu")
    assert scorer.self_check()
    monkeypatch.setattr(scorer, "softcap", 1.0)  # a transform the model does not have
    assert not scorer.self_check()


# ---------------------------------------------------------------------------------------------- hf-causal


@pytest.fixture(scope="module")
def tiny_paths(tmp_path_factory, models):
    if not TOKENIZER.is_dir():
        pytest.skip(f"conformance tokenizer not found at {TOKENIZER} (shared/ is absent)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(TOKENIZER)
    root = tmp_path_factory.mktemp("scoring")
    for arch, model in models.items():
        model.save_pretrained(root / arch)
        tokenizer.save_pretrained(root / arch)
    return {arch: str(root / arch) for arch in models}


def ll_requests(pairs):
    return [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]


@pytest.mark.parametrize("arch", ["neox", "llama", "gemma3"])
@pytest.mark.parametrize("joint", [False, True])
def test_hf_causal_fast_equals_plain(tiny_paths, arch, joint):
    pairs = [(ctx, cont) for ctx in CONTEXTS for cont in CHOICES] + [(CONTEXTS[0] + " ", "東京"), (CONTEXTS[1], "")]
    requests = ll_requests(pairs)
    fast = HFCausalLM(pretrained=tiny_paths[arch], device="cpu", batch_size=3, joint_tokenization=joint)
    plain = HFCausalLM(pretrained=tiny_paths[arch], device="cpu", batch_size=3, joint_tokenization=joint,
                       fast_scoring="False")
    got = fast.loglikelihood(requests, disable_tqdm=True)
    assert fast._scorer is not None and plain._scorer is None
    assert_same(got, plain.loglikelihood(requests, disable_tqdm=True))
    fast._max_length = plain._max_length = 12  # most inputs truncated on the left
    assert_same(fast.loglikelihood(requests, disable_tqdm=True), plain.loglikelihood(requests, disable_tqdm=True))


def test_hf_causal_with_no_requests(tiny_paths):
    lm = HFCausalLM(pretrained=tiny_paths["neox"], device="cpu")
    assert lm.loglikelihood([], disable_tqdm=True) == []
    assert lm.loglikelihood(ll_requests([(CONTEXTS[0], "")]), disable_tqdm=True) == [(0.0, True)]


def test_joint_tokenization_follows_lm_eval(tiny_paths):
    lm = HFCausalLM(pretrained=tiny_paths["neox"], device="cpu", joint_tokenization=True)
    context, continuation = "質問:日本の首都は ", "東京"
    whole = lm.tok_encode("質問:日本の首都は 東京")
    context_enc = lm.tok_encode("質問:日本の首都は")
    assert lm._encode_pair(context, continuation) == (context_enc, whole[len(context_enc):])
    assert lm._encode_pair("", "東京") == ([lm.eot_token_id], lm.tok_encode("東京"))


def test_hf_causal_falls_back_when_the_check_fails(tiny_paths, monkeypatch, caplog):
    monkeypatch.setattr(PrefixCacheScorer, "self_check", lambda self, max_length=64: False)
    lm = HFCausalLM(pretrained=tiny_paths["llama"], device="cpu")
    plain = HFCausalLM(pretrained=tiny_paths["llama"], device="cpu", fast_scoring=False)
    requests = ll_requests([(CONTEXTS[0], c) for c in CHOICES])
    assert_same(lm.loglikelihood(requests, disable_tqdm=True), plain.loglikelihood(requests, disable_tqdm=True))
    assert lm._scorer is None and "failed its check" in caplog.text


def test_auto_batch_size_backs_off_inside_the_scorer(tiny_paths, monkeypatch):
    lm = HFCausalLM(pretrained=tiny_paths["neox"], device="cpu", batch_size="auto")
    requests = ll_requests([(ctx, cont) for ctx in (CONTEXTS[0], CONTEXTS[2]) for cont in CHOICES])
    expected = lm.loglikelihood(requests, disable_tqdm=True)
    real_run, sizes = PrefixCacheScorer.run, []

    def small_memory(self, groups, batch_size=None):
        sizes.append(len(groups))
        if len(groups) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_run(self, groups, batch_size)

    monkeypatch.setattr(PrefixCacheScorer, "run", small_memory)
    lm.batch_sizes["loglikelihood"] = 8
    assert_same(lm.loglikelihood(requests, disable_tqdm=True), expected)
    # 8 and 4 and 2 prefixes fail (two are there), 1 works for each.
    assert sizes == [2, 2, 2, 1, 1] and lm.batch_sizes["loglikelihood"] == 1


def test_identical_requests_are_scored_once(tiny_paths):
    lm = HFCausalLM(pretrained=tiny_paths["neox"], device="cpu")
    seen = []
    real = lm._score_batch
    lm._score_batch = lambda pairs, batch_size: seen.append(len(pairs)) or real(pairs, batch_size)
    got = lm.loglikelihood(ll_requests([(CONTEXTS[0], "東京")] * 3), disable_tqdm=True)
    assert seen == [1] and got[0] == got[1] == got[2]


# ---------------------------------------------------------------------------------------------- generation


def _greedy_ids(lm, ids, cap, stop=None):
    """Full-recompute greedy decoding of one prompt."""
    new = []
    with torch.no_grad():
        while len(new) < cap:
            new.append(int(lm.model(torch.tensor([ids + new])).logits[0, -1].argmax()))
            if new[-1] == stop:
                break
    return new


def _greedy(lm, context, until, cap):
    """One request with the reference's semantics: token stop = last token of the first stop string."""
    stop_ids = lm.tok_encode(until[0])
    new = _greedy_ids(lm, lm.tok_encode(context)[cap - lm.max_length:], cap,
                      stop_ids[-1] if stop_ids else lm.eot_token_id)
    text = lm.tok_decode(new)
    for s in until:
        text = text.split(s)[0]
    return text


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_batched_generation_with_per_request_stops_and_caps(tiny_paths, arch):
    lm = HFCausalLM(pretrained=tiny_paths[arch], device="cpu", max_length=96, batch_size=4)
    # Stops the model really emits, so both the token stop and the string cut are exercised.
    probe = _greedy_ids(lm, lm.tok_encode(CONTEXTS[2]), 12)
    stops = [[lm.tok_decode(probe[3:4])], [lm.tok_decode(probe[6:7]), "。"], ["\n"]]
    jobs = [(ctx, stops[i % 3], cap) for i, (ctx, cap) in enumerate(zip(CONTEXTS[:3] * 3, [12, 3, 9, 1, 12, 5, 7, 12, 2]))]
    requests = [Instance("generate_until", {}, (ctx, {"until": until, "max_gen_toks": cap}), i)
                for i, (ctx, until, cap) in enumerate(jobs)]
    expected = [_greedy(lm, *job) for job in jobs]
    assert lm.generate_until(requests, disable_tqdm=True) == expected
    lm._batch_size = 1
    assert lm.generate_until(requests, disable_tqdm=True) == expected


def test_generation_batches_keep_left_padding_small():
    from lm_eval_ja.models.hf_causal import _length_buckets

    # Sorted by stop id then length (longest first): a new batch at a new stop id or below 90% of its longest.
    assert _length_buckets([(1, 100), (1, 95), (1, 90), (1, 89), (1, 50), (2, 50), (2, 49)]) == [0, 0, 0, 1, 2, 3, 3]
