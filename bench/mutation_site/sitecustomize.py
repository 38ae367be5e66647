"""Serve one mutated module to every Python process of a mutation run (see bench/mutation.py).

Active only when bench/mutation_site is on PYTHONPATH and MUTATION_MODULE names a module:
that module is then executed from the code object in MUTATION_CODE instead of its file,
under its real path, and MUTATION_CODE.loaded is touched to show the mutant really ran.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import sys

_MODULE = os.environ.get("MUTATION_MODULE")
_CODE = os.environ.get("MUTATION_CODE")


class _MutantLoader(importlib.abc.Loader):
    def __init__(self, code_path: str):
        self.code_path = code_path

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        with open(self.code_path, "rb") as f:
            code = marshal.load(f)
        open(self.code_path + ".loaded", "a").close()
        exec(code, module.__dict__)


class _MutantFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _MODULE:
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname, path)
        if real is None or not real.origin:
            return None
        return importlib.util.spec_from_file_location(fullname, real.origin, loader=_MutantLoader(_CODE))


if _MODULE and _CODE:
    sys.meta_path.insert(0, _MutantFinder())
