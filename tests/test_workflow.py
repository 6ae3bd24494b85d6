"""The book workflow (.github/workflows/book.yml), linted offline: valid against SchemaStore's workflow
schema (tests/data/github_workflow/), and it builds on pull requests and publishes from main only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "book.yml"
SCHEMA = Path(__file__).parent / "data" / "github_workflow" / "schema.json"


class Yaml12Loader(yaml.SafeLoader):
    """YAML as GitHub reads it: only true/false are booleans (PyYAML's YAML 1.1 turns the key `on` into True)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def load(text: str) -> dict:
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)


def schema_errors(workflow: dict) -> list[str]:
    """Every violation of the workflow schema, as `path: message`."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in validator.iter_errors(workflow)]


def publishing_problems(workflow: dict) -> list[str]:
    """What keeps the workflow from building on pull requests and deploying the smoke book from main only."""
    found = []
    triggers = workflow.get("on", {})
    if "pull_request" not in triggers:
        found.append("no pull_request trigger: pull requests are not built")
    if "main" not in (triggers.get("push") or {}).get("branches", []):
        found.append("no push trigger on main")
    jobs = workflow.get("jobs", {})
    build_steps = [step.get("run", "") + step.get("uses", "") for step in jobs.get("build", {}).get("steps", [])]
    if not any("make book" in step for step in build_steps):
        found.append("the build job does not run `make book`")
    uploads = [s for s in jobs.get("build", {}).get("steps", []) if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    if not uploads or uploads[0].get("with", {}).get("path") != "_build/html":
        found.append("the build job does not upload _build/html as the Pages artifact")
    deploy = jobs.get("deploy", {})
    if not any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy.get("steps", [])):
        found.append("no deploy job with actions/deploy-pages")
    condition = deploy.get("if", "")
    if "github.event_name == 'push'" not in condition or "refs/heads/main" not in condition:
        found.append(f"deploy runs on more than pushes to main (if: {condition!r})")
    if deploy.get("permissions", {}).get("pages") != "write" or deploy.get("permissions", {}).get("id-token") != "write":
        found.append("the deploy job lacks pages: write and id-token: write")
    return found


def test_the_book_workflow_is_valid_and_publishes_from_main_only():
    workflow = load(WORKFLOW.read_text(encoding="utf-8"))
    assert not schema_errors(workflow), f"{WORKFLOW}:\n  " + "\n  ".join(schema_errors(workflow))
    assert not publishing_problems(workflow), f"{WORKFLOW}:\n  " + "\n  ".join(publishing_problems(workflow))


@pytest.mark.parametrize("edit, expected", [
    (lambda w: w["jobs"]["build"].pop("runs-on"), "jobs/build:"),
    (lambda w: w["jobs"]["build"]["steps"][0].update({"uses": 3}), "jobs/build:"),
    (lambda w: w.update({"jobz": {}}), "jobz"),
])
def test_the_schema_rejects_broken_workflows(edit, expected):
    workflow = load(WORKFLOW.read_text(encoding="utf-8"))
    edit(workflow)
    assert any(expected in error for error in schema_errors(workflow))


@pytest.mark.parametrize("edit, expected", [
    (lambda w: w["on"].pop("pull_request"), "pull_request"),
    (lambda w: w["jobs"]["deploy"].pop("if"), "deploy runs on more"),
    (lambda w: w["jobs"]["deploy"]["permissions"].pop("pages"), "pages: write"),
])
def test_publishing_rules_catch_a_deploy_from_anywhere(edit, expected):
    workflow = load(WORKFLOW.read_text(encoding="utf-8"))
    edit(workflow)
    assert any(expected in problem for problem in publishing_problems(workflow))
