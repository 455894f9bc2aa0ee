"""The one translate runner: its shape (public steps, no private imports, no import cycle), continuous feeding
across shards with output identical to a one-call-at-a-time run, length-aware token limits, the echo engine,
typed engine/Ray options checked when a recipe loads, and the paper recipes' translate stages using every GPU."""

from __future__ import annotations

import ast
import json
import threading
import time
from pathlib import Path

import pytest

from hala.translate import TranslateConfig, run
from hala.translate.engines import Generation, GenSettings, Prompt, make_engine

ROOT = Path(__file__).resolve().parents[1]
TRANSLATE = ROOT / "src" / "hala" / "translate"
NO_GUARDS = {"skip": ["empty", "max_tokens", "repetition", "length_ratio", "wrong_script"]}


# ------------------------------------------------------------------------------------------ shape
def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import in `path`, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT / "src").with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def test_translate_modules_import_no_private_name_and_form_no_cycle():
    files = sorted(TRANSLATE.rglob("*.py"))
    modules = {_module(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        me = _module(path)
        for module, names in _imports(path):
            for name in names:
                assert not (name.startswith("_") and not name.startswith("__")), f"{me} imports {module}.{name}"
            targets = {f"{module}.{n}" for n in names} | {module}
            # The package's __init__ re-exports its modules; importing through it is not an edge back.
            graph.setdefault(me, set()).update(t for t in targets if t in modules and t != "hala.translate")
    graph.pop("hala.translate", None)

    def visit(node: str, stack: list[str]) -> None:
        assert node not in stack, "import cycle: " + " -> ".join(stack[stack.index(node) :] + [node])
        for nxt in graph.get(node, ()):
            visit(nxt, stack + [node])

    for m in graph:
        visit(m, [])
    # The Ray executor uses the runner's shared call code, never the runner itself.
    assert "hala.translate.runner" not in graph["hala.translate.distributed"]


# ------------------------------------------------------------------------------------------ continuous feeding
class SlowConcurrentEngine:
    """An engine that takes concurrent calls (like vllm/openai): each prompt takes a little while; records how
    many calls ran at once and which shards' segments were in flight together."""

    name = "slow"
    prompts_in_flight = 8

    def __init__(self):
        self.lock = threading.Lock()
        self.running: list[list[str]] = []
        self.max_running = 0
        self.overlaps: list[tuple[str, ...]] = []

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        sources = [p.source for p in prompts]
        with self.lock:
            self.running.append(sources)
            self.max_running = max(self.max_running, len(self.running))
            self.overlaps.append(tuple(s for r in self.running for s in r))
        time.sleep(0.1)
        with self.lock:
            self.running.remove(sources)
        return [Generation(f"ت {s}", 2, False) for s in sources]


def _chat_file(path: Path, n: int) -> Path:
    rows = [
        {"id": f"r{i}", "messages": [{"role": "user", "content": f"Record {i} one. Record {i} two. Shared."}]}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_calls_are_fed_across_shards_and_the_output_equals_one_call_at_a_time(tmp_path, monkeypatch):
    engines: list[SlowConcurrentEngine] = []

    def make(*a, **k):
        engines.append(SlowConcurrentEngine())
        return engines[-1]

    monkeypatch.setattr("hala.translate.calls.make_engine", make)
    cfg = TranslateConfig(
        input=str(_chat_file(tmp_path / "in.jsonl", 12)),
        model="m",
        engine="echo",
        segments_per_call=2,
        shard_size=2,
        guards=NO_GUARDS,
    )
    fed = run(cfg, tmp_path / "fed")
    serial = run(cfg.model_copy(update={"calls_in_flight": 1}), tmp_path / "serial")
    assert 2 <= engines[0].max_running <= 4  # at most prompts_in_flight 8 / 2 segments per call
    assert engines[1].max_running == 1
    # Calls of different shards were in flight together (the next shard is planned while one runs) ...
    assert any(len({s.split()[1] for s in o if s != "Shared."}) > 2 for o in engines[0].overlaps)
    # ... and everything written is the same, byte for byte, as is every count.
    for name in ("translated.jsonl", "rejects.jsonl"):
        assert (tmp_path / "fed" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes()
    for key in ("translated", "segments", "unique_segments", "generated_segments", "tokens"):
        assert fed[key] == serial[key], key
    assert fed["generated_segments"] == 12 * 2 + 1  # "Shared." generated once, by the first shard
    assert fed["executor"]["calls"] == serial["executor"]["calls"]
    # A rerun of the finished run builds no engine and plans no call.
    again = run(cfg, tmp_path / "fed")
    assert len(engines) == 2 and again["executor"]["calls"] == 0 and again["translated"] == 12


# ------------------------------------------------------------------------------------------ length-aware limits
def test_length_aware_limit_and_its_retry_scaling():
    s = GenSettings(max_new_tokens=2048, length_ratio=4.0, length_extra=32)
    assert s.limit(10) == 72 and s.limit(1000) == 2048 and s.limit(None) == 2048
    doubled = s.adjusted(max_new_tokens=4096)  # the retry after a truncation gets twice the room
    assert doubled.limit(10) == 144
    assert s.adjusted(repetition_penalty=1.2).limit(10) == 72
    assert GenSettings(max_new_tokens=64).limit(1000) == 64  # no cap configured: the flat limit
    assert s.to_json()["length_cap"] == {"ratio": 4.0, "extra": 32}


def test_hf_rows_stop_at_their_own_limit_exactly_as_if_generated_alone(tiny_model, one_thread):
    """Per-row limits in one batch: each row equals that prompt generated alone with its own limit (cutting a
    greedy row at its limit is the same as stopping there)."""
    eng = make_engine("hf", str(tiny_model), batch_size=4, dtype="float32")
    sources = ["Hi.", "The cat sits on the mat and looks at the birds in the garden today."]
    prompts = [Prompt(text=f"English: {s}\nArabic:", source=s) for s in sources]
    capped = GenSettings(max_new_tokens=40, length_ratio=0.5, length_extra=2)
    limits = [capped.limit(len(eng.tokenizer(s, add_special_tokens=False)["input_ids"])) for s in sources]
    assert limits[0] < limits[1] < 40
    together = eng.generate(prompts, capped)
    for p, n, g in zip(prompts, limits, together):
        (alone,) = eng.generate([Prompt(text=p.text)], GenSettings(max_new_tokens=n))
        assert g == alone and g.tokens <= n
    assert together[0].hit_max_tokens  # a random model never stops within 3 tokens


# ------------------------------------------------------------------------------------------ echo engine
def test_echo_engine_runs_the_whole_stage_without_a_model(tmp_path):
    rows = [
        {
            "id": "a",
            "messages": [
                {"role": "user", "content": "Run `ls -l` and see https://e.org now."},
                {"role": "assistant", "content": "```py\nprint(1)\n```\nThe answer is $x^2$."},
            ],
        },
        {"id": "b", "src": "Save the file.", "tgt": "", "src_lang": "en", "tgt_lang": "ar"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = run(TranslateConfig(input=str(src), model="unused", engine="echo"), tmp_path / "out")
    a, b = [json.loads(x) for x in (tmp_path / "out" / "translated.jsonl").read_text().splitlines()]
    assert report["translated"] == 2 and report["rejected"] == 0
    assert "`ls -l`" in a["messages"][0]["content"] and "https://e.org" in a["messages"][0]["content"]
    assert a["messages"][1]["content"].startswith("```py\nprint(1)\n```\n") and "$x^2$" in a["messages"][1]["content"]
    assert b["tgt"] == "غاكج فدج حذسج."
    assert report["provenance"]["engine"] == "echo"
    with pytest.raises(Exception, match="source segment"):
        make_engine("echo", "").generate([Prompt(text="no source")], GenSettings())


# ------------------------------------------------------------------------------------------ typed options
def test_misspelt_engine_and_ray_options_are_named_when_the_config_is_built():
    with pytest.raises(ValueError, match=r"tensor_paralel_size.*known: .*tensor_parallel_size"):
        TranslateConfig(input="x", model="y", engine="vllm", engine_options={"tensor_paralel_size": 8})
    with pytest.raises(ValueError, match=r"compute_typ"):
        TranslateConfig(input="x", model="y", engine="ct2", engine_options={"compute_typ": "int8"})
    with pytest.raises(ValueError, match=r"ray\.worker"):
        TranslateConfig(input="x", model="y", ray={"worker": 4})
    ok = TranslateConfig(
        input="x", model="y", engine="vllm", engine_options={"tensor_parallel_size": 8}, ray={"workers": 2}
    )
    assert ok.engine_options == {"tensor_parallel_size": 8} and ok.ray.workers == 2  # the YAML shape is kept


def test_recipe_dry_run_names_a_misspelt_engine_option(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    text = (ROOT / "recipes" / "hala-9b.yaml").read_text(encoding="utf-8")
    assert "tensor_parallel_size: 8" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("tensor_parallel_size: 8", "tensor_paralel_size: 8"), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(bad), "--dry-run", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code != 0
    message = result.output + str(result.exception)  # the CLI's main() prints a HalaError as one line
    assert "openorca_ar" in message and "tensor_paralel_size" in message and "known: " in message


@pytest.mark.parametrize("size", ["350m", "700m", "1.2b", "9b"])
def test_paper_recipes_translate_on_every_gpu(size):
    """Defect 5: each vllm translate stage of a paper recipe spans the node's 8 GPUs, by tensor parallelism or
    by data-parallel replicas on Ray (a vllm actor gets tensor_parallel_size GPUs)."""
    from hala.recipe import load_recipe
    from hala.translate.distributed import plan_resources

    recipe = load_recipe(ROOT / "recipes" / f"hala-{size}.yaml")
    stages = [s for s in recipe.stages if s.type == "translate" and s.with_.get("engine") == "vllm"]
    assert len(stages) == 7
    for s in stages:
        w = {k: v for k, v in s.with_.items() if not str(v).startswith("@")}
        cfg = TranslateConfig(input="x", model="y", **{k: v for k, v in w.items() if k not in ("input", "model")})
        tp = cfg.engine_options.get("tensor_parallel_size", 1)
        replicas = plan_resources(cfg, cfg.ray, 8)[0] if cfg.distributed == "ray" else 1
        assert tp * replicas == 8, (s.name, tp, replicas)
        assert cfg.length_cap is not None  # the output cap follows the segment's length
