"""Backends that run the authors' released IPN, MANet and ATNet models (their code, their weights).

None of the three is a package: each is a research repository with weights on a file host. Clone the
repository, download its weights, and point the adapter at both::

    build_backend("ipn_authors", code_dir="VOS/IPN", weights="VOS/IPN/weights")  # I.pth, P.pth
    build_backend("manet_authors", code_dir="VOS/MANet", weights="VOS/MANet/save_step_80000.pth")
    build_backend("atnet_authors", code_dir="VOS/ATNet", weights="VOS/ATNet/ATNet-checkpoint.pth")

The calls follow the released frame-recommendation scripts (svip-lab/IVOS-W, ``eval_agent_*.py`` and
``utils/utils_*.py``), which define one contract for the three models:

* IPN (zyy-cn/IPN, the training fork of seoungwugoh/ivs-demo): ``model(load_pretrain=False)``, state
  dicts into ``model_I`` / ``model_P``, ``init_variables(frames, masks, device)`` once per video (the
  object count is taken from ``masks`` at start), then per round ``variables['scribbles']`` = only the
  latest round's scribbles with ``annotated_frame`` set, ``Run(variables)``, and the result in
  ``variables['masks']`` / ``variables['probs']``.
* MANet (lightas/CVPR2020_MANet): ``IntVOS(cfg, DeepLab(backbone='resnet', freeze_bn=False))``,
  per-frame embeddings from ``extract_feature``, ``int_seghead`` on the latest scribble's frame and
  ``prop_seghead`` from there to both ends (propagation restarts from the latest scribble).
* ATNet (yuk6heo/IVOS-ATNet): ``ATnet()`` + ``Config()``, ``forward_ANet`` on the annotated frame with
  [previous mask, positive, negative] maps built from *all* scribbles so far, ``forward_TNet`` along
  ``libs.utils.get_prop_list``, blended with the previous round near earlier annotated frames.

The authors' modules are imported from ``code_dir`` in isolation: their generic module names
(``config``, ``networks``, ``utils``, ``model``) are removed from ``sys.modules`` after import and put
back only while the adapter calls into them, so two adapters (or this project) never clash.

Requirements of the released code that this project cannot provide: MANet and ATNet call ``.cuda()``
internally (a CUDA GPU is needed); ATNet needs its compiled FlowNet2 correlation package; IPN and
ATNet import ``davisinteractive`` (``pip install davisinteractive``; ATNet's ``scribble_to_image``
also uses ``np.int``, removed in NumPy 2, so it needs NumPy < 2). Missing pieces raise
:class:`~vos_recommender.backends.base.BackendNotAvailableError` naming what is missing.

Each adapter lives in its own module (:mod:`.ipn`, :mod:`.manet`, :mod:`.atnet`); :mod:`.code` holds the
import isolation they share.
"""

from __future__ import annotations

from vos_recommender.backends.authors.atnet import ATNetBackend
from vos_recommender.backends.authors.code import AuthorsCode
from vos_recommender.backends.authors.ipn import IPNBackend
from vos_recommender.backends.authors.manet import MANetBackend, manet_config

__all__ = ["ATNetBackend", "AuthorsCode", "IPNBackend", "MANetBackend", "manet_config"]
