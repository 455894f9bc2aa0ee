"""Memory of a benchmark's child process tree, sampled while it runs (shared by the scale benchmarks)."""

from __future__ import annotations

import subprocess
import threading
import time


def pss_anon(pid: int) -> int:
    """Bytes of the process's proportional set size that are anonymous memory (heap, not memory-mapped files):
    the part that cannot be dropped under pressure. Arrow files that datasets memory-maps count in PSS as they are
    read, so PSS alone grows with the dataset without any memory being held (Linux 4.14+ `smaps_rollup`)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_sampler(proc: subprocess.Popen, samples: list) -> threading.Thread:
    import psutil

    def run():
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while proc.poll() is None:
            try:
                procs = [root, *root.children(recursive=True)]
                # PSS, not RSS: forked map workers share the parent's pages (torch, the tokenizer); RSS would
                # count those once per process.
                pss = sum(p.memory_full_info().pss for p in procs if p.is_running())
                samples.append((time.time(), pss, sum(pss_anon(p.pid) for p in procs)))
            except psutil.Error:
                pass
            time.sleep(0.5)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t
