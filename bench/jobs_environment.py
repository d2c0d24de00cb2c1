"""bench/jobs.py's environment mode: a job on a project with a dependency install, first run against cached runs.

    python bench/jobs.py --modes environment --rounds 3 --modules 150

The project vendors a package (`vendor/demo_pkg`, `modules` generated modules of 300 lines) and its sparkroom.toml
installs it into .deps and byte-compiles it (no network), with .deps as the cached result; its test command imports
it. Figures: job start -> command phase for the first run (setup runs), the cached runs, and the same project
without [setup] (reference, same run). PostgreSQL as in production mode; the runner runs in this process.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

SETUP = (
    "mkdir -p .deps && cp -r vendor/demo_pkg .deps/ && python -m compileall -q .deps"
    " && python -c 'import sys; sys.path.insert(0, \".deps\"); import demo_pkg; print(demo_pkg.COUNT)'"
)
TEST = "python -c 'import demo_pkg; print(\"imported\", demo_pkg.COUNT)'"
WITH_SETUP = f"""[setup]
command = '''{SETUP}'''
inputs = ["vendor/demo_pkg/*.py"]
cache = [".deps"]

[commands]
test = '''{TEST}'''

[env]
PYTHONPATH = "/workspace/.deps:/workspace"
"""
WITHOUT_SETUP = """[commands]
test = "true"
"""


def module_text(index: int) -> str:
    lines = [f'"""Generated module {index} of the vendored demo package."""', ""]
    for n in range(100):
        lines += [f"def function_{n}(value):", f"    return [value * {n} + item for item in range({n % 7 + 1})]", ""]
    return "\n".join(lines) + "\n"


def make_project(user, name: str, toml: str, modules: int):
    from workspace.collab.files import create_file_with_text
    from workspace.projects.services import create_workspace

    workspace = create_workspace(user, name, readme=False)
    create_file_with_text(workspace, "sparkroom.toml", toml)
    init = "".join(f"from demo_pkg import mod_{i}  # noqa: F401\n" for i in range(modules)) + f"COUNT = {modules}\n"
    create_file_with_text(workspace, "vendor/demo_pkg/__init__.py", init)
    for index in range(modules):
        create_file_with_text(workspace, f"vendor/demo_pkg/mod_{index}.py", module_text(index))
    return workspace


def to_command_phase(user, workspace_id: int) -> tuple[float, str]:
    """Run one tests job; seconds from its start to the start of its command, and how the setup went."""
    from workspace.jobs import runner, services
    from workspace.jobs.models import Job, JobEvent

    job = services.create_job(user, workspace_id, "tests", enqueue=lambda _id: None)
    runner.run_job(job.id)
    job = Job.objects.get(id=job.id)
    assert job.status == "succeeded", (job.status, job.error)
    command = JobEvent.objects.filter(job=job, kind="tool_call", data__name="run_command").first()
    setup = "ran" if JobEvent.objects.filter(job=job, data__setup="ran").exists() else "cached"
    if not JobEvent.objects.filter(job=job, data__has_key="setup").exists():
        setup = "none"
    return (command.created_at - job.started_at).total_seconds(), setup


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):8.1f} ms   min {ms[0]:8.1f}   max {ms[-1]:8.1f}   (n={len(ms)})"


def run_environment(rounds: int, modules: int) -> None:
    from bench.jobs import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from workspace.jobs import environment

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-jobs-env")
    stamp = time.strftime("%H%M%S")
    with_setup = make_project(user, f"Env bench {stamp}", WITH_SETUP, modules)
    without = make_project(user, f"Env bench ref {stamp}", WITHOUT_SETUP, modules)
    figures: dict[str, list[float]] = {"none": [], "ran": [], "cached": []}
    for _ in range(rounds):
        shutil.rmtree(environment.cache_root(with_setup.id), ignore_errors=True)
        plan = ((without, "none"), (with_setup, "ran"), (with_setup, "cached"), (with_setup, "cached"))
        for workspace, expected in plan:
            seconds, setup = to_command_phase(user, workspace.id)
            assert setup == expected, (setup, expected)
            figures[setup].append(seconds)
    print(f"bench/jobs.py, environment mode: {modules} vendored modules, {rounds} round(s), real sandbox")
    print(f"reference  no [setup]: start -> command phase  {summary(figures['none'])}")
    print(f"first run  setup runs: start -> command phase  {summary(figures['ran'])}")
    print(f"cached run setup reused: start -> command phase {summary(figures['cached'])}")
