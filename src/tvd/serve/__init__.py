"""Serving a trained student over HTTP: ``tvd serve MODEL_DIR``.

:func:`create_app` builds the ASGI application (FastAPI) around any :class:`~tvd.students.base.Student`;
:class:`ServeSettings` holds its limits.  The endpoints:

* ``POST /parse`` with ``{"text": "..."}`` (one utterance) or ``{"texts": ["...", ...]}`` (a batch): the intent,
  its confidence and the slots as character spans;
* ``GET /health``: ``ok``, the student kind and its label counts;
* ``GET /metrics``: Prometheus text (requests by endpoint and status, a latency histogram, utterances parsed).
"""

from tvd.serve.app import create_app
from tvd.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
