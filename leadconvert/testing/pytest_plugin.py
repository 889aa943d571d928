"""leadconvert's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures that start each installed backend's emulator and hand back a configured client.
"""

from __future__ import annotations
