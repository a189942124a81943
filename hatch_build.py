"""Build hook: the vega bundle of aidebt's JupyterLab extension (see aidebt/jupyter.py).

The extension's own files live in aidebt/labextension and are installed into
share/jupyter/labextensions/aidebt. Its static/vega.js, 0.9 MB of generated JavaScript,
is written here at build time from vl-convert (the same bundle the HTML reports inline)
rather than kept in git.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        import vl_convert

        target = Path(self.root, "aidebt", "labextension", "static", "vega.js")
        bundle = vl_convert.javascript_bundle()
        if not target.exists() or target.read_text(encoding="utf-8") != bundle:
            target.write_text(bundle, encoding="utf-8")
