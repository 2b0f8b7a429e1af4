"""Removing what a run left: its processes, containers, networks and images, at its end or, after a crash,
at the start of a later run."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from harness import cache
from harness.defaults import DOCKER_CERTS_D
from harness.labels import run_filter
from harness.run import processes, root
from harness.run.records import REGISTRY

_ENGINE_USED = "engine-used"


def mark_engine_used(run_dir: Path) -> None:
    """Note that containers may exist, so the teardown asks the engine to remove them."""
    (run_dir / _ENGINE_USED).touch()


def teardown(run_id: str, run_dir: Path) -> None:
    """Stop what the run recorded, remove its labelled containers, networks and images, and its directory."""
    processes.stop_recorded(run_dir)
    remove_engine_trust(run_id)
    if (run_dir / _ENGINE_USED).exists():
        remove_run_containers(run_id)
        remove_run_networks(run_id)
        registry = REGISTRY.read(run_dir)
        if registry and registry.pid:  # a registry of our own: its images are ours too
            remove_images_from(urlsplit(registry.url).netloc)
    shutil.rmtree(run_dir, ignore_errors=True)


def remove_engine_trust(run_id: str) -> None:
    """Remove the CA files a run's local board put in the engine's certs.d (a board that crashed left them)."""
    for path in Path(DOCKER_CERTS_D).glob(f"*/rvconform-{run_id}-*.crt"):
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # other files there: not ours to remove
            path.parent.rmdir()


def sweep_stale_runs() -> list[str]:
    """Tear down runs whose owner died without cleaning up (their directory holds their build contexts), and
    remove the lock and partial files dead makers left in the cache; returns the runs' ids."""
    cache.sweep_leftovers()
    swept = []
    runs = root.runs_root()
    for run_dir in sorted(runs.iterdir()) if runs.is_dir() else []:
        with root.abandoned(run_dir) as gone:
            if gone:
                teardown(run_dir.name, run_dir)
                swept.append(run_dir.name)
    return swept


def remove_run_containers(run_id: str) -> int:
    """Remove every container labelled with ``run_id``; returns how many."""
    from harness.engine import engine  # the engine is needed only when containers may exist

    containers = engine().containers.list(all=True, filters={"label": run_filter(run_id)})
    for container in containers:
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)  # with its anonymous volumes: nobody else can use them
    return len(containers)


def remove_run_networks(run_id: str) -> None:
    """Remove the networks boards made for ``run_id`` (after its containers are gone)."""
    from harness.engine import engine

    for network in engine().networks.list(filters={"label": run_filter(run_id)}):
        with contextlib.suppress(Exception):
            network.remove()


def remove_images_from(registry_host: str) -> None:
    """Remove local images pulled from (or tagged for) a registry that lived only for one run."""
    from harness.engine import engine

    prefix = f"{registry_host}/"
    # The low-level listing: images.list() inspects each image and fails when another process removes one.
    for image in engine().api.images():
        refs = [r for r in (image.get("RepoTags") or []) + (image.get("RepoDigests") or []) if r.startswith(prefix)]
        for ref in refs:
            with contextlib.suppress(Exception):
                engine().images.remove(ref, force=True)
