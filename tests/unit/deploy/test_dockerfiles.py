"""The Dockerfiles and .dockerignore, read statically (there is no Docker engine here): multi-stage,
dependencies before sources, one service's code per image, pinned uv, a HEALTHCHECK, not root."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import ROOT

SERVICES = ("intake", "sessions", "followup", "console")
MEMBERS = sorted(
    path.relative_to(ROOT).as_posix()
    for pattern in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    for path in ROOT.glob(pattern)
    if (path / "pyproject.toml").exists()
)  # fmt: skip


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(path: Path) -> list[Stage]:
    """Instructions (continuations joined, comments dropped) grouped by FROM."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            words = args.split()
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], alias))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


def copy_sources(args: str) -> tuple[str | None, list[str], str]:
    """A COPY's --from (if any), sources and destination."""
    words = [w for w in args.split() if not w.startswith("--") or w.startswith("--from=")]
    origin = next((w.removeprefix("--from=") for w in words if w.startswith("--from=")), None)
    rest = [w for w in words if not w.startswith("--from=")]
    return origin, rest[:-1], rest[-1]


def context_copies(steps: list[tuple[str, str]]) -> list[str]:
    """The sources of the COPYs from the build context (not --from another stage or image)."""
    found = [copy_sources(a) for kw, a in steps if kw == "COPY"]
    return [src for origin, sources, _ in found if origin is None for src in sources]


def dockerfile(service: str) -> list[Stage]:
    return parse(ROOT / "services" / service / "Dockerfile")


def python_build_stage(stages: list[Stage]) -> Stage:
    [build] = [s for s in stages[:-1] if any("uv sync" in a for a in s.all("RUN"))]
    return build


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_the_runtime_image_has_the_environment_but_not_uv(service: str) -> None:
    stages = dockerfile(service)
    assert len(stages) >= 2, "multi-stage: build the environment in one stage, run in another"
    build, runtime = python_build_stage(stages), stages[-1]
    assert build.name, "the build stage is named, for COPY --from"
    assert runtime.image == build.image, "the venv's interpreter is the runtime's interpreter"
    copied = [copy_sources(a) for a in runtime.all("COPY")]
    assert (build.name, ["/app/.venv"], "/app/.venv") in copied
    assert not any("uv" in a for a in runtime.all("RUN")), "no uv (nor pip install) at run time"
    assert not any(origin and "astral-sh/uv" in origin for origin, _, _ in copied)


@pytest.mark.parametrize("service", SERVICES)
def test_dependencies_are_installed_before_the_sources_are_copied(service: str) -> None:
    build = python_build_stage(dockerfile(service))
    steps = build.instructions
    syncs = [i for i, (kw, a) in enumerate(steps) if kw == "RUN" and "uv sync" in a]
    assert len(syncs) == 2, "sync the dependencies, then (after the sources) the workspace"
    first, second = (steps[i][1] for i in syncs)
    for flag in ("--frozen", "--no-dev", f"--package hotline-{service}"):
        assert flag in first and flag in second
    assert "--no-install-workspace" in first and "--no-install-workspace" not in second
    before, after = context_copies(steps[: syncs[0]]), context_copies(steps[syncs[0] : syncs[1]])
    assert "uv.lock" in before and "pyproject.toml" in before
    # the whole workspace's metadata (uv reads the lock against every member), and only that
    assert {f"{m}/pyproject.toml" for m in MEMBERS} <= set(before)
    assert all(src.endswith(("pyproject.toml", "uv.lock")) for src in before), before
    assert sorted(after) == sorted(["shared/hotline_shared", f"services/{service}/hotline_{service}"])  # fmt: skip


@pytest.mark.parametrize("service", SERVICES)
def test_an_image_holds_only_shared_and_its_own_service(service: str) -> None:
    stages = dockerfile(service)
    others = [s for s in SERVICES if s != service]
    for stage in stages:
        for origin, sources, _ in (copy_sources(a) for a in stage.all("COPY")):
            if origin:
                continue
            for src in sources:
                assert src not in {".", "services", "services/", "shared/.."}, (
                    f"COPY {src}: too much"
                )
                assert not any(f"hotline_{o}" in src for o in others), (
                    f"{service} image copies {src}"
                )
                assert not src.startswith(("deploy/cli/hotline_cli", "tests", "bench", "docs"))
    runtime = stages[-1]
    copied = {dest for _, _, dest in (copy_sources(a) for a in runtime.all("COPY"))}
    assert {"/app/shared", f"/app/services/{service}"} <= copied
    assert not any(f"/services/{o}" in dest for o in others for dest in copied)


PINNED_UV = re.compile(r"^ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)$")


