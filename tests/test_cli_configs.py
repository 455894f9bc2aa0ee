"""The stage commands are generated from the stage configs: every config field is an option, `--config` and
`--set` reach every setting, and the CLI validates through the config class (issue 15, Deliver 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from hala.cli import app, main
from hala.cli.generate import field_shape, option_name
from hala.recipe.registry import STAGE_TYPES

# Stage types with no command of their own (run through a recipe only): named here so that a new one is a decision.
NO_COMMAND: set[str] = set()


def stage_commands() -> dict[str, typing.Any]:
    """stage type -> its generated click command, found by walking the whole `hala` command tree."""
    found: dict[str, typing.Any] = {}

    def walk(command: typing.Any) -> None:
        stage = getattr(command.callback, "stage_type", None)
        if stage is not None:
            found[stage] = command
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def _nested_model(annotation) -> type[BaseModel] | None:
    for a in (annotation, *typing.get_args(annotation)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def test_every_field_of_every_stage_config_is_an_option_of_its_command():
    commands = stage_commands()
    # hala's own stage types: tests register toy ones (tests/recipe_toy.py) that have no command by design
    shipped = {name for name, st in STAGE_TYPES.items() if st.config.startswith("hala.")}
    assert set(commands) == shipped - NO_COMMAND, "a stage type without a command must be in NO_COMMAND"
    checked = 0
    for stage, command in commands.items():
        config = STAGE_TYPES[stage].config_class()
        by_name = {p.name: p for p in command.params}
        assert {"config_file", "set_values"} <= set(by_name), f"{stage}: no --config/--set"
        for name, info in config.model_fields.items():
            param = by_name.get(name)
            assert param is not None, f"{stage}: config field '{name}' is not on the command line"
            if isinstance(param, TyperOption):
                assert option_name(name) in param.opts, f"{stage}: field '{name}' is not --{name.replace('_', '-')}"
            # the default shown is the config's own (never a hand-kept copy), and a required field says so
            shape = field_shape(info.annotation)
            if info.is_required():
                assert "[required]" in (param.help if isinstance(param, TyperOption) else "") or isinstance(
                    param, TyperArgument
                ), f"{stage}: '{name}' required, help does not say so"
            elif shape.kind in ("scalar", "bool") and info.get_default() is not None:
                assert param.default == info.get_default(), f"{stage}: default of '{name}' differs"
            checked += 1
            # nested models: every inner field is reachable with --set FIELD.KEY=VALUE (the model forbids others)
            nested = _nested_model(info.annotation)
            if nested is not None:
                assert nested.model_config.get("extra") == "forbid", f"{stage}: {name} accepts any key"
    assert checked > 150


@pytest.fixture
def captured(monkeypatch):
    """Replace a stage's run function with one that records the config the command built."""
    seen = []

    def patch(module: str, attr: str = "run", result: dict | None = None):
        import importlib

        def fake(config, *args, **kwargs):
            seen.append(config)
            raise typer.Exit(0)

        monkeypatch.setattr(importlib.import_module(module), attr, fake)
        return seen

    return patch


def test_config_file_then_options_then_set(tmp_path, captured):
    seen = captured("hala.evaluate.stage", "run_translation")
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "data: corpus/test\nbatch_size: 3\nmax_new_tokens: 7\nlabel: file\nlimit: 4\n"
        "engine_options: {compute_type: int8, threads: 2}\n"
    )
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "translation",
            "--config",
            str(cfg),
            "--max-new-tokens",
            "9",
            "--limit",
            "5",
            "--label",
            "cli",
            "--set",
            "label=set",
            "--set",
            "engine_options.compute_type=float32",
            "--engine",
            "ct2",
            "--set",
            "comet_model=2024",
            "--set",
            "src_lang=no",
            "--set",
            "worst_k=3",
        ],
    )
    assert res.exit_code == 0, res.output
    (config,) = seen
    assert config.batch_size == 3  # --config over the default
    assert config.max_new_tokens == 9 and config.limit == 5 and config.engine == "ct2"  # options over --config
    assert config.label == "set"  # --set over everything
    assert config.engine_options == {"compute_type": "float32", "threads": 2}  # one nested key replaced
    assert config.template == "hala" and config.data == "corpus/test"  # untouched: default / file
    # a text field keeps the text as typed (not the number or the YAML 1.1 boolean it also reads as)
    assert config.comet_model == "2024" and config.src_lang == "no" and config.worst_k == 3


