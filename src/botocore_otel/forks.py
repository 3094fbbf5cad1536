"""Locks that a fork cannot leave held, and queues the child must not work off.

A lock that one thread holds while another thread forks stays held forever in the child
(``os.fork``, multiprocessing's fork start method, pre-fork servers), and the child's first
call that wants it hangs. The package's locks are made here, and made anew in the child
(the pytest plugin's aside: it lives in pytest's process, which does not fork).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

_Queue = TypeVar("_Queue")  # a deque, a list: anything with clear()

# owner -> how its ``_lock`` is made again in the child
_owners: weakref.WeakKeyDictionary[Any, Callable[[], Any]] = weakref.WeakKeyDictionary()
# (a module's globals(), the name of its lock there, how it is made)
_module_locks: list[tuple[dict[str, Any], str, Callable[[], Any]]] = []
_parents_queues: list[Any] = []


def lock_of(owner: Any, factory: Callable[[], Any] = threading.Lock) -> Any:
    """A new lock for ``owner._lock`` (``owner`` must be weakly referable): the child of a
    fork gets a new one in its place."""
    _owners[owner] = factory
    return factory()


def module_lock(namespace: dict[str, Any], name: str, factory: Callable[[], Any] = threading.Lock) -> Any:
    """A new lock for the module-level ``name`` of ``namespace`` (the module's ``globals()``):
    the child of a fork gets a new one in its place."""
    _module_locks.append((namespace, name, factory))
    return factory()


def emptied_in_child(queue: _Queue) -> _Queue:
    """``queue``, emptied in the child of a fork: its work is the parent's (calls the parent
    abandoned are ended by the parent; the child ending them too would export them twice)."""
    _parents_queues.append(queue)
    return queue


def _in_child() -> None:
    for owner, factory in list(_owners.items()):
        owner._lock = factory()
    for namespace, name, factory in _module_locks:
        namespace[name] = factory()
    for queue in _parents_queues:
        queue.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
