"""Sample third-party plugin packages, installed into fresh environments for tests.

Every directory under ``tests/sample_plugins/`` with a ``pyproject.toml`` is
one distribution packaged the way a plugin author would package it (a
``tinca`` entry point, a ``src/`` layout). Adding a sample is dropping a
directory in: :func:`sample_names` finds it, the generic tests in
``tests/plugins/test_sample_packages.py`` install it and check that
``tinca plugins`` lists it with the slots its ``[tool.tinca-sample]`` table
names, and a test of its own selects it through config.

:class:`SampleInstaller` (the session fixture :func:`sample_installer`) builds
a sample once per test session into its own directory with this interpreter's
pip and setuptools, offline (``--no-index --no-build-isolation --no-deps``),
and hands out environments whose ``PYTHONPATH`` puts exactly the asked-for
samples on top of the interpreter running the tests (which has tinca
installed). The interpreter running pytest never sees them: other tests count
the installed plugins, and ``importlib.metadata`` would find a sample's entry
point from any directory on ``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent / "sample_plugins"
"""Where the sample packages live, one directory (named after its distribution) each."""
PIP_TIMEOUT = 180


@dataclass(frozen=True)
class Sample:
    """What a sample's ``pyproject.toml`` says about it."""

    distribution: str
    version: str
    #: its entry point names in the ``tinca`` group (the plugin names)
    plugins: tuple[str, ...]
    #: ``tinca plugins`` slot descriptions it must show (``[tool.tinca-sample] slots``)
    slots: tuple[str, ...]
    source: Path


def sample_names() -> list[str]:
    """Every sample's directory name (its distribution name), sorted."""
    return sorted(p.parent.name for p in SAMPLES.glob("*/pyproject.toml"))


def sample(name: str) -> Sample:
    """The metadata of sample ``name`` (a directory under :data:`SAMPLES`)."""
    source = SAMPLES / name
    project = tomllib.loads((source / "pyproject.toml").read_text())
    meta = project["project"]
    plugins = tuple(meta.get("entry-points", {}).get("tinca", {}))
    slots = tuple(project.get("tool", {}).get("tinca-sample", {}).get("slots", ()))
    return Sample(meta["name"], meta["version"], plugins, slots, source)


class SampleInstaller:
    """Installs samples on demand (once each) under ``root``; thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._targets: dict[str, Path] = {}
        self._lock = threading.Lock()

    def target(self, name: str) -> Path:
        """The directory sample ``name`` is installed in (installing it first if needed)."""
        with self._lock:
            if name not in self._targets:
                self._targets[name] = self._install(sample(name))
            return self._targets[name]

    def _install(self, spec: Sample) -> Path:
        # Build from a copy so the checkout stays clean and parallel runs
        # don't share setuptools' in-tree build directory.
        source = self.root / "src" / spec.source.name
        shutil.copytree(
            spec.source,
            source,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
        )
        target = self.root / "site" / spec.source.name
        command = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps"]
        command += ["--no-index", "--disable-pip-version-check", "--quiet"]
        command += ["--target", str(target), str(source)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        if proc.returncode != 0:
            pytest.fail(
                f"cannot install sample {spec.distribution} ({' '.join(command)}):\n"
                f"{proc.stderr}\nIt is built with this interpreter's setuptools "
                "(--no-build-isolation), which needs to be >= 70.1 or have 'wheel' next to it."
            )
        return target

    def pythonpath(self, *names: str) -> str:
        """A ``PYTHONPATH`` value with exactly these samples on it (and the inherited one)."""
        parts = [str(self.target(name)) for name in names]
        return os.pathsep.join(filter(None, [*parts, os.environ.get("PYTHONPATH")]))

    def env(self, *names: str) -> dict[str, str]:
        """This process's environment, with exactly these samples importable."""
        return {**os.environ, "PYTHONPATH": self.pythonpath(*names)}


@pytest.fixture(scope="session")
def sample_installer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleInstaller]:
    """One installer per test session: each sample is built at most once."""
    yield SampleInstaller(tmp_path_factory.mktemp("samples"))


FORMS = ("tinc.conf", "toml")
"""The two ways a node's configuration is written; tests select each sample through both."""


def use_form(confdir: Path, form: str, env: dict[str, str]) -> None:
    """Leave ``confdir`` in ``form``: as it is (``tinc.conf``), or turned into the
    TOML form by ``tinca config convert`` run with ``env`` (so the sample's own
    variables get their types), with ``tinc.conf`` and ``hosts/`` then removed:
    keys and scripts stay next to ``tinca.toml``, and nothing else is left to
    select the plugin."""
    if form == "tinc.conf":
        return
    if form != "toml":
        raise ValueError(f"unknown configuration form {form!r}; choose from {FORMS}")
    target = confdir / "tinca.toml"
    argv = [sys.executable, "-m", "tinca.core.cli.tinca", "config", "convert"]
    proc = subprocess.run(
        [*argv, str(confdir), str(target)], env=env, capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        pytest.fail(f"tinca config convert {confdir} failed:\n{proc.stderr}")
    (confdir / "tinc.conf").unlink()
    shutil.rmtree(confdir / "hosts")
