#!/bin/sh
# The line-oriented contract of `vkllm tokenize` / `vkllm detokenize`: one output line per input
# line, `null` and an error naming the line for a bad line, exit status 1 when any line failed.
#   usage: cli_test.sh PATH/TO/vkllm
set -u
vkllm=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/tokenizer.json" <<'JSON'
{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3}, "merges": ["a b"]},
 "added_tokens": [{"id": 3, "content": "<s>", "special": true}],
 "post_processor": {"type": "TemplateProcessing",
   "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
   "special_tokens": {"<s>": {"id": "<s>", "ids": [3], "tokens": ["<s>"]}}}}
JSON
fail() { echo "FAIL: $*"; exit 1; }

out=$(printf '"ab<s>a"\nnot json\n42\n"b"\n' | "$vkllm" tokenize --model "$dir" 2>"$dir/err"); status=$?
[ "$out" = "$(printf '[2,3,0]\nnull\nnull\n[1]')" ] || fail "tokenize output: $out"
[ $status -eq 1 ] || fail "tokenize exit status $status, expected 1"
grep -q "line 2" "$dir/err" && grep -q "line 3: expected a JSON string" "$dir/err" || fail "tokenize stderr: $(cat "$dir/err")"

out=$(printf '"ab"\n' | "$vkllm" tokenize --model "$dir" --add_special_tokens); status=$?
[ "$out" = "[3,2]" ] && [ $status -eq 0 ] || fail "tokenize --add_special_tokens: $out (status $status)"

out=$(printf '[2,3,0]\n[-1]\n"x"\n[0,99,1]\n[]\n' | "$vkllm" detokenize --model "$dir" 2>"$dir/err"); status=$?
[ "$out" = "$(printf '"ab <s> a"\nnull\nnull\n"a b"\n""')" ] || fail "detokenize output: $out"
[ $status -eq 1 ] || fail "detokenize exit status $status, expected 1"
grep -q "line 2: element 0 is not a token id" "$dir/err" && grep -q "line 3" "$dir/err" || fail "detokenize stderr: $(cat "$dir/err")"

out=$(printf '[2,3,0]\n' | "$vkllm" detokenize --model "$dir" --skip_special_tokens); status=$?
[ "$out" = '"ab a"' ] && [ $status -eq 0 ] || fail "detokenize --skip_special_tokens: $out (status $status)"

printf '"a"\n' | "$vkllm" tokenize >/dev/null 2>&1 && fail "tokenize without --model succeeded"
printf '"a"\n' | "$vkllm" tokenize --model "$dir/missing" >/dev/null 2>&1 && fail "tokenize with a missing folder succeeded"
echo "ok"
