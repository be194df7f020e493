"""Run many independent tasks — conditions, modules of a lot, candidate designs — through one
executor: in this process, in local worker processes, or on a Ray cluster.

    >>> from camforge.parallel import get_executor
    >>> with get_executor("local") as ex:                        # doctest: +SKIP
    ...     results = ex.map(evaluate_condition, conditions, progress=callback)

:meth:`Executor.map` returns results in input order whatever the order tasks finish in,
so a seeded task gives the same list on every executor. A task that raises becomes a
:class:`TaskError` that names the item (``return_exceptions=True`` keeps going and puts the
:class:`TaskError` in the result list instead, for lots where one bad module must not stop
the others).

Executors (:func:`get_executor` parses the spec strings):

``local`` / ``local:N``
    :class:`LocalExecutor`: N worker processes (default: the usable CPU cores), started
    with the ``spawn`` method, each limited to one torch/OpenMP thread so N workers use N
    cores. ``local:1`` (or ``serial``) runs tasks in this process, one after another.
``ray`` / ``ray:local`` / ``ray:auto`` / ``ray://host:10001`` / ``ray:host:6379``
    :class:`RayExecutor`: ``ray`` connects where ``ray.init()`` would (``RAY_ADDRESS``, a
    running local cluster, else a new local instance), ``ray:local`` always starts a new
    local instance, ``ray:auto`` requires a running cluster, ``ray://...`` is a Ray Client
    address and ``ray:host:port`` a cluster's GCS address. Ray is imported only here.

Tasks must be picklable: a module-level function (or :func:`functools.partial` of one) and
picklable items. On a remote Ray cluster camforge must be installed on the workers.
Library code passes a ``progress(done, total)`` callback and never prints; the CLI gets a
Rich bar from :func:`progress_bar`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import pickle
import reprlib
import socket
import sys
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from camforge.errors import CamforgeError, ConfigError, DependencyError, InputError

ProgressFn = Callable[[int, int], None]

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ExecutorError(CamforgeError):
    """The executor cannot be started or its cluster cannot be reached."""


class TaskError(CamforgeError):
    """A task failed. Names the item; ``cause`` is the original exception when it could be
    carried back from the worker, ``traceback`` the worker's traceback text."""

    def __init__(self, message: str, *, index: int | None = None, item: Any = None,
                 error_type: str = "", error_message: str = "", traceback: str | None = None,
                 cause: BaseException | None = None):
        super().__init__(message)
        self.index = index
        self.item = item
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        self.cause = cause

    def __reduce__(self):
        return (_rebuild_task_error, (str(self), self.index, self.item, self.error_type,
                                      self.error_message, self.traceback, self.cause))


def _rebuild_task_error(message, index, item, error_type, error_message, tb, cause) -> TaskError:
    return TaskError(message, index=index, item=item, error_type=error_type, error_message=error_message,
                     traceback=tb, cause=cause)


_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxdict = 6
_repr.maxlist = 6


def describe_item(item: Any) -> str:
    """A short repr of a task's item for error messages."""
    return _repr.repr(item)


# --------------------------------------------------------------------------- task wrapper


@dataclass
class _Outcome:
    """What a worker sends back: the value, or a description of the exception."""

    ok: bool
    value: Any = None
    error_type: str = ""
    error_message: str = ""
    traceback: str | None = None
    error: BaseException | None = None


_threads_set: int | None = None