def pinned_uv(service: str) -> str:
    build = python_build_stage(dockerfile(service))
    origins = [copy_sources(a)[0] for a in build.all("COPY")]
    versions = [m.group(1) for o in origins if o and (m := PINNED_UV.match(o))]
    assert len(versions) == 1, f"{service}: uv from ghcr.io/astral-sh/uv:<x.y.z>, once: {origins}"
    assert not any("pip install" in a and "uv" in a for a in build.all("RUN"))
    return versions[0]


@pytest.mark.parametrize("service", SERVICES)
def test_uv_is_pinned_to_one_exact_version(service: str) -> None:
    assert pinned_uv(service) == pinned_uv("intake")


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_checks_its_health_with_python_not_curl(service: str) -> None:
    runtime = dockerfile(service)[-1]
    [check] = runtime.all("HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)  # exec form: no shell in the way
    assert argv[:2] == ["python", "-c"]
    assert "urllib.request" in argv[2] and "/healthz" in argv[2]
    assert f"HOTLINE_{service.upper()}_PORT" in argv[2]  # wherever the port was moved to
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert "curl" not in text and "wget" not in text
    env = " ".join(runtime.all("ENV"))
    assert f"HOTLINE_{service.upper()}_HOST=0.0.0.0" in env
    assert json.loads(runtime.all("CMD")[-1]) == ["python", "-m", f"hotline_{service}"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_runs_as_a_numeric_non_root_user(service: str) -> None:
    runtime = dockerfile(service)[-1]
    users = runtime.all("USER")
    assert users, "a USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, f"USER {user}: numeric (runAsNonRoot can check it), not root"  # fmt: skip
    keywords = [kw for kw, _ in runtime.instructions]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "RUN" not in keywords[last_user:], "nothing runs as root after USER"


def test_the_console_image_builds_its_web_app_and_serves_it_from_where_the_console_looks() -> None:
    from hotline_console.settings import WEB_DIST

    stages = dockerfile("console")
    [web] = [s for s in stages if s.image.startswith("node:")]
    steps = web.instructions
    npm_ci = next(i for i, (kw, a) in enumerate(steps) if kw == "RUN" and "npm ci" in a)
    manifests = context_copies(steps[:npm_ci])
    assert sorted(manifests) == ["services/console/web/package-lock.json", "services/console/web/package.json"]  # fmt: skip
    assert any(kw == "RUN" and "npm run build" in a for kw, a in steps[npm_ci:])
    copied = [copy_sources(a) for a in stages[-1].all("COPY")]
    dist = next(dest for origin, _, dest in copied if origin == web.name)
    assert dist == "/app/" + WEB_DIST.relative_to(ROOT).as_posix()


# ---- .dockerignore ---------------------------------------------------------------------------


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as Docker reads it: the last pattern that matches a path or one of its
    parent directories decides; `!` re-includes; `**` spans directories, `*` does not."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = ""
        for token in re.split(r"(\*\*/?|\*|\?)", pattern):
            regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))  # fmt: skip
        rules.append((negate, re.compile(regex + "$")))
    return rules


def ignored(path: str) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for negate, regex in ignore_rules():
        if any(regex.match(c) for c in candidates):
            verdict = not negate
    return verdict


def test_dockerignore_keeps_secrets_state_caches_and_other_code_out_of_the_context() -> None:
    for path in (".env", ".env.production", ".git/HEAD", ".venv/bin/python", ".local/run/intake.pid",
                 "deploy/local/dev.env", "deploy/local/centers.yaml", "deploy/cli/hotline_cli/main.py",
                 "shared/hotline_shared/__pycache__/auth.cpython-311.pyc",
                 "services/intake/hotline_intake/__pycache__/app.cpython-311.pyc",
                 ".pytest_cache/v/x", ".mypy_cache/3.11/x.json", ".ruff_cache/x", ".hypothesis/x",
                 "services/console/web/node_modules/react/index.js", "services/console/web/dist/index.html",
                 "tests/conftest.py", "bench/_common.py", "docs/security.md"):  # fmt: skip
        assert ignored(path), f"{path} would be sent to the Docker daemon"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerignore_keeps_everything_the_dockerfile_copies(service: str) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()  # fmt: skip
    for stage in dockerfile(service):
        for origin, sources, _ in (copy_sources(a) for a in stage.all("COPY")):
            if origin:
                continue
            for src in sources:
                files = [f for f in tracked if f == src or f.startswith(src.rstrip("/") + "/")]
                assert files, f"COPY {src}: nothing in the repository"
                kept = [f for f in files if not ignored(f)]
                assert kept == files, f"COPY {src}: .dockerignore drops {sorted(set(files) - set(kept))[:5]}"  # fmt: skip
