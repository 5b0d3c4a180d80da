"""Former home of the adapters to the authors' IPN, MANet and ATNet; they now live in
:mod:`vos_recommender.backends.authors` (one module per model). Kept so existing imports keep working.
"""

from __future__ import annotations

from vos_recommender.backends.authors import ATNetBackend, AuthorsCode, IPNBackend, MANetBackend, manet_config

__all__ = ["ATNetBackend", "AuthorsCode", "IPNBackend", "MANetBackend", "manet_config"]
