"""The sweep at an SSH board's open: what dead runs of this origin (this harness host and runs root) left on
the board when the harness died (SIGKILL, power loss, a dropped connection) before the board's close.

Found by origin label (containers) or by name (``board_names``: networks, the private client directories,
CA files under certs.d, containerd hosts directories, the ledgers of pulled images), and removed only when
the run id is one of this runs root's and that run is dead (``harness.run.root.run_is_dead``): a live run's
things, another origin's and those of a board opened outside a run are never touched. An image goes when a
dead run's ledger lists it and no other ledger (of any origin, live or not) does.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.boards.board_names import parse_name
from harness.boards.runtimes import Runtime
from harness.boards.transport import SshTransport
from harness.defaults import DOCKER_CERTS_D
from harness.run.root import run_is_dead

#: Where an SSH board keeps a run's containerd hosts directories (root's, gone at the board's reboot).
STATE_DIR = "/run/rvconform"
#: Where an SSH board keeps a run's ledger of pulled images (kept across reboots, as the images are).
LEDGER_DIR = "/var/tmp"


@dataclass(frozen=True)
class BoardPaths:
    """The board's directories that hold a run's files (tests point them elsewhere); the private client
    directories are in the board's ``$TMPDIR`` (else /tmp), where ``mktemp`` put them."""

    certs_d: str = DOCKER_CERTS_D
    state: str = STATE_DIR
    ledgers: str = LEDGER_DIR

    def ledger(self, name: str) -> str:
        """The path of the ledger called ``name`` (a mark's name)."""
        return f"{self.ledgers}/{name}.pulled"

    def of_origin(self, origin: str) -> list[str]:
        """Shell globs of every file and directory the runs of ``origin`` make."""
        ours = f"rvconform-{origin}-*"
        return [f'"${{TMPDIR:-/tmp}}"/{ours}', f"{shlex.quote(self.certs_d)}/*/{ours}.crt",
                f"{shlex.quote(self.state)}/{ours}", f"{shlex.quote(self.ledgers)}/{ours}.pulled"]


@dataclass
class Swept:
    """What one sweep removed, by kind, and the dead runs it was from."""

    runs: set[str] = field(default_factory=set)
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


class BoardSweep:
    """One sweep of a board: ``run()`` removes what dead runs of ``origin`` left there."""

    def __init__(self, transport: SshTransport, runtime: Runtime, origin: str, paths: BoardPaths = BoardPaths(),
                 is_dead: Callable[[str], bool] = run_is_dead) -> None:
        self.transport, self.runtime, self.origin, self.paths = transport, runtime, origin, paths
        self._is_dead = is_dead
        self._verdicts: dict[str, bool] = {}
        self.swept = Swept()

    def run(self) -> Swept:
        """Remove the dead runs' containers, then their networks, images and files; returns what went."""
        for handle, run_id in self.runtime.containers_of(self.origin).items():
            if self._dead(run_id):
                self.runtime.remove(handle)
                self.swept.containers.append(handle)
        for network in self.runtime.networks():
            if self._ours_and_dead(network):
                self.runtime.remove_network(network)
                self.swept.networks.append(network)
        self._remove_images()
        self._remove_paths()
        return self.swept

    def _dead(self, run_id: str) -> bool:
        if run_id not in self._verdicts:
            self._verdicts[run_id] = self._is_dead(run_id)
            if self._verdicts[run_id]:
                self.swept.runs.add(run_id)
        return self._verdicts[run_id]

    def _ours_and_dead(self, name: str) -> bool:
        mark = parse_name(name)
        return mark is not None and mark.origin == self.origin and self._dead(mark.run)

    def _remove_images(self) -> None:
        ledgers = self._ledgers()
        dead = {path for path in ledgers if self._ours_and_dead(path)}
        wanted = {ref for path, refs in ledgers.items() if path not in dead for ref in refs}
        for ref in sorted({ref for path in dead for ref in ledgers[path]} - wanted):
            self.runtime.remove_image(ref, force=False)  # one another run's container uses stays
            self.swept.images.append(ref)

    def _ledgers(self) -> dict[str, set[str]]:
        """Every ledger on the board (of any origin): its path -> the refs it lists."""
        script = (f"for f in {shlex.quote(self.paths.ledgers)}/rvconform-*.pulled; do "
                  '[ -f "$f" ] && while read -r ref; do echo "$f $ref"; done < "$f"; done; true')
        ledgers: dict[str, set[str]] = {}
        for line in self.transport.run(["sh", "-c", script]).stdout.splitlines():
            path, _, ref = line.partition(" ")
            if ref.strip():
                ledgers.setdefault(path, set()).add(ref.strip())
        return ledgers

    def _remove_paths(self) -> None:
        script = f'for f in {" ".join(self.paths.of_origin(self.origin))}; do [ -e "$f" ] && echo "$f"; done; true'
        dead = [path for path in self.transport.run(["sh", "-c", script]).stdout.splitlines()
                if self._ours_and_dead(path)]
        if not dead:
            return
        self.transport.run(["rm", "-rf", "--", *dead])
        # A certs.d directory emptied by it goes too; one with other files stays (rmdir refuses).
        parents = sorted({path.rsplit("/", 1)[0] for path in dead if path.endswith(".crt")})
        if parents:
            self.transport.run(["rmdir", "--", *parents])
        self.swept.paths.extend(dead)
