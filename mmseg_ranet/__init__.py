"""RANet as an MMSegmentation plugin.

Importing this package registers its datasets, transforms, models and metrics in mmseg's registries.
Configs that use them carry::

    custom_imports = dict(imports=['mmseg_ranet'], allow_failed_imports=False)
"""

from . import datasets, engine, evaluation, models, utils  # noqa: F401  (imports register the modules)

__version__ = "0.1.0"