def _limit_threads(threads: int | None) -> None:
    """Limit torch's intra-op threads (once per process)."""
    global _threads_set
    if threads is None or _threads_set == threads:
        return
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    with contextlib.suppress(Exception):
        import torch

        torch.set_num_threads(threads)
    _threads_set = threads


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch limited to ``threads`` intra-op threads, then restore."""
    torch = sys.modules.get("torch")
    if threads is None or torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _init_worker(threads: int | None) -> None:
    # Set before torch is imported in the worker: OpenMP reads these at load time.
    if threads is not None:
        for var in _THREAD_VARS:
            os.environ[var] = str(threads)


def _picklable(obj: Any) -> bool:
    """True if ``obj`` survives a pickle round trip (an exception whose ``__init__`` takes
    other arguments than its message pickles but fails to unpickle, breaking the pool)."""
    try:
        pickle.loads(pickle.dumps(obj))
    except Exception:
        return False
    return True


def _run_task(fn: Callable[[Any], Any], item: Any, threads: int | None, remote: bool = True) -> _Outcome:
    """Call ``fn(item)`` in a worker; never raises (errors come back as an :class:`_Outcome`)."""
    _limit_threads(threads)
    try:
        return _Outcome(ok=True, value=fn(item))
    except Exception as e:
        error = e if (not remote or _picklable(e)) else None
        return _Outcome(ok=False, error_type=type(e).__name__, error_message=" ".join(str(e).split()),
                        traceback=traceback.format_exc(), error=error)


def _task_error(outcome: _Outcome, index: int | None, total: int | None, item: Any) -> TaskError:
    where = f"task {index + 1} of {total}" if index is not None and total else "task"
    detail = f"{outcome.error_type}: {outcome.error_message}" if outcome.error_message else outcome.error_type
    err = TaskError(f"{where} failed for item {describe_item(item)}: {detail}", index=index, item=item,
                    error_type=outcome.error_type, error_message=outcome.error_message,
                    traceback=outcome.traceback, cause=outcome.error)
    if outcome.error is not None:
        err.__cause__ = outcome.error
    return err


def _infrastructure_outcome(e: BaseException) -> _Outcome:
    """An outcome for a failure outside the task itself (dead worker, unpicklable value...)."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(e, BrokenProcessPool):
        msg = "a worker process died unexpectedly (killed, crashed or out of memory)"
    else:
        msg = " ".join(str(e).split())
        name = type(e).__name__
        if "pickl" in msg.lower() or "pickl" in name.lower():
            msg = f"cannot send the task or its result between processes: {msg}"
    return _Outcome(ok=False, error_type=type(e).__name__, error_message=msg, error=e)


# --------------------------------------------------------------------------- executors


