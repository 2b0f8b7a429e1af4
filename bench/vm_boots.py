"""How long the qemu board's VM takes to boot, and how long its console stays silent at most while it boots: the
margin behind the hung-boot rule (harness.boards.qemu.STALL_SECONDS), printed as a ratio.

    python bench/vm_boots.py [--boots 5]

Each boot starts from the cached image's pristine overlay, as a run's does, and ends when the guest's sshd
answers. The console's size is sampled every 0.2 s; its longest stretch without growth is the silence.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from harness.boards.qemu import BOOT_TIMEOUT, STALL_SECONDS
from harness.vm import Vm, VmImage, ensure_vm_image

SAMPLE = 0.2


def longest_silence(vm: Vm, booted: threading.Event) -> float:
    """The longest time, until ``booted`` is set, that ``vm``'s console did not grow."""
    size, changed, longest = -1, time.monotonic(), 0.0
    while not booted.wait(SAMPLE):
        now, current = time.monotonic(), vm.console_size()
        if current != size:
            size, changed = current, now
        longest = max(longest, now - changed)
    return longest


def boot_once(image: VmImage, workdir: Path) -> tuple[float, float]:
    """(seconds to SSH, longest console silence) of one boot."""
    booted, silences = threading.Event(), []
    with Vm.start(image, workdir, name="bench") as vm:
        sampler = threading.Thread(target=lambda: silences.append(longest_silence(vm, booted)))
        sampler.start()
        try:
            vm.wait_for_ssh(BOOT_TIMEOUT)
            seconds = time.monotonic() - vm.started
        finally:
            booted.set()
            sampler.join()
    return seconds, silences[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=5)
    boots = parser.parse_args().boots
    image = ensure_vm_image()
    results = []
    with tempfile.TemporaryDirectory(prefix="rvconform-bench-vm-") as scratch:
        for number in range(1, boots + 1):
            seconds, silence = boot_once(image, Path(scratch) / f"boot-{number}")
            results.append((seconds, silence))
            print(f"  boot {number}: {seconds:6.1f} s to SSH, console silent for at most {silence:5.1f} s", flush=True)
    slowest, quietest = max(seconds for seconds, _ in results), max(silence for _, silence in results)
    print(f"slowest boot {slowest:.1f} s (deadline {BOOT_TIMEOUT:.0f} s); longest console silence {quietest:.1f} s")
    print(f"ratio hung-boot rule ({STALL_SECONDS:.0f} s) / longest silence: {STALL_SECONDS / quietest:.1f}")


if __name__ == "__main__":
    main()
