"""signalboard: analytics and fairness reporting for hiring through paid micro-internships."""

import os

__version__ = "0.1.0"

# numpy asks the kernel for transparent huge pages on every array of 4 MB or more (madvise).
# With THP defrag set to "madvise" (this Debian kernel's default), a page fault in such an array
# compacts memory on the spot when no huge page is free, which is the state right after a load
# (measured in docs/performance.md). numpy reads the variable when it
# is first imported (numpy.org, "Global state"), and every signalboard entry point (the CLI, the
# server it starts, the benchmark's children) imports this package before numpy; a value the user
# set wins. Set NUMPY_MADVISE_HUGEPAGE=1 to give numpy its default back.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
