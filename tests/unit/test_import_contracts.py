"""The layering contracts hold, and the linter really checks them (a planted rule breaks)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = ("The engine never imports Flask or the web layer",
             "The method is a plugin: the host never imports it",
             "No import cycle in the engine",
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
        "source_modules": ["partnerflow.engine.runtime.deployment"],
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


def _engine_parts() -> set[str]:
    """The engine's top-level modules and packages, as dotted names."""
    engine = ROOT / "engine"
    modules = {p.stem for p in engine.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in engine.glob("*/__init__.py")}
    return {f"partnerflow.engine.{name}" for name in modules | packages}


def _contract(kind: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["type"] == kind)


def test_every_engine_part_outside_the_adapter_is_under_the_spiffworkflow_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"]
                    if c.get("forbidden_modules") == ["SpiffWorkflow"])
    parts = _engine_parts() - {"partnerflow.engine.spiff"}
    assert parts <= set(contract["source_modules"]), parts - set(contract["source_modules"])


def test_every_engine_part_has_its_place_in_the_layers():
    layered = {name.strip() for layer in _contract("layers")["layers"] for name in layer.split("|")}
    assert _engine_parts() == layered, _engine_parts() ^ layered


def test_the_engine_and_each_of_its_packages_are_kept_free_of_import_cycles():
    ancestors = set(_contract("acyclic_siblings")["ancestors"])
    packages = {p for p in _engine_parts() if (ROOT / "engine" / p.rsplit(".", 1)[1]).is_dir()}
    assert {"partnerflow.engine", *packages} <= ancestors


def test_the_layers_contract_really_checks_the_direction(tmp_path):
    # The same layers with the method put under the runtime: the method's imports break it.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = _contract("layers")["layers"]
    swapped = [layers[1], layers[0], *layers[2:]]
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml(v)}" for k, v in config.items() if k != "contracts"]
    lines += ["\n[[tool.importlinter.contracts]]", 'name = "Planted: the runtime above the method"',
              'type = "layers"', f"layers = {_toml(swapped)}"]
    path = tmp_path / "swapped.toml"
    path.write_text("\n".join(lines) + "\n")
    result = run_linter(str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Planted: the runtime above the method BROKEN" in result.stdout
    assert "partnerflow.engine.method" in result.stdout