class Executor(ABC):
    """Runs ``fn(item)`` for many items. Use as a context manager, or call :meth:`close`."""

    #: "local" or "ray".
    kind: str = ""
    #: How many tasks can run at once.
    workers: int = 1

    @abstractmethod
    def _submit_outcome(self, fn: Callable, item: Any) -> cf.Future:
        """A future whose result is the task's :class:`_Outcome` (or an infrastructure exception)."""

    def _prepare(self, fn: Callable) -> Callable:
        """Check/ship ``fn`` once per map call; returns what :meth:`_submit_outcome` gets."""
        return fn

    def _cancel(self, futures: Iterable[cf.Future]) -> None:
        for f in futures:
            f.cancel()

    def _outcome(self, fut: cf.Future) -> _Outcome:
        try:
            out = fut.result()
        except cf.CancelledError:
            raise
        except Exception as e:
            return _infrastructure_outcome(e)
        return out

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future:
        """Start ``fn(item)``; a :class:`concurrent.futures.Future` of its value.

        The future raises :class:`TaskError` if the task fails. Works with
        :func:`concurrent.futures.as_completed` / ``wait`` on every executor (for ask/tell
        optimizers that hand out new work as results arrive).
        """
        inner = self._submit_outcome(self._prepare(fn), item)
        outer: cf.Future = cf.Future()

        def done(f: cf.Future) -> None:
            if outer.done():  # cancelled by the caller
                return
            if f.cancelled():
                outer.cancel()
                outer.set_running_or_notify_cancel()  # wakes wait() / as_completed()
                return
            out = self._outcome(f)
            if out.ok:
                outer.set_result(out.value)
            else:
                outer.set_exception(_task_error(out, None, None, item))

        # The caller cancelling the returned future cancels the task too.
        outer.add_done_callback(lambda o: self._cancel([inner]) if o.cancelled() else None)
        inner.add_done_callback(done)
        return outer

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, progress: ProgressFn | None = None,
            return_exceptions: bool = False) -> list[Any]:
        """``[fn(item) for item in items]``, run in parallel; results in input order.

        ``progress(done, total)`` is called in this thread as tasks finish (``done`` from
        0 to ``total``). If a task raises, the remaining tasks are cancelled and a
        :class:`TaskError` naming the item is raised — unless ``return_exceptions=True``,
        which runs every task and puts a :class:`TaskError` in the list for each failure.
        """
        items = list(items)
        total = len(items)
        if progress is not None:
            progress(0, total)
        if total == 0:
            return []
        prepared = self._prepare(fn)
        results: list[Any] = [None] * total
        index_of: dict[cf.Future, int] = {}
        try:
            for i, item in enumerate(items):
                index_of[self._submit_outcome(prepared, item)] = i
            done = 0
            for fut in cf.as_completed(index_of):
                i = index_of[fut]
                out = self._outcome(fut)
                if out.ok:
                    results[i] = out.value
                else:
                    err = _task_error(out, i, total, items[i])
                    if not return_exceptions:
                        self._cancel(f for f in index_of if not f.done())
                        self._after_failure(out)
                        raise err
                    results[i] = err
                done += 1
                if progress is not None:
                    progress(done, total)
        except BaseException:
            self._cancel(f for f in index_of if not f.done())
            raise
        return results

    def _after_failure(self, outcome: _Outcome) -> None:
        """Hook: recover after an infrastructure failure (e.g. a broken process pool)."""

    def close(self) -> None:
        """Release workers (and a Ray instance this executor started)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class LocalExecutor(Executor):
    """Tasks in this process (``workers=1``) or in a pool of ``spawn``-ed worker processes.

    ``workers=None`` uses :func:`available_cores`. Every task runs with torch (and OpenMP)
    limited to ``threads_per_worker`` threads (default 1) — in worker processes and, for
    the duration of the call, in this process too — because torch's results depend, in the
    last bits, on its thread count: with the same setting every executor gives identical
    numbers. ``threads_per_worker=None`` leaves the in-process thread count alone. The pool
    is started on first use and reused across :meth:`map` calls until :meth:`close`.
    """

    kind = "local"

    def __init__(self, workers: int | None = None, *, threads_per_worker: int | None = 1):
        if workers is None:
            workers = available_cores()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive whole number, got {workers!r}")
        if threads_per_worker is not None and (not isinstance(threads_per_worker, int) or threads_per_worker < 1):
            raise ConfigError(f"threads_per_worker must be a positive whole number, got {threads_per_worker!r}")
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self._pool: cf.ProcessPoolExecutor | None = None

    @property
    def in_process(self) -> bool:
        return self.workers == 1

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self.threads_per_worker,),
            )
        return self._pool

    def _prepare(self, fn: Callable) -> Callable:
        if not callable(fn):
            raise InputError(f"the task must be callable, got {type(fn).__name__}")
        if not self.in_process:
            try:
                pickle.dumps(fn)
            except Exception as e:
                raise InputError(
                    f"cannot send task {getattr(fn, '__qualname__', fn)!r} to worker processes: it is not "
                    f"picklable ({e}); use a module-level function or functools.partial of one"
                ) from None
        return fn

    def _submit_outcome(self, fn: Callable, item: Any) -> cf.Future:
        if self.in_process:
            fut: cf.Future = cf.Future()
            fut.set_running_or_notify_cancel()
            with _torch_threads(self.threads_per_worker):
                fut.set_result(_run_task(fn, item, None, remote=False))
            return fut
        return self._get_pool().submit(_run_task, fn, item, self.threads_per_worker)

    def map(self, fn, items, *, progress=None, return_exceptions=False):
        if not self.in_process:
            return super().map(fn, items, progress=progress, return_exceptions=return_exceptions)
        # In process: one task at a time, failing fast before later items start.
        items = list(items)
        total = len(items)
        self._prepare(fn)
        if progress is not None:
            progress(0, total)
        results = []
        with _torch_threads(self.threads_per_worker):
            for i, item in enumerate(items):
                out = _run_task(fn, item, None, remote=False)
                if out.ok:
                    results.append(out.value)
                else:
                    err = _task_error(out, i, total, item)
                    if not return_exceptions:
                        raise err
                    results.append(err)
                if progress is not None:
                    progress(i + 1, total)
        return results

    def _after_failure(self, outcome: _Outcome) -> None:
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(outcome.error, BrokenProcessPool) and self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _outcome(self, fut: cf.Future) -> _Outcome:
        out = super()._outcome(fut)
        if not out.ok:
            self._after_failure(out)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise DependencyError("the Ray executor needs Ray: pip install 'ray[client]'") from None
    return ray


def _split_host_port(address: str, default_port: int) -> tuple[str, int]:
    rest = address.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    host = host.strip("[]") or rest
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise ConfigError(f"bad Ray address {address!r}: the port must be a number (e.g. ray://head:10001)") from None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (instead of Ray's long retries) when nothing listens at ``address``."""
    host, port = _split_host_port(address, 10001 if address.startswith("ray://") else 6379)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        raise ExecutorError(f"cannot reach Ray cluster at {address}: unknown host {host!r}") from None
    except TimeoutError:
        raise ExecutorError(f"cannot reach Ray cluster at {address}: connection timed out — "
                            "is the host reachable and the port open?") from None
    except OSError as e:
        reason = "connection refused" if isinstance(e, ConnectionRefusedError) else (e.strerror or str(e))
        raise ExecutorError(f"cannot reach Ray cluster at {address}: {reason} — is `ray start --head` "
                            "running there and the port open?") from None


