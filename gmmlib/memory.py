"""Measuring memory honestly: what a process owns, its peak during a computation, and a cap.

Introduced in {ref}`ch-scaling-em`.

Three numbers describe the memory of a computation, and they disagree for out-of-core work:

- what Python and NumPy *allocate* (:func:`gmmlib.scaling.peak_memory_of`, with
  :mod:`tracemalloc`);
- the process's *private* memory (:func:`private_memory`): every page that belongs to this
  process alone, including the interpreter, the libraries and buffers that :mod:`tracemalloc`
  cannot see. Pages of files the process reads are not private: they belong to the operating
  system's page cache, which drops them when memory is short;
- the resident set size (``ru_maxrss``), which also counts those file pages while they are
  mapped into the process, and so grows with the file a memory map reads.

:class:`MemoryWatcher` records the peak of the private memory while a block of code runs, from
a background thread; :func:`watch_workers` does the same on every worker of a Dask cluster; and
:func:`run_python` runs a script in a fresh interpreter whose memory is capped by the operating
system (``RLIMIT_DATA``), so that a computation that needed more than the cap fails with a
``MemoryError`` instead of quietly succeeding.
"""

import json
import os
import subprocess
import sys
import threading
import time

__all__ = ["MemoryWatcher", "private_memory", "run_python", "watch_workers"]

_STATUS = "/proc/self/status"


def private_memory():
    """Bytes of private memory this process holds now.

    On Linux, ``RssAnon`` of ``/proc/self/status``: resident pages that belong to no file (the
    heap, NumPy's arrays, the interpreter's objects), so pages of a file being read, which the
    kernel can drop at will, are not counted. Elsewhere, ``psutil``'s unique set size (the
    pages no other process shares), if ``psutil`` is installed.
    Introduced in {ref}`ch-scaling-em`.

    Returns
    -------
    int

    Examples
    --------
    >>> private_memory() > 0
    True
    """
    if os.path.exists(_STATUS):
        with open(_STATUS) as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    try:
        import psutil
    except ImportError:
        raise RuntimeError("private_memory needs Linux's /proc or the psutil package "
                           "(pip install psutil).") from None
    return int(psutil.Process().memory_full_info().uss)


class MemoryWatcher:
    """Peak private memory of this process while a ``with`` block runs.

    A background thread reads :func:`private_memory` every ``interval`` seconds. A peak shorter
    than the interval can be missed, so the result is a lower bound of the true peak; the work
    of EM allocates its buffers once per pass and keeps them, so it shows.
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    interval : float, default=0.01
        Seconds between two readings.

    Attributes
    ----------
    before : int
        Private memory (bytes) when the block started.
    peak : int
        Largest reading during the block (bytes), at least ``before``.
    growth : int
        ``peak - before``: what the block added at its worst.
    seconds : float
        Wall-clock duration of the block.

    Examples
    --------
    >>> import numpy as np
    >>> with MemoryWatcher() as watcher:
    ...     block = np.ones(20_000_000)  # 160 MB, all pages touched
    ...     del block
    >>> watcher.growth > 100e6
    True
    """

    def __init__(self, interval=0.01):
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}.")
        self.interval = interval
        self.before = self.peak = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = None

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, private_memory())

    def start(self):
        """Start watching (what ``with`` does on entry)."""
        self.before = self.peak = private_memory()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="gmmlib-memory", daemon=True)
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def stop(self):
        """Stop watching and take a last reading (what ``with`` does on exit)."""
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self._started
        self.peak = max(self.peak, private_memory())
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def growth(self):
        return self.peak - self.before

    def report(self):
        """The measurements as a dict (bytes and seconds), ready for ``json.dumps``."""
        return dict(before=self.before, peak=self.peak, growth=self.growth, seconds=self.seconds)


###############################################################################
# Dask workers

# One watcher per worker process, started and stopped by client.run.
_worker_watcher = None


def _start_worker_watcher(interval):
    global _worker_watcher
    _worker_watcher = MemoryWatcher(interval).start()
    return _worker_watcher.before


def _stop_worker_watcher():
    global _worker_watcher
    watcher, _worker_watcher = _worker_watcher, None
    return None if watcher is None else watcher.stop().report()


