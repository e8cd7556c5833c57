"""Build of the optional compiled accelerator (everything else is in pyproject.toml).

``coffeeshop_tui.scenarios._fastpath`` is the recorder's hot path in C. It is built where a C
compiler and the Python headers exist and skipped cleanly where they do not (``optional=True``:
a failed compile is a warning, not a failed install); the pure-Python recorder is then used.
"""

import os

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "coffeeshop_tui.scenarios._fastpath",
            sources=["scenarios/_fastpath.c"],
            optional=True,
            extra_compile_args=["-O2"] if os.name == "posix" else [],
        )
    ]
)