class RayExecutor(Executor):
    """Tasks as Ray remote functions (one CPU each by default).

    ``address``: None (``ray.init()``'s own lookup: ``RAY_ADDRESS``, a running local
    cluster, else a new local instance), ``"local"`` (always a new local instance),
    ``"auto"`` (a running cluster, else an error), ``"ray://host:port"`` (Ray Client) or
    ``"host:port"`` (GCS address). ``num_cpus`` sizes a new local instance. If Ray is
    already initialized in this process it is used as it is and left running on
    :meth:`close`; an instance this executor started is shut down by :meth:`close`.

    For a local instance the workers get this process's ``sys.path`` (so task functions
    defined in scripts and test modules import there); on a remote cluster pass a
    ``runtime_env`` (``py_modules``/``working_dir``) or install camforge on the nodes.

    Raises:
        DependencyError: Ray (or Ray Client, for ``ray://``) is not installed.
        ExecutorError: the cluster cannot be reached or Ray cannot start.
    """

    kind = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, cpus_per_task: float = 1,
                 threads_per_task: int | None = 1, runtime_env: dict | None = None, init_kwargs: dict | None = None):
        ray = _import_ray()
        self._ray = ray
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.threads_per_task = threads_per_task
        self._owns = False
        self._remote = None
        if address not in (None, "local", "auto"):
            _check_reachable(address)
        if not ray.is_initialized():
            self._start(address, num_cpus, runtime_env, dict(init_kwargs or {}))
            self._owns = True
        try:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1) // max(cpus_per_task, 1e-9)))
        except Exception:
            self.workers = 1

    def _start(self, address, num_cpus, runtime_env, kwargs) -> None:
        ray = self._ray
        local = address in (None, "local")
        client = isinstance(address, str) and address.startswith("ray://")
        env = dict(runtime_env or {})
        if local:
            env_vars = dict(env.get("env_vars", {}))
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            env_vars.setdefault("PYTHONPATH", os.pathsep.join(paths))
            if self.threads_per_task is not None:
                for var in _THREAD_VARS:
                    env_vars.setdefault(var, str(self.threads_per_task))
            env["env_vars"] = env_vars
            kwargs.setdefault("include_dashboard", False)
            if num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
        kwargs.setdefault("log_to_driver", False)
        kwargs.setdefault("logging_level", logging.ERROR)
        if env:
            kwargs["runtime_env"] = env
        try:
            ray.init(address=address, **kwargs)
        except ValueError as e:
            if client and "ray[client]" in str(e):
                raise DependencyError(
                    "connecting to a ray:// address needs Ray Client: pip install 'ray[client]'") from None
            raise ExecutorError(f"cannot start Ray ({address or 'local'}): {' '.join(str(e).split())}") from None
        except (ConnectionError, RuntimeError, TimeoutError) as e:
            raise ExecutorError(f"cannot connect to Ray cluster at {address}: {' '.join(str(e).split())}") from None

    def _prepare(self, fn: Callable) -> Any:
        if not callable(fn):
            raise InputError(f"the task must be callable, got {type(fn).__name__}")
        if self._remote is None:
            self._remote = self._ray.remote(_run_task).options(num_cpus=self.cpus_per_task)
        return self._ray.put(fn)  # ship the function once per map

    def _submit_outcome(self, fn_ref: Any, item: Any) -> cf.Future:
        ref = self._remote.remote(fn_ref, item, self.threads_per_task)
        fut = ref.future()
        fut._camforge_ref = ref  # for cancel
        return fut

    def _cancel(self, futures: Iterable[cf.Future]) -> None:
        for f in futures:
            ref = getattr(f, "_camforge_ref", None)
            if ref is not None:
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref)
            f.cancel()

    def _outcome(self, fut: cf.Future) -> _Outcome:
        try:
            return fut.result()
        except cf.CancelledError:
            raise
        except Exception as e:
            cause = getattr(e, "cause", None)
            out = _infrastructure_outcome(e)
            if cause is not None:
                out.error_type = type(cause).__name__
                out.error_message = " ".join(str(cause).split())
            return out

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers={self.workers})"


