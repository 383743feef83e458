"""environment.yml (conda) and pyproject.toml (pip) must name the same packages."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_and_pyproject_name_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    conda_names = set()
    dependencies = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    for line in dependencies.splitlines():
        match = re.match(r"\s+- ([A-Za-z][\w.-]*)", line)
        if match and match.group(1) not in ("python", "pip"):
            conda_names.add(CONDA_NAMES.get(match.group(1), match.group(1)).lower())
    assert conda_names == pip_names


def test_each_conda_dependency_says_why():
    dependencies = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    lines = [line for line in dependencies.splitlines() if re.match(r"\s+- [a-z]", line)]
    undocumented = [line for line in lines if "#" not in line and not line.strip().startswith(("- python", "- pip"))]
    assert undocumented == []


def test_the_license_file_matches_pyproject():
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_make_demo_s_duration_is_the_same_in_the_makefile_and_the_readme():
    figure = "about a minute and a half on 2 CPU cores, set-up aside"
    assert figure in (ROOT / "Makefile").read_text() and figure in " ".join((ROOT / "README.md").read_text().split())


def test_every_lazy_export_is_listed():
    import vaekit

    assert vaekit.__all__ == sorted(vaekit._EXPORTS) and all(getattr(vaekit, name) for name in vaekit.__all__)
