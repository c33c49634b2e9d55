"""``python -m bot``: configuration errors and stray arguments end the process with status 2."""
from __future__ import annotations

import pytest

from bot.__main__ import EXIT_CONFIG_ERROR, main


def test_a_stray_argument_is_refused_not_ignored(capsys):
    with pytest.raises(SystemExit) as e:
        main(["dev"])  # the dev stack is python -m localchat now
    assert e.value.code == 2
    assert "unrecognized arguments: dev" in capsys.readouterr().err


def test_missing_token_is_a_configuration_error(monkeypatch, capsys):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert main([]) == EXIT_CONFIG_ERROR
    assert "configuration error" in capsys.readouterr().err
