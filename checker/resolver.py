"""The implementation switch: which file a grader (or the capstone) tests.

`KATA_IMPL` (set from `--impl`) selects it:

- `katas` (default): the learner's `katas/<name>/<name>.py`
- `solutions`: the reference `solutions/<name>.py`
- a path to a `.py` file: any file with the kata's API (a candidate's answer,
  a mutant); used for every kata name asked for
- a path to a folder: `<folder>/<name>.py`, so one folder can hold answers
  to several katas (the capstone imports four)

Graders never import a kata directly; they call `kata_module(name)`, which
loads lazily so that a syntax error or a missing function becomes a graded
error instead of a collection crash.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from types import ModuleType

from checker import REPO_ROOT


class ImplementationLoadError(Exception):
    """The file under test could not be imported (syntax error, import error)."""

    def __init__(self, path: Path, cause: BaseException):
        super().__init__(f"{path}: {type(cause).__name__}: {cause}")
        self.path = path
        self.cause = cause


class MissingFunctionError(AttributeError):
    """The file under test lacks a name the kata's API requires."""

    def __init__(self, path: Path, name: str):
        super().__init__(f"{path} has no '{name}'")
        self.path = path
        self.name = name


class KataNotImplemented(BaseException):
    """A learner function raised NotImplementedError (an untouched stub).

    A BaseException, so hypothesis stops at once instead of shrinking an
    input that cannot matter.
    """


def _stop_on_not_implemented(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except NotImplementedError as error:
            raise KataNotImplemented(str(error)) from error

    return wrapper


def resolve_path(name: str, impl: str | None = None) -> Path:
    """Return the file that implements kata `name` under the chosen switch."""
    choice = impl if impl is not None else os.environ.get("KATA_IMPL", "katas")
    if choice in ("", "katas"):
        return REPO_ROOT / "katas" / name / f"{name}.py"
    if choice == "solutions":
        return REPO_ROOT / "solutions" / f"{name}.py"
    path = Path(choice).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("KATA_IMPL_BASE", os.getcwd())) / path
    if path.is_dir():
        return path / f"{name}.py"
    return path


def load_module(path: Path, module_name: str) -> ModuleType:
    """Import the file at `path` as `module_name`, registered in sys.modules."""
    if not path.is_file():
        raise ImplementationLoadError(path, FileNotFoundError(f"no file at {path}"))
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before exec so that dataclasses and pickling can find it.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise ImplementationLoadError(path, error) from error
    return module


class KataModule:
    """A lazily loaded implementation of one kata.

    Attribute access imports the file on first use and then behaves like
    the module itself, except that a missing name raises
    `MissingFunctionError` naming the file.
    """

    def __init__(self, name: str, impl: str | None = None):
        self._name = name
        self._impl = impl
        self._module: ModuleType | None = None
        self._error: ImplementationLoadError | None = None

    @property
    def path(self) -> Path:
        return resolve_path(self._name, self._impl)

    def load(self) -> ModuleType:
        if self._module is not None:
            return self._module
        if self._error is not None:
            raise self._error
        try:
            self._module = load_module(self.path, f"kata_impl_{self._name}")
        except ImplementationLoadError as error:
            self._error = error
            raise
        return self._module

    def __getattr__(self, attribute: str):
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        module = self.load()
        try:
            value = getattr(module, attribute)
        except AttributeError:
            raise MissingFunctionError(self.path, attribute) from None
        if inspect.isfunction(value):
            return _stop_on_not_implemented(value)
        return value


_cache: dict[tuple[str, str | None], KataModule] = {}


def kata_module(name: str, impl: str | None = None) -> KataModule:
    """Return the (lazily loaded) implementation of kata `name`."""
    key = (name, impl)
    if key not in _cache:
        _cache[key] = KataModule(name, impl)
    return _cache[key]
