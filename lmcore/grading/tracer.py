"""The one anti-delegation tracer: what a part's code hands its work to, and the rules it breaks.

A part may not hand its work to a library or to lmcore's own reference. ``Rules`` says what
that means for one part, in four lists; ``trace(run, rules)`` runs the code and returns what
it called that the rules ban::

    >>> rules = Rules(ops=("scaled_dot_product",), code=(lmcore.attention.scaled_dot_product_attention,))
    >>> _, found = trace(lambda: F.scaled_dot_product_attention(q, k, v), rules)
    >>> found
    ['torch scaled_dot_product_attention', ...]

Three layers record a run, from hardest to fool to easiest to read:
  * every aten operator executed (a TorchDispatchMode), so a fused kernel is seen however it
    was reached;
  * every torch function called (a TorchFunctionMode), which sees
    F.scaled_dot_product_attention even where it decomposes into plain operators;
  * every Python function called and every C function's module (sys.setprofile), compared with
    the banned code objects (lmcore's references, torch's optimizers) and libraries (a Rust
    tokenizer is only a C call).
The fourth list, ``names``, is for the source: the audit (``lmcore.grading.audit``) reads the
notebook in the grader's process and finds those names used as attributes, imports or strings.
"""

import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


@dataclass(frozen=True)
class Rules:
    ops: tuple[str, ...] = ()  # substrings of banned aten operator and torch function names
    code: tuple = ()  # banned Python code: functions, classes (their methods) or modules (their functions)
    libraries: tuple[str, ...] = ()  # top-level packages none of whose functions may be called
    names: tuple[str, ...] = ()  # attribute / import / string names the source may not use

    def __bool__(self) -> bool:
        return bool(self.ops or self.code or self.libraries or self.names)

    def banned_code(self) -> dict:
        """code object -> the qualified name a finding shows. Decorated functions count by
        their own code (``inspect.unwrap``), not the wrapper a decorator shares among many."""
        found = {}
        for item in self.code:
            if isinstance(item, types.ModuleType):
                functions = [
                    f for f in vars(item).values() if inspect.isfunction(f) and f.__module__ == item.__name__
                ]
            elif inspect.isclass(item):
                functions = [f for f in vars(item).values() if inspect.isfunction(f)]
            else:
                functions = [item]
            for f in functions:
                f = inspect.unwrap(f)
                found[f.__code__] = f"{f.__module__}.{f.__qualname__}"
        return found


class _Ops(TorchDispatchMode):
    def __init__(self, seen: set):
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


class _Functions(TorchFunctionMode):
    def __init__(self, seen: set):
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.add(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def _c_module(fn) -> str:
    module = getattr(fn, "__module__", None) or type(getattr(fn, "__self__", None)).__module__
    return (module or "").split(".")[0]


def trace(run: Callable, rules: Rules) -> tuple[object, list[str]]:
    """Run ``run()``; return its result and, sorted, what it called that ``rules`` ban."""
    ops: set = set()
    calls: set = set()
    libraries: set = set()
    banned_code = rules.banned_code()

    def profile(frame, event, arg):
        if event == "call":
            calls.add(frame.f_code)
        elif event == "c_call" and rules.libraries:
            libraries.add(_c_module(arg))

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        if rules.ops:
            with _Functions(ops), _Ops(ops):
                result = run()
        else:
            result = run()
    finally:
        sys.setprofile(previous)
    found = {f"torch {op}" for op in ops if any(b in op.lower() for b in rules.ops)}
    found |= {f"{banned_code[c]}" for c in calls if c in banned_code}
    found |= {f"the {lib} library" for lib in libraries if lib in rules.libraries}
    # a library written in Python shows as calls of its functions
    found |= {
        f"the {_library_of(c)} library"
        for c in calls
        if rules.libraries and _library_of(c) in rules.libraries
    }
    return result, sorted(found)


def _library_of(code: types.CodeType) -> str:
    path = code.co_filename
    return path.split("site-packages/")[-1].split("/")[0] if "site-packages/" in path else ""
