import hala.progress as progress


def test_plain_lines_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    with progress.progress_bar(4, "translate", unit="records") as bar:
        assert bar.log_lines  # pytest captures stderr: not a terminal
        bar.advance(1, info="3.0 tok/s")
        bar.advance(2)
    err = capsys.readouterr().err
    assert "translate 1/4 records" in err and "(3.0 tok/s)" in err
    assert "translate 3/4 records" in err and "ETA" in err
