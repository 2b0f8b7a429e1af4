"""Defaults that several commands and modules share, said once: the options, the library and `rvconform`'s
subcommands all take them from here."""

from __future__ import annotations

#: Where Debian base images and the VM image come from.
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: The recipes a run checks when none are named (relative to the working directory, else the checkout).
RECIPES_DIR = "fixtures/images"
#: Where `rvconform run` writes its reports, and where `rvconform sizes` reads and writes.
REPORTS_DIR = "reports"
HISTORY_FILE = "size-history.jsonl"
#: Size growth is measured against this branch's last record.
BASELINE_BRANCH = "main"
#: Seconds one recipe's build may take.
BUILD_TIMEOUT = 3600.0
#: Seconds a started container may take to answer.
READY_TIMEOUT = 120.0
#: Seconds a board's pull of one image may take; also the longest a registry may stay silent on one request.
PULL_TIMEOUT = 600.0

#: Where the docker engine looks for each registry's CA files (HOST:PORT/*.crt).
DOCKER_CERTS_D = "/etc/docker/certs.d"
