#!/usr/bin/env python3
"""Logits parity of vkllm against Hugging Face transformers on synthesized checkpoints.

For each family preset: `vkllm synth` writes a random-weight checkpoint in HF layout, `vkllm logits`
computes float32 logits at every position of a fixed token sequence, and transformers computes the
same in float32 (weights upcast from bf16, eager attention). Reports max relative error
(max |vkllm - hf| / max |hf|) and top-1 agreement per position, as JSON lines and a table.

    python3 bench/parity/hf_parity.py --vkllm PATH/TO/vkllm --work /tmp/parity --out results.json
"""
import argparse, json, os, subprocess, sys, time

import numpy as np
import torch
from transformers import AutoModelForCausalLM

PRESETS = [("qwen3", "qwen3-0.6b"), ("qwen2", "qwen2.5-0.5b"), ("llama", "llama3.2-1b"),
           ("gemma3", "gemma3-1b"), ("gemma2", "gemma2-2b"), ("mistral", "mistral-7b"),
           ("qwen35", "qwen35-0.8b"), ("qwen35", "qwen35-9b"),
           ("qwen3_next", "tiny"), ("qwen3_next", "qwen3-next-80b-a3b-dense")]


def tokens_for(vocab, n):
    rng = np.random.default_rng(1234)
    return [int(t) for t in rng.integers(1, vocab - 16, size=n)]


def load_hf(d, config):
    kw = dict(dtype=torch.float32, attn_implementation="eager")
    if config.get("model_type") == "qwen3_next":
        # Qwen3NextForCausalLM (transformers >= 4.57) with num_experts 0: every MLP dense. It reads the
        # fused in_proj_qkvz / in_proj_ba as stored and ignores mtp.* (_keys_to_ignore_on_load_unexpected);
        # a weight it did not load would be left random, so none may be missing.
        model, info = AutoModelForCausalLM.from_pretrained(d, output_loading_info=True, **kw)
        if type(model).__name__ != "Qwen3NextForCausalLM":
            raise RuntimeError(f"transformers loaded {type(model).__name__}, not Qwen3NextForCausalLM")
        if info["missing_keys"]:
            raise RuntimeError(f"transformers did not load these weights: {sorted(info['missing_keys'])[:8]}")
        return model
    if "text_config" not in config:
        return AutoModelForCausalLM.from_pretrained(d, **kw)
    # A multimodal checkpoint (Qwen3_5ForConditionalGeneration): load the published class and run its
    # text path (input ids only: text positions, no vision). The vision tower, absent from the
    # synthesized checkpoint, is left randomly initialized and unused; every text weight must load.
    from transformers import AutoModelForImageTextToText
    model, info = AutoModelForImageTextToText.from_pretrained(d, output_loading_info=True, **kw)
    tied = config.get("tie_word_embeddings", False)
    missing = [k for k in info["missing_keys"]
               if ".visual." not in "." + k and not (tied and k.startswith("lm_head."))]
    if missing:
        raise RuntimeError(f"transformers did not load these text weights: {missing[:8]}")
    return model


def run_one(vkllm, family, preset, work, n_tokens):
    d = os.path.join(work, f"{family}-{preset}")
    t0 = time.time()
    if not os.path.exists(os.path.join(d, "config.json")):
        subprocess.run([vkllm, "synth", "--family", family, "--preset", preset, "-o", d, "--seed", "7"], check=True)
    t_synth = time.time() - t0
    config = json.load(open(os.path.join(d, "config.json")))
    vocab = config.get("text_config", config)["vocab_size"]
    ids = tokens_for(vocab, n_tokens)
    out = os.path.join(d, "vkllm_logits.f32")
    t0 = time.time()
    subprocess.run([vkllm, "logits", d, "--tokens", ",".join(map(str, ids)), "--out", out, "--all-positions",
                    "--ctx", "512"], check=True)
    t_vk = time.time() - t0
    ours = np.fromfile(out, dtype=np.float32).reshape(n_tokens, vocab)

    t0 = time.time()
    model = load_hf(d, config).cuda().eval()
    with torch.no_grad():
        ref = model(torch.tensor([ids], device="cuda")).logits[0].float().cpu().numpy()
    del model
    torch.cuda.empty_cache()
    t_hf = time.time() - t0
    diff = np.abs(ours - ref)
    rel = float(diff.max() / np.abs(ref).max())
    top1 = float((ours.argmax(-1) == ref.argmax(-1)).mean())
    return {"family": family, "preset": preset, "tokens": n_tokens, "max_rel_err": rel,
            "max_abs_err": float(diff.max()), "max_abs_ref": float(np.abs(ref).max()), "top1_agreement": top1,
            "seconds": {"synth": round(t_synth, 1), "vkllm": round(t_vk, 1), "hf": round(t_hf, 1)}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vkllm", required=True)
    ap.add_argument("--work", default="/tmp/vkllm_parity")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--only", default="", help="comma-separated families or family:preset pairs")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    results = []
    for family, preset in PRESETS:
        if args.only and not {family, f"{family}:{preset}"} & set(args.only.split(",")):
            continue
        try:
            r = run_one(args.vkllm, family, preset, args.work, args.tokens)
        except Exception as e:  # keep going: one family's failure must not hide the others
            r = {"family": family, "preset": preset, "error": str(e)[-2000:]}
        results.append(r)
        print(json.dumps(r), flush=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    print(f"{'family':10} {'preset':24} {'max rel err':>12} {'top-1':>7}")
    for r in results:
        if "error" in r:
            print(f"{r['family']:10} {r['preset']:24} ERROR")
        else:
            print(f"{r['family']:10} {r['preset']:24} {r['max_rel_err']:12.3e} {r['top1_agreement']:7.3f}")


if __name__ == "__main__":
    sys.exit(main())
