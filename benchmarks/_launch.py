"""``python -S benchmarks/_launch.py CMD...``: run CMD, then print its peak RSS and CPU time.

A child's ``ru_maxrss`` starts from its parent's at fork (Linux keeps the high-water mark across
``exec``), so the measuring process, which holds the benchmark's own data, cannot fork the
measured command itself: this small launcher does, and reports ``wait4``'s figures for the
command alone: its peak RSS (KiB) and the CPU seconds it used, user plus system, threads
included (CPU time, unlike wall time, does not grow when other work shares the machine); and,
apart, the system seconds and the voluntary context switches (a thread blocking: on the network,
the disk, or the GIL another thread holds), which tell contention from work.
"""

import os
import sys

pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(
    f"\nLAUNCH_MAXRSS_KB={usage.ru_maxrss} LAUNCH_CPU_S={usage.ru_utime + usage.ru_stime:.6f}"
    f" LAUNCH_SYS_S={usage.ru_stime:.6f} LAUNCH_VCSW={usage.ru_nvcsw}\n"
)
sys.exit(os.waitstatus_to_exitcode(status))
