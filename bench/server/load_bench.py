#!/usr/bin/env python3
"""Throughput and latency of `vkllm serve` under concurrent streaming clients (standard library only).

For each concurrency level C, C client threads each send REQUESTS_PER_CLIENT streaming chat
completions (fixed max_tokens, ignore_eos so every answer has the same length) and record the time
to the first content token (TTFT) and the gaps between later tokens (inter-token latency, ITL).
Reports total generated tokens/s, TTFT p50/p99 and ITL p50/p99 per level as JSON lines.

    python3 bench/server/load_bench.py --url http://127.0.0.1:8080 --levels 1,4,16,64 --out load.jsonl
"""
import argparse, http.client, json, threading, time, urllib.parse


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def one_request(url, model, prompt, max_tokens, seed):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({"model": model, "stream": True, "max_tokens": max_tokens, "ignore_eos": True,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": f"{prompt} #{seed}"}]})
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    stamps, generated = [], 0
    for raw in resp:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if chunk.get("usage"):
            generated = chunk["usage"]["completion_tokens"]
        for choice in chunk.get("choices", []):
            if choice.get("delta", {}).get("content"):
                stamps.append(time.perf_counter())
    conn.close()
    return start, stamps, generated


def run_level(args, clients):
    results, errors = [], []
    lock = threading.Lock()

    def client(i):
        for r in range(args.requests_per_client):
            try:
                out = one_request(args.url, args.model, args.prompt, args.max_tokens, i * 1000 + r)
                with lock:
                    results.append(out)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                with lock:
                    errors.append(str(e))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    # Latencies are per streamed text chunk (a token, or a few when bytes of one character span them).
    ttft = [(s[0] - start) * 1e3 for start, s, _ in results if s]
    itl = [(b - a) * 1e3 for _, s, _ in results for a, b in zip(s, s[1:])]
    tokens = sum(n for _, _, n in results)
    return {"clients": clients, "requests": len(results), "errors": len(errors), "first_error": errors[:1],
            "wall_s": round(wall, 2), "tokens": tokens, "tokens_per_s": round(tokens / wall, 1),
            "ttft_ms_p50": percentile(ttft, 50), "ttft_ms_p99": percentile(ttft, 99),
            "itl_ms_p50": percentile(itl, 50), "itl_ms_p99": percentile(itl, 99)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", default="bench")
    ap.add_argument("--levels", default="1,4,16,64")
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt", default="Write a short story about a lighthouse keeper.")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    rows = []
    for c in (int(x) for x in args.levels.split(",")):
        row = run_level(args, c)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
