"""
A small reader of our Dockerfile: stages and their instructions, enough to
check the image's properties and to replay the builder stage.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


@dataclasses.dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    text: str  # the arguments, continuation lines joined

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of ENTRYPOINT/CMD/VOLUME, or None for the shell form."""
        try:
            value = json.loads(self.text)
        except ValueError:
            return None
        return value if isinstance(value, list) else None

    def flags(self) -> tuple[list[str], str]:
        """Leading `--flag=value` options (COPY --from, RUN --mount) and the rest."""
        flags = []
        rest = self.text
        while match := re.match(r"--\S+\s+", rest):
            flags.append(match.group(0).strip())
            rest = rest[match.end():]
        return flags, rest


@dataclasses.dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """ENV key=value pairs in order (later ones win)."""
        values: dict[str, str] = {}
        for item in self.all("ENV"):
            for pair in shlex.split(item.text):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


@dataclasses.dataclass
class Dockerfile:
    args: dict[str, str]  # global ARGs before the first FROM, with defaults
    stages: list[Stage]

    def resolve(self, text: str) -> str:
        """Expand ${ARG} and $ARG of the global ARGs."""
        for key, value in self.args.items():
            text = text.replace("${" + key + "}", value).replace("$" + key, value)
        return text

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)


def instructions(text: str) -> list[Instruction]:
    """Instructions with comments dropped and backslash continuations joined."""
    found = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        found.append(Instruction(keyword.upper(), rest.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return found


def parse(path: Path = DOCKERFILE) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for item in instructions(path.read_text(encoding="utf-8")):
        if item.keyword == "FROM":
            words = item.text.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        elif not stages and item.keyword == "ARG":
            key, _, value = item.text.partition("=")
            args[key] = value
        else:
            assert stages, f"{item.keyword} before the first FROM"
            stages[-1].instructions.append(item)
    return Dockerfile(args, stages)
