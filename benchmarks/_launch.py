"""``python benchmarks/_launch.py CMD...``: run CMD, then print its peak RSS (KiB) on stderr.

A child's ``ru_maxrss`` starts from its parent's at fork (Linux keeps the high-water mark across
``exec``), so the measuring process, which holds the benchmark's own data, cannot fork the
measured command itself: this small launcher does, and reports ``wait4``'s figure.
"""

import os
import sys

pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\nLAUNCH_MAXRSS_KB={usage.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
