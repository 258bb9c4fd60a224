"""Which process a run belongs to: a pid alone is not enough.

Pids are reused: after a reboot (or a long uptime) the pid stored in a run's status may belong
to some unrelated process, and the run would look alive forever, hold a queue slot, and a
cancel would signal that stranger. So a process is recorded by three things:

    {"pid": 4242, "pid_started": 123456789, "boot_id": "6f1c…"}

`pid_started` is the process's start time in clock ticks since boot (/proc/<pid>/stat, field
22) and `boot_id` the kernel's id of this boot (/proc/sys/kernel/random/boot_id). A stored
identity is alive only while a live process has that pid, started at that tick, in this boot.
Where /proc is missing (macOS), both are None and only the pid is checked (os.kill(pid, 0)),
which is all such a system offers without spawning `ps`. Statuses written before identities
existed (a pid alone) are checked the same way.
"""

from __future__ import annotations

import os
import signal as signals
from pathlib import Path

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
IDENTITY_KEYS = ("pid", "pid_started", "boot_id")

__all__ = ["BOOT_ID_PATH", "IDENTITY_KEYS", "boot_id", "identity", "is_alive", "pid_alive",
           "same_process", "send_signal", "start_ticks"]


def boot_id() -> str | None:
    """This boot's id, or None where the system does not say."""
    try:
        return BOOT_ID_PATH.read_text().strip() or None
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; the name (field 2) may hold spaces and ')'."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rpartition(")")[2].split()


def start_ticks(pid) -> int | None:
    """When process `pid` started, in clock ticks since boot (field 22); None if unknown."""
    fields = _stat_fields(pid) if pid else None
    try:
        return int(fields[19]) if fields else None  # fields[0] is field 3, so 22 is [19]
    except (IndexError, ValueError):
        return None


def identity(pid: int | None = None) -> dict:
    """{"pid", "pid_started", "boot_id"} of process `pid` (default: this one), to store."""
    pid = int(pid or os.getpid())
    return {"pid": pid, "pid_started": start_ticks(pid), "boot_id": boot_id()}


def pid_alive(pid) -> bool:
    """True while process `pid` exists and has not exited (an unreaped zombie counts as gone)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError, ValueError, OverflowError):
        return False
    fields = _stat_fields(pid)
    return fields is None or fields[:1] != ["Z"]  # no /proc: kill(0) is all there is


def is_alive(record: dict) -> bool:
    """True while the process `record` names (a status or an `identity`) is running: its pid
    is alive and, where recorded and readable, its boot and start time are the same."""
    pid = record.get("pid")
    if not pid_alive(pid):
        return False
    stored_boot, now_boot = record.get("boot_id"), boot_id()
    if stored_boot and now_boot and stored_boot != now_boot:
        return False  # written before a reboot: this pid is someone else's now
    stored_start, now_start = record.get("pid_started"), start_ticks(pid)
    return not (stored_start is not None and now_start is not None
                and int(stored_start) != now_start)


def same_process(record: dict, other: dict) -> bool:
    """True when two identities name the same process (a missing start or boot matches any)."""
    if not record.get("pid") or record.get("pid") != other.get("pid"):
        return False
    return all(record.get(k) is None or other.get(k) is None or record.get(k) == other.get(k)
               for k in ("pid_started", "boot_id"))


def send_signal(record: dict, sig: int = signals.SIGTERM) -> bool:
    """Signal the process `record` names, only if it is that very process; True if sent."""
    if not is_alive(record):
        return False
    try:
        os.kill(int(record["pid"]), sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