def test_established_spellings_map_onto_the_config(tmp_path, captured):
    seen = captured("hala.translate")
    res = CliRunner().invoke(
        app,
        [
            "translate",
            "in.jsonl",
            "-m",
            "m",
            "-o",
            str(tmp_path / "o"),
            "--option",
            "compute_type=float32",
            "--skip-guard",
            "repetition",
            "--length-cap",
            "2,8",
            "--fields",
            "a,b",
            "--ray-option",
            "workers=3",
            "--set",
            "guards.min_letters=9",
        ],
    )
    assert res.exit_code == 0, res.output
    t = seen[-1]
    assert t.input == "in.jsonl" and t.engine_options == {"compute_type": "float32"} and t.fields == ["a", "b"]
    assert t.guards.skip == ["repetition"] and t.guards.min_letters == 9 and t.ray.workers == 3
    assert (t.length_cap.ratio, t.length_cap.extra) == (2.0, 8)
    res = CliRunner().invoke(app, ["translate", "in.jsonl", "-m", "m", "-o", "o", "--length-cap", "off"])
    assert res.exit_code == 0 and seen[-1].length_cap is None

    seen = captured("hala.train")
    res = CliRunner().invoke(
        app,
        [
            "train",
            "-m",
            "m",
            "--train",
            "t.jsonl",
            "-o",
            "o",
            "--full",
            "--lr",
            "1e-3",
            "--lora-target",
            "q_proj",
            "--lora-target",
            "v_proj",
            "--no-bf16",
        ],
    )
    assert res.exit_code == 0, res.output
    c = seen[-1]
    assert c.mode == "full" and c.learning_rate == 1e-3 and c.lora_target_modules == ["q_proj", "v_proj"]
    assert c.bf16 is False and c.gradient_checkpointing is None  # not given: the config's own default

    seen = captured("hala.merge")
    res = CliRunner().invoke(
        app,
        [
            "merge",
            "--base",
            "a",
            "--tuned",
            "b",
            "-o",
            "o",
            "--t",
            "0,1",
            "--t-filter",
            "mlp=0.2",
            "--tokenizer-from",
            "base",
        ],
    )
    assert res.exit_code == 0, res.output
    m = seen[-1]
    assert [e.model_dump(exclude_none=True) for e in m.t] == [{"filter": "mlp", "value": 0.2}, {"value": [0.0, 1.0]}]
    assert m.tokenizer_source == "base"
    res = CliRunner().invoke(
        app,
        [
            "merge",
            "--base",
            "a",
            "--tuned",
            "b",
            "-o",
            "o",
            "--sweep",
            "0,0.5",
            "--sweep",
            "1",
            "--select-on",
            "ppl:dev.jsonl",
            "--keep-candidates",
        ],
    )
    assert res.exit_code == 0, res.output
    assert seen[-1].sweep == [0.0, 0.5, 1.0] and seen[-1].keep_candidates is True

    seen = captured("hala.quantize")
    res = CliRunner().invoke(
        app,
        [
            "quantize",
            "-m",
            "m",
            "-o",
            "o",
            "--max-kl",
            "0",
            "--set",
            "thresholds.min_top1=0.5",
            "--no-trust-remote-code",
        ],
    )
    assert res.exit_code == 0, res.output
    q = seen[-1].thresholds
    assert (q.max_kl, q.min_top1, q.max_ppl_ratio) == (0.0, 0.5, 1.15)

    seen = captured("hala.filters")
    res = CliRunner().invoke(app, ["filter", "a.jsonl", "b.tsv", "-o", "o", "-q", "--set", "rules=[empty]"])
    assert res.exit_code == 0, res.output
    f = seen[-1]
    assert f.inputs == ["a.jsonl", "b.tsv"] and f.progress is False and f.rules == ["empty"]

    seen = captured("hala.evaluate.stage", "run_mcq")
    res = CliRunner().invoke(app, ["eval", "mcq", "-m", "m", "-t", "a", "--task", "b", "--tasks-file", "x.yaml"])
    assert res.exit_code == 0, res.output
    assert seen[-1].tasks == ["a", "b"] and seen[-1].task_files == ["x.yaml"]


