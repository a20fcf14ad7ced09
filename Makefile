# Entry points. Each target installs what it needs (scripts/setup.sh is idempotent) and builds.
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: setup build demo test clean

setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# The main job: check the Vulkan device, synthesize a small Qwen3-layout model (random weights,
# generated tokenizer and chat template), compile it to a .vkm artifact for this device, summarize
# it, serve the artifact with the OpenAI/Anthropic-compatible server on a free loopback port, and ask
# it one chat question through the API.
DEMO_MODEL = $(BUILD)/demo-model
demo: build
	$(BUILD)/vkllm doctor
	rm -rf $(DEMO_MODEL) && $(BUILD)/vkllm synth --family qwen3 --preset tiny --set tie_word_embeddings=false -o $(DEMO_MODEL)
	$(BUILD)/vkllm compile $(DEMO_MODEL) -o $(DEMO_MODEL).vkm
	$(BUILD)/vkllm inspect $(DEMO_MODEL).vkm
	$(BUILD)/vkllm serve $(DEMO_MODEL).vkm --port 0 --alias demo 2> $(BUILD)/demo-serve.log & pid=$$!; \
	trap "kill $$pid 2>/dev/null" EXIT; \
	for i in $$(seq 600); do grep -q "listening on" $(BUILD)/demo-serve.log && break; \
	  kill -0 $$pid 2>/dev/null || { cat $(BUILD)/demo-serve.log; exit 1; }; sleep 0.2; done; \
	url=$$(grep -o 'http://[0-9.:]*' $(BUILD)/demo-serve.log | head -1); echo "vkllm serve is at $$url"; \
	curl -sSf $$url/v1/chat/completions -H 'content-type: application/json' \
	  -d '{"model": "demo", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 16}'; echo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

clean:
	rm -rf $(BUILD)
