"""Build the compiled hot modules (every ``src/**/_*_c.pyx``).

Switches, all environment variables:

- ``TRADING_ENGINE_NO_EXTENSIONS=1``: build nothing; the pure-Python twins are used.
- ``TRADING_ENGINE_CYTHON_TRACE=1``: line-traced build plus annotated HTML, for profiling and
  coverage (slower; never for production).
- ``TRADING_ENGINE_DEBUG=1``: ``-O0 -g`` and bounds/None checks back on, for gdb and sanitizers.

Release is the default. Without a working C compiler the build stops with a message naming the
pure-Python way out, instead of silently installing a slower engine.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent


def _no_extensions() -> bool:
    """The package's own reading of the switch (_compat.py), loaded by path: the package cannot be
    imported while it is being built."""
    spec = importlib.util.spec_from_file_location("_te_compat", HERE / "src/trading_engine_python/_compat.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return bool(module.NO_EXTENSIONS)


NO_EXTENSIONS = _no_extensions()
TRACE = bool(os.environ.get("TRADING_ENGINE_CYTHON_TRACE"))
DEBUG = bool(os.environ.get("TRADING_ENGINE_DEBUG"))


def _have_compiler() -> bool:
    import tempfile

    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    cc = new_compiler()
    customize_compiler(cc)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("int main(void) { return 0; }\n")
        try:
            cc.compile([str(src)], output_dir=tmp)
        except Exception:  # CompileError comes from whichever distutils setuptools aliased
            return False
    return True


def _extensions() -> list[Extension]:
    if NO_EXTENSIONS:
        print("TRADING_ENGINE_NO_EXTENSIONS set: building no extension (pure-Python twins)")
        return []
    if not _have_compiler():
        sys.exit(
            "trading_engine_python: no working C compiler found, so the Cython core cannot be "
            "built.\nInstall one (Debian: apt-get install gcc python3-dev), or install the "
            "pure-Python twin explicitly:\n    TRADING_ENGINE_NO_EXTENSIONS=1 pip install .\n"
        )
    from Cython.Build import cythonize

    directives = {
        "language_level": "3",
        # Indexes are checked by hand against the end pointer / capacity; Python's wraparound
        # and bounds checks would only cost time on the hot path.
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        # C division semantics: operands are non-negative fixed-point ints, no ZeroDivision path.
        "cdivision": True,
        # Typed object attributes are always set in __cinit__; None checks add a branch per use.
        "nonecheck": DEBUG,
        # Frames are kept only for tracebacks; the hot functions never raise into Python.
        "profile": TRACE,
        "linetrace": TRACE,
        # Emit the binding signatures so that inspect/help() show real parameters.
        "embedsignature": True,
    }
    macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if TRACE else []
    cflags = ["-O0", "-g"] if DEBUG else ["-O3"]
    exts = []
    for pyx in sorted((HERE / "src").rglob("_*_c.pyx")):
        rel = pyx.relative_to(HERE / "src").with_suffix("")
        exts.append(
            Extension(
                ".".join(rel.parts),
                [str(pyx.relative_to(HERE))],
                define_macros=macros,
                extra_compile_args=cflags,
            )
        )
    return cythonize(
        exts,
        compiler_directives=directives,
        annotate=TRACE,
        include_path=[str(HERE / "src")],
        quiet=True,
    )


setup(ext_modules=_extensions())
