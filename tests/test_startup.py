"""Start-up tuning of the command process (kapplan/startup.py).

Each check runs in a fresh interpreter: the tuning changes process-wide state
(the collector, sys.modules) that must not leak into the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import gc, json, sys
    from kapplan.startup import collect_as_usual, tune_short_run

    tune_short_run()
    tuned_gc = gc.isenabled()
    from kapplan.api import load_protocol

    loaded = load_protocol("iv-ketamine-trd")
    from pydantic.plugin._loader import get_plugins

    state = {
        "gc_while_tuned": tuned_gc,
        "metadata_imported": "importlib.metadata" in sys.modules,
        "plugins": list(get_plugins()),
        "protocol": loaded.protocol.id,
    }
    collect_as_usual()
    state["gc_after_collect"] = gc.isenabled()
    print(json.dumps(state))
    """
)


def run_probe(code: str, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"} | env
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    return json.loads(done.stdout)


def test_short_run_skips_collection_and_plugin_scan_and_models_still_validate() -> None:
    state = run_probe(PROBE)
    assert state == {
        "gc_while_tuned": False,
        "metadata_imported": False,
        "plugins": [],
        "protocol": "iv-ketamine-trd",
        "gc_after_collect": True,
    }


def test_named_plugin_opt_outs_keep_pydantic_discovery() -> None:
    """A user who disables one plugin by name still gets the others: no stand-in."""
    state = run_probe(PROBE, PYDANTIC_DISABLE_PLUGINS="some-plugin")
    assert state["metadata_imported"] is True
    assert state["protocol"] == "iv-ketamine-trd"


def test_stand_in_hands_other_names_to_the_real_loader() -> None:
    code = textwrap.dedent(
        """
        import importlib, json, sys
        from kapplan.startup import tune_short_run

        tune_short_run()
        loader = importlib.import_module("pydantic.plugin._loader")

        group = loader.PYDANTIC_ENTRY_POINT_GROUP
        print(json.dumps({"group": group, "real": type(sys.modules["pydantic.plugin._loader"]).__name__}))
        """
    )
    assert run_probe(code) == {"group": "pydantic", "real": "module"}


@pytest.mark.parametrize("tuned", [True, False])
def test_collect_as_usual_only_undoes_the_tuning(tuned: bool) -> None:
    code = textwrap.dedent(
        f"""
        import gc, json
        from kapplan.startup import collect_as_usual, tune_short_run

        gc.disable()  # the caller's own choice
        if {tuned}:
            gc.enable()
            tune_short_run()
        collect_as_usual()
        print(json.dumps(gc.isenabled()))
        """
    )
    assert run_probe(code) is tuned
