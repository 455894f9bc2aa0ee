"""One resume rule (hala.resume): partial output is reused only when its marker holds the current settings; a
missing or unreadable marker starts fresh; other settings start fresh or, where the output is costly, refuse with
the file and the first differing key. Then one test per place that resumes, each through its own entry point."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hala.atomic import write_json
from hala.resume import SettingsChanged, first_difference, read_marker, resumable

SETTINGS = {"model": "m", "engine_options": {"compute_type": "int8", "threads": 2}, "skip": ["a", "b"]}


# ------------------------------------------------------------------------------------------- the function
def test_equal_settings_are_reused_and_a_missing_marker_starts_fresh(tmp_path):
    marker = tmp_path / "state.json"
    assert resumable(marker, SETTINGS) is False  # nothing there yet
    write_json(marker, {"settings": SETTINGS, "result": 1})
    assert resumable(marker, SETTINGS) is True
    # compared as JSON gives it back: a tuple is the list it was saved as
    assert resumable(marker, {**SETTINGS, "skip": ("a", "b")}) is True
    write_json(tmp_path / "whole.json", SETTINGS)
    assert resumable(tmp_path / "whole.json", SETTINGS, field=None) is True


def test_other_settings_start_fresh_or_refuse_naming_the_file_and_the_first_differing_key(tmp_path):
    marker = tmp_path / "run.json"
    write_json(marker, SETTINGS)
    changed = {**SETTINGS, "engine_options": {"compute_type": "float32", "threads": 2}}
    assert resumable(marker, changed, field=None) is False
    with pytest.raises(SettingsChanged) as e:
        resumable(marker, changed, field=None, refuse="a translate run")
    message = str(e.value)
    assert str(marker) in message and "a translate run" in message
    assert 'engine_options.compute_type: "int8" -> "float32"' in message and "changed: engine_options" in message
    assert "\n" not in message  # one line, as every user error (hala.errors)


def test_first_difference_names_the_path_of_the_first_change():
    assert first_difference(SETTINGS, json.loads(json.dumps(SETTINGS))) is None
    assert first_difference({"a": 1, "b": {"c": [1, 2]}}, {"a": 1, "b": {"c": [1, 3]}}) == "b.c[1]: 2 -> 3"
    assert first_difference({"a": 1}, {"a": 1, "z": 0}) == "z: <absent> -> 0"
    assert first_difference({"a": [1]}, {"a": [1, 2]}) == "a: [1] -> [1, 2]"
    assert first_difference("x" * 100, "y").startswith('<settings>: "xxx') and "..." in first_difference("x" * 100, "y")


@pytest.mark.parametrize(
    "content", ['{"settings": {"model": "m"', "not json at all", "[1, 2]", '{"other": 1}', b"\xff\xfe\x00"]
)
def test_a_corrupt_or_foreign_marker_starts_fresh_even_where_other_settings_refuse(tmp_path, content):
    marker = tmp_path / "m.json"
    (marker.write_bytes if isinstance(content, bytes) else marker.write_text)(content)
    assert read_marker(marker) is None
    assert resumable(marker, SETTINGS, refuse="a training run") is False


def test_a_jsonl_marker_is_its_first_line_and_the_rest_is_not_read(tmp_path):
    cache = tmp_path / "cache.jsonl"
    cache.write_text(json.dumps({"settings": SETTINGS}) + "\n" + '{"hyp": "x"}\n{"hyp": cut sho', encoding="utf-8")
    assert read_marker(cache) == SETTINGS and resumable(cache, SETTINGS) is True
    assert resumable(tmp_path, SETTINGS) is False  # a directory is no marker


# ------------------------------------------------------------------------------------------- the call sites
def _echo_input(tmp_path: Path) -> Path:
    src = tmp_path / "in.jsonl"
    row = {"id": "a", "src": "Save the file.", "tgt": "", "src_lang": "en", "tgt_lang": "ar"}
    src.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return src


def test_translate_refuses_an_out_dir_of_other_settings_and_resumes_its_own(tmp_path):
    from hala.translate import TranslateConfig, run

    config = TranslateConfig(input=str(_echo_input(tmp_path)), model="unused", engine="echo")
    run(config, tmp_path / "out")
    run(config.model_copy(update={"limit": 1}), tmp_path / "out")  # the limit may change between runs
    other = config.model_copy(update={"max_new_tokens": 64})
    with pytest.raises(SettingsChanged, match=r"run\.json: holds a translate run .*max_new_tokens: 256 -> 64"):
        run(other, tmp_path / "out")


def test_translate_redoes_a_shard_written_with_another_fingerprint(tmp_path):
    from hala.translate import TranslateConfig
    from hala.translate.runner import Run

    config = TranslateConfig(input=str(_echo_input(tmp_path)), model="unused", engine="echo")
    r = Run(config, tmp_path / "out")
    r.shard_dir.mkdir(parents=True)
    write_json(r.shard_path(0, ".json"), {"fingerprint": r.fingerprint})
    assert r.is_done(0) is True
    write_json(r.shard_path(0, ".json"), {"fingerprint": "another"})
    assert r.is_done(0) is False


def test_train_refuses_an_out_dir_of_another_config(tmp_path):
    from hala.train.config import TrainConfig
    from hala.train.stage import CONFIG, _check_same_run

    config = TrainConfig(model="embedded:x", train="t.jsonl")
    _check_same_run(config, tmp_path, is_main=False)
    assert not (tmp_path / CONFIG).exists()  # only the main process writes the marker
    _check_same_run(config, tmp_path, is_main=True)
    _check_same_run(config, tmp_path, is_main=True)  # the same config: a resume
    with pytest.raises(SettingsChanged, match=r"train_config\.json: holds a training run .*learning_rate"):
        _check_same_run(config.model_copy(update={"learning_rate": 0.5}), tmp_path, is_main=True)


def test_quantize_reuses_a_conversion_only_with_its_settings(tmp_path):
    from hala.quantize.convert import MARKER, is_converted

    settings = {"model": "m", "scheme": "fp8-dynamic", "ignore": ["lm_head"], "dtype": "bfloat16"}
    assert is_converted(tmp_path, settings) is False
    write_json(tmp_path / MARKER, {"settings": settings, "quantize_seconds": 1.0})
    assert is_converted(tmp_path, settings) is True
    assert is_converted(tmp_path, {**settings, "dtype": "float32"}) is False


class _FakeTranslate:
    def __init__(self):
        self.translated: list[str] = []

    def api(self):
        def load_engine(engine, model, batch_size, **options):
            return object()

        def translate_with_reasons(texts, model, **kw):
            self.translated.extend(texts)
            return [(t.upper(), None) for t in texts]

        return load_engine, translate_with_reasons


def test_eval_translation_cache_restarts_on_other_settings_or_a_corrupt_first_line(tmp_path, monkeypatch):
    import hala.evaluate.translation as tr

    fake = _FakeTranslate()
    monkeypatch.setattr(tr, "_translate_api", fake.api)
    cache, srcs = tmp_path / "translations_en-ar.jsonl", ["a", "b", "c"]
    kw = dict(src_lang="en", tgt_lang="ar", cache=cache, engine_options={"compute_type": "int8"})
    tr.translate_sources(srcs, "m", **kw)
    tr.translate_sources(srcs, "m", **kw)
    assert fake.translated == srcs  # the same settings: all three from the cache
    tr.translate_sources(srcs, "m", **{**kw, "engine_options": {"compute_type": "float32"}})
    assert fake.translated == srcs * 2  # other settings: translated again, not mixed
    assert json.loads(cache.read_text().splitlines()[0])["settings"]["engine_options"] == {"compute_type": "float32"}
    cache.write_text('{"settings": {"model"\n' + cache.read_text().split("\n", 1)[1])  # the marker cut short
    assert [r["hyp"] for r in tr.translate_sources(srcs, "m", **kw)] == ["A", "B", "C"]
    assert fake.translated == srcs * 3


def test_eval_mcq_reuses_a_finished_task_only_with_its_settings(tmp_path, monkeypatch):
    import hala.evaluate.loglik as loglik
    import hala.evaluate.mcq as mcq
    from hala.evaluate.stage import EvalMCQConfig, run_mcq

    runs: list[int] = []

    def evaluate_task(scorer, data, few_shot, limit):
        runs.append(few_shot)
        return {"acc": 0.5, "acc_norm": 0.5, "n": 2, "details": [{"q": 1}]}

    monkeypatch.setattr(loglik.LoglikScorer, "load", classmethod(lambda cls, *a, **k: object()))
    monkeypatch.setattr(mcq, "evaluate_task", evaluate_task)
    config = EvalMCQConfig(model="m", tasks=["quickstart"], limit=2)
    run_mcq(config, tmp_path)
    run_mcq(config, tmp_path)
    assert runs == [0]  # finished with these settings: reused
    run_mcq(config.model_copy(update={"few_shot": 1}), tmp_path)
    assert runs == [0, 1]


def test_merge_sweep_and_merge_start_over_for_another_config(tmp_path, monkeypatch):
    import hala.merge.merge as merge_module
    import hala.merge.sweep as sweep
    from hala.merge import MergeConfig, run
    from hala.merge.scorers import Score

    merged: list[float] = []

    def merge_models(config, out, t=None):  # no model: the candidate only says which t it is
        t = config.t if t is None else t
        merged.append(t)
        out.mkdir(parents=True, exist_ok=True)
        (out / "hala_merge.json").write_text(json.dumps({"t": t}))
        return {"t": t}

    def neg_t(model, arg, limit):
        return Score(-json.loads((model / "hala_merge.json").read_text())["t"], "neg_t", {})

    monkeypatch.setattr(sweep, "merge_models", merge_models)
    monkeypatch.setattr(merge_module, "merge_models", merge_models)
    monkeypatch.setattr(sweep, "plot_sweep", lambda *a, **k: None)
    monkeypatch.setattr(sweep, "parse_select_on", lambda spec: (SimpleNamespace(fn=neg_t), "x"))
    config = MergeConfig(base="a", tuned="b", sweep=[0.0, 1.0], select_on="ppl:x", keep_candidates=True)
    run(config, tmp_path / "sweep")
    assert merged == [0.0, 1.0]
    (tmp_path / "sweep" / "merge.json").unlink()  # as if interrupted after the sweep: its scores are reused
    run(config, tmp_path / "sweep")
    assert merged == [0.0, 1.0]
    (tmp_path / "sweep" / "merge.json").unlink()
    run(config.model_copy(update={"sweep": [0.0, 0.5]}), tmp_path / "sweep")  # another sweep: candidates are stale
    assert merged == [0.0, 1.0, 0.0, 0.5]

    single = MergeConfig(base="a", tuned="b", t=0.5)
    run(single, tmp_path / "one")
    assert run(single, tmp_path / "one")["resumed"] is True and merged[-1] == 0.5 and len(merged) == 5
    assert "resumed" not in run(single.model_copy(update={"t": 0.25}), tmp_path / "one")  # merged again
    assert merged[-1] == 0.25 and len(merged) == 6
