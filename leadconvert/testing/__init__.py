"""Testing helpers for leadconvert users: hypothesis strategies for neutral conversions.

Needs the ``testing`` extra (``pip install leadconvert[testing]``), which brings hypothesis.
"""

from ._strategies import backend_options, conversions, record_ids

__all__ = ["backend_options", "conversions", "record_ids"]
