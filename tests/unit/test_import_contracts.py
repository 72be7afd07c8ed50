"""The layering contracts hold, and the linter really checks them (a planted rule breaks)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = ("The engine never imports Flask or the web layer",
             "No import cycle between the engine's modules",
             "Only the engine's spiff adapter imports SpiffWorkflow")


def run_linter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _toml(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_the_import_contracts_are_kept():
    result = run_linter()
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout
    assert "0 broken" in result.stdout


def test_a_contract_the_code_violates_is_reported_broken(tmp_path):
    # Same configuration plus one rule the code breaks on purpose: deployment uses the adapter.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml(v)}" for k, v in config.items() if k != "contracts"]
    contracts = [*config["contracts"], {
        "name": "Planted: deployment may not use the spiff adapter", "type": "forbidden",
        "source_modules": ["partnerflow.engine.deployment"],
        "forbidden_modules": ["partnerflow.engine.spiff"]}]
    for contract in contracts:
        lines.append("\n[[tool.importlinter.contracts]]")
        lines += [f"{k} = {_toml(v)}" for k, v in contract.items()]
    path = tmp_path / "planted.toml"
    path.write_text("\n".join(lines) + "\n")
    result = run_linter(str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Planted: deployment may not use the spiff adapter BROKEN" in result.stdout
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout


def test_every_engine_module_outside_the_adapter_is_under_the_spiffworkflow_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"]
                    if c.get("forbidden_modules") == ["SpiffWorkflow"])
    modules = {f"partnerflow.engine.{p.stem}" for p in (ROOT / "engine").glob("*.py")
               if p.stem != "__init__"}
    assert modules <= set(contract["source_modules"]), modules - set(contract["source_modules"])



def test_the_engine_is_kept_free_of_import_cycles():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert any(c["type"] == "acyclic_siblings" and c["ancestors"] == ["partnerflow.engine"]
               for c in config["contracts"])