def _one_line_error(argv, monkeypatch, capsys) -> str:
    monkeypatch.setattr(sys, "argv", ["hala", *argv])
    monkeypatch.delenv("HALA_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code not in (0, None)
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_a_misspelt_set_key_names_the_field(tmp_path, monkeypatch, capsys):
    err = _one_line_error(
        ["eval", "translation", "-d", "x", "-m", "m", "--set", "max_new_token=3"], monkeypatch, capsys
    )
    assert "max_new_token" in err and "Extra inputs are not permitted" in err
    err = _one_line_error(
        ["translate", "x.jsonl", "-m", "m", "-o", str(tmp_path), "--set", "guards.skp=[empty]"], monkeypatch, capsys
    )
    assert "guards.skp" in err
    err = _one_line_error(
        ["train", "-m", "m", "--train", "t", "-o", str(tmp_path), "--batch-size", "many"], monkeypatch, capsys
    )
    assert "batch_size" in err
    err = _one_line_error(
        ["corpus", "x.jsonl", "-o", str(tmp_path), "--config", str(tmp_path / "none.yaml")], monkeypatch, capsys
    )
    assert "none.yaml" in err


def test_eval_translation_sets_ct2_compute_type(tiny_model, tmp_path, monkeypatch):
    """The drift this fixed: `hala eval translation` could not set engine options (ct2 `compute_type`)."""
    monkeypatch.setenv("HALA_HOME", str(tmp_path / "home"))
    (tmp_path / "set.en").write_text("Hello there.\nGood morning.\n", encoding="utf-8")
    (tmp_path / "set.ar").write_text("مرحبا.\nصباح الخير.\n", encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "translation",
            "-d",
            str(tmp_path / "set"),
            "-m",
            str(tiny_model),
            "--engine",
            "ct2",
            "--template",
            "few-shot",
            "--max-new-tokens",
            "4",
            "--set",
            "engine_options.compute_type=float32",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "eval_translation.json").read_text(encoding="utf-8"))
    assert summary["engine"] == "ct2" and summary["engine_options"] == {"compute_type": "float32"}
    assert summary["directions"]["en-ar"]["n"] == 2
    assert list((tmp_path / "home" / "ct2").glob("*-float32")), "the ct2 engine did not get compute_type"


def test_help_stays_light():
    """Building every command reads the config classes: they import pydantic, never the heavy libraries."""
    code = (
        "import sys, hala.cli, typer; typer.main.get_command(hala.cli.app); "
        "print([m for m in ('torch', 'transformers', 'numpy', 'datasets', 'pyarrow', 'sacrebleu') "
        "if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_data_chat_mix_and_decontam_have_commands(tmp_path):
    """The three stages that were recipe-only: their commands run the stage on the generated options."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question number {i} about the weather today?"},
                {"role": "assistant", "content": f"Answer {i}."},
            ]
        }
        for i in range(3)
    ]
    (tmp_path / "raw.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "data",
            "chat",
            str(tmp_path / "raw.jsonl"),
            "-o",
            str(tmp_path / "chat"),
            "--name",
            "weather",
            "--limit",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "2 samples, 0 rejected" in res.output
    res = runner.invoke(
        app,
        ["data", "mix", str(tmp_path / "chat" / "samples.jsonl"), "-o", str(tmp_path / "mix"), "--cap-per-input", "1"],
    )
    assert res.exit_code == 0 and "1 samples" in res.output, res.output
    (tmp_path / "eval.jsonl").write_text(
        json.dumps(
            {
                "id": "e1",
                "src": "Question number 1 about the weather",
                "tgt": "سؤال",
                "src_lang": "en",
                "tgt_lang": "ar",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    res = runner.invoke(
        app,
        [
            "decontam",
            str(tmp_path / "chat" / "samples.jsonl"),
            "--files",
            str(tmp_path / "eval.jsonl"),
            "--ngram",
            "5",
            "-o",
            str(tmp_path / "clean"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "kept 1/2 (1 dropped" in res.output
    kept = [json.loads(x) for x in (tmp_path / "clean" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["messages"][0]["content"] for r in kept] == [rows[0]["messages"][0]["content"]]


def test_an_empty_input_is_a_warning_and_a_non_zero_exit(tmp_path):
    """Issue 16: "0 kept of 0" must not exit 0; a non-empty input still exits 0 through the same path."""
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "empty.jsonl").write_text("")
    res = CliRunner().invoke(app, ["filter", str(tmp_path / "empty.tsv"), "-o", str(tmp_path / "f"), "-q"])
    assert res.exit_code == 1 and "warning: filter: no records in" in res.output, res.output
    assert (tmp_path / "f" / "rejects.jsonl").exists()  # the stage itself still ran and left its artifacts
    res = CliRunner().invoke(
        app, ["translate", str(tmp_path / "empty.jsonl"), "-m", "m", "--engine", "echo", "-o", str(tmp_path / "t")]
    )
    assert res.exit_code == 1 and "warning: translate: no records in" in res.output, res.output
    res = CliRunner().invoke(app, ["corpus", str(tmp_path / "empty.jsonl"), "-o", str(tmp_path / "c")])
    assert res.exit_code == 1 and "warning: corpus: no records in" in res.output, res.output
    (tmp_path / "one.tsv").write_text("Hello there, friend.\tمرحبا يا صديقي.\n")
    res = CliRunner().invoke(app, ["filter", str(tmp_path / "one.tsv"), "-o", str(tmp_path / "g"), "-q"])
    assert res.exit_code == 0 and "warning" not in res.output, res.output