# --------------------------------------------------------------------------- specs and progress

EXECUTOR_SPECS = "local, local:N, serial, ray, ray:local, ray:auto, ray://host:port or ray:host:port"


def get_executor(spec: str | None = None, *, workers: int | None = None) -> Executor:
    """An executor from a spec string (the CLI's ``--executor``).

    ``None`` uses ``$CAMFORGE_EXECUTOR``, else ``local``. Specs: ``local`` (``workers`` or
    all cores), ``local:N``, ``serial`` (= ``local:1``), ``ray``, ``ray:local``,
    ``ray:auto``, ``ray://host:port``, ``ray:host:port``.

    Raises:
        ConfigError: an unknown spec.
    """
    if spec is None or not str(spec).strip():
        spec = os.environ.get("CAMFORGE_EXECUTOR") or "local"
    s = str(spec).strip()
    low = s.lower()
    if low in ("local", "process", "processes"):
        return LocalExecutor(workers)
    if low in ("serial", "inprocess", "in-process"):
        return LocalExecutor(1)
    if low.startswith("local:"):
        n = low.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(f"bad executor {s!r}: local:N needs a positive number of workers, e.g. local:4")
        return LocalExecutor(int(n))
    if low == "ray":
        return RayExecutor(None, num_cpus=workers)
    if low.startswith("ray://"):
        return RayExecutor(s)
    if low.startswith("ray:"):
        rest = s.split(":", 1)[1]
        if rest.lower() in ("local", "auto"):
            return RayExecutor(rest.lower(), num_cpus=workers if rest.lower() == "local" else None)
        if ":" not in rest:
            raise ConfigError(f"bad executor {s!r}: give ray:host:port, ray://host:port, ray:auto or ray:local")
        return RayExecutor(rest)
    raise ConfigError(f"unknown executor {s!r}; use {EXECUTOR_SPECS}")


@contextlib.contextmanager
def progress_bar(description: str = "working", *, enabled: bool | None = None, console=None) -> Iterator[ProgressFn]:
    """A Rich progress bar on stderr, as a ``progress(done, total)`` callback (for the CLI).

    ``enabled=None`` shows it only when stderr is a terminal (no bar in logs and CI).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    if enabled is None:
        enabled = console.is_terminal
    if not enabled:
        yield lambda done, total: None
        return
    columns = (SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


__all__ = [
    "EXECUTOR_SPECS",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "ProgressFn",
    "RayExecutor",
    "TaskError",
    "available_cores",
    "describe_item",
    "get_executor",
    "progress_bar",
]