class watch_workers:
    """Peak private memory of every worker of a Dask cluster while a ``with`` block runs.

    Starts a :class:`MemoryWatcher` inside each worker process (with ``client.run``) on entry
    and collects their readings on exit. Meaningful for workers that are processes; workers that
    are threads of one process all report that process. Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    client : distributed.Client
    interval : float, default=0.01
        Seconds between two readings on each worker.

    Attributes
    ----------
    workers : dict
        Worker address -> :meth:`MemoryWatcher.report` of that worker (``before``, ``peak``,
        ``growth`` in bytes, ``seconds``), filled in when the block ends.
    """

    def __init__(self, client, interval=0.01):
        self.client = client
        self.interval = interval
        self.workers = {}

    def __enter__(self):
        self.client.run(_start_worker_watcher, self.interval)
        return self

    def __exit__(self, *exc_info):
        self.workers = {address: report
                        for address, report in self.client.run(_stop_worker_watcher).items()
                        if report is not None}

    @property
    def largest_growth(self):
        """The largest ``growth`` of any worker (bytes)."""
        return max((report["growth"] for report in self.workers.values()), default=0)

    @property
    def largest_peak(self):
        """The largest ``peak`` of any worker (bytes)."""
        return max((report["peak"] for report in self.workers.values()), default=0)


###############################################################################
# A process with a memory cap

_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_CAP_PREAMBLE = """\
import resource as _resource, threading as _threading
_resource.setrlimit(_resource.RLIMIT_DATA, ({limit}, _resource.getrlimit(_resource.RLIMIT_DATA)[1]))
_threading.stack_size({stack})
del _resource, _threading
"""
# Stacks of threads started from Python under a cap: 1 MiB instead of the usual 8 MiB, which
# would count against the cap for every thread a library starts.
_CAP_THREAD_STACK = 1 << 20


def run_python(script, *args, memory_limit=None, timeout=600, env=None):
    """Run ``script`` in a fresh Python interpreter, optionally under a memory cap.

    With ``memory_limit`` the operating system caps the process's data segment (``RLIMIT_DATA``)
    before anything is imported: the heap and every private writable mapping, which is where
    NumPy's arrays live. Reading a file does not count against it (its pages belong to the page
    cache), allocating an array larger than what is left does: it raises ``MemoryError`` (or,
    if a library needed a new thread just then, ``RuntimeError: can't start new thread``: every
    thread's stack counts too, so threads started from Python get 1 MiB stacks). Address space that is reserved but never used counts as well:
    each BLAS thread reserves tens of megabytes at import, so under a cap the process runs
    BLAS and OpenMP on one thread (unless ``env`` sets ``OPENBLAS_NUM_THREADS``,
    ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``); gmmlib's EM uses one BLAS thread anyway.
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    script : str
        Python source. Its last line of output must be a JSON document (print
        ``json.dumps(...)``): that is what this function returns.
    *args : str
        Command-line arguments, ``sys.argv[1:]`` in the script.
    memory_limit : int or None, default=None
        Cap in bytes (Linux and other systems with ``RLIMIT_DATA``); None for no cap.
    timeout : float, default=600
        Seconds before the process is stopped (and ``subprocess.TimeoutExpired`` raised).
    env : dict, optional
        Environment of the process; by default this process's.

    Returns
    -------
    object
        The script's JSON result, decoded.

    Raises
    ------
    RuntimeError
        If the script fails; the message holds the end of its error output.

    Examples
    --------
    >>> run_python("import json, sys; print(json.dumps(sys.argv[1:]))", "a", "b")
    ['a', 'b']
    """
    env = dict(os.environ if env is None else env)
    if memory_limit is not None:
        import resource  # noqa: F401 (POSIX only: fail here, in words, on other systems)

        if int(memory_limit) < 1:
            raise ValueError(f"memory_limit must be a positive number of bytes, got {memory_limit!r}.")
        script = _CAP_PREAMBLE.format(limit=int(memory_limit), stack=_CAP_THREAD_STACK) + script
        for name in _ONE_THREAD:
            env.setdefault(name, "1")
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                            text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"The script failed (exit code {result.returncode}):\n"
                           + result.stderr[-3000:])
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError("The script printed nothing; its last line must be a JSON document.")
    return json.loads(lines[-1])
