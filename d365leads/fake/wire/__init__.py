"""The fake's wire: request/response types, URL, query and ``Prefer`` parsing, the OData
``$filter``/``$orderby`` evaluator, row serialization, the error catalogue and the ``$batch``
codec.

Imports the foundation (``fake.core``) and the schema types of ``fake.org.schema`` it is handed;
never the store, the rules or seeding.
"""

from __future__ import annotations

__all__: list[str] = []
