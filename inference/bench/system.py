"""What the machine says about the run: RSS, CPU seconds, the service's process tree, the device.

Linux ``/proc`` where it is there; elsewhere the figures that need it read 0 or None.
"""
from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import time
from pathlib import Path

from inference.models.onnx_runtime import usable_cores


def mb(b: float) -> float:
    return round(b / 1e6, 1)


def proc_status_kb(key: str, pid: int | str = "self") -> int:
    """A ``/proc/PID/status`` field in kB (VmRSS, VmHWM), 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return proc_status_kb("VmRSS") * 1024


def peak_rss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024


def hwm_bytes() -> int:
    """The process's RSS high-water mark so far."""
    kb = proc_status_kb("VmHWM")
    return kb * 1024 if kb else peak_rss_bytes()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc; the service's worker processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_busy_s() -> float | None:
    """CPU seconds all processes spent busy since boot (Linux /proc/stat), None elsewhere."""
    try:
        f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu_s() -> float:
    """This process's CPU time and its finished children's (the service process of (c))."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuWatch:
    """The share of the CPUs other processes used while the benchmark ran (noise in the figures)."""

    def __init__(self) -> None:
        self.t, self.busy, self.own = time.perf_counter(), cpu_busy_s(), own_cpu_s()

    def others_share(self) -> float | None:
        busy = cpu_busy_s()
        if busy is None or self.busy is None:
            return None
        wall = time.perf_counter() - self.t
        others = (busy - self.busy) - (own_cpu_s() - self.own)
        return round(max(0.0, others) / (wall * (os.cpu_count() or 1)), 3) if wall > 0 else None


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu} ({usable_cores()} cores)"


def sync(device: str) -> None:
    """Wait for the GPU's queued work, so a timing ends when the work does."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
