"""Fixed random views of a training set, for patient distillation: drawn once, rendered on demand.

Patient and consistent distillation (Beyer et al., CVPR 2022) fits a student to the teacher's
function on many augmented views of every image, with the teacher's answer computed on the very
view the student sees. A :class:`ViewPlan` fixes ``K`` views of each of ``N`` images: a crop
window and a flip (the dataset's own augmentation) and, with mixup (Zhang et al., ICLR 2018), a
partner image blended in with a weight. It holds only these draws, a few bytes per view, never
pixels: :func:`render_views` makes any view's pixels when asked, the same every time. So the
teacher's logits can be computed once for every view
(:func:`cnn2gnn_lib.training.cache_view_logits`) and the student can sample one view per image
per epoch, for as many epochs as it needs, without the teacher in its loop. View ``0`` is the
image itself; views ``1..K`` are the drawn ones.

A rendered view is rounded to uint8 like the stored images, so the teacher (which reads uint8
images through :func:`view_dataset`) and the student (:func:`render_views`) see the same pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .datasets import DatasetInfo, ImageDataset
from .views import crop_flip


@dataclass(frozen=True)
class ViewPlan:
    """``K`` fixed views of ``N`` images (view ``k`` of image ``i`` is row ``[k - 1, i]``).

    ``offsets`` ``[K, N, 2]``: crop windows (top, left) in the image padded by ``padding``;
    ``flips`` ``[K, N]``: mirrored or not; ``partners`` ``[K, N]``: the image blended in
    (itself without mixup); ``weights`` ``[K, N]``: the share of the image itself, in
    ``[0.5, 1]`` (``max(lam, 1 - lam)`` with ``lam ~ Beta(mixup, mixup)``), so the image
    keeps its label; 1 without mixup.
    """

    offsets: torch.Tensor
    flips: torch.Tensor
    partners: torch.Tensor
    weights: torch.Tensor
    padding: int
    seed: int
    mixup: float

    @property
    def views(self) -> int:
        """``K``, the drawn views (view 0, the image itself, not counted)."""
        return self.flips.shape[0]

    @property
    def images(self) -> int:
        return self.flips.shape[1]

    def key(self) -> str:
        """Names the draws: two plans with the same key render the same views."""
        return f"{self.views}views-mixup{self.mixup:g}-seed{self.seed}"


def draw_views(num_images: int, views: int, info: DatasetInfo, seed: int = 0,
               mixup: float = 0.0) -> ViewPlan:
    """Draw ``views`` random views of each of ``num_images`` images with the augmentation of
    ``info`` (its crop padding and horizontal flip) and, for ``mixup`` > 0, a random partner and
    weight per view. The same arguments always give the same plan."""
    if views < 1:
        raise ValueError(f"a view plan needs at least 1 view, got {views}")
    if num_images < 2 and mixup > 0:
        raise ValueError("mixup needs at least 2 images to blend")
    if mixup < 0:
        raise ValueError(f"mixup must be >= 0 (the Beta distribution's parameter), got {mixup}")
    generator = torch.Generator().manual_seed(seed)
    padding = info.crop_padding
    offsets = torch.randint(0, 2 * padding + 1, (views, num_images, 2), generator=generator)
    flips = torch.rand(views, num_images, generator=generator) < 0.5
    if not info.horizontal_flip:
        flips.zero_()
    if mixup > 0:
        # a partner other than the image itself: shift by 1 .. N-1 places
        shift = torch.randint(1, num_images, (views, num_images), generator=generator)
        partners = (torch.arange(num_images) + shift) % num_images
        lam = torch.from_numpy(np.random.default_rng(seed).beta(mixup, mixup,
                                                                (views, num_images)))
        weights = torch.maximum(lam, 1 - lam).float()
    else:
        partners = torch.arange(num_images).expand(views, num_images).clone()
        weights = torch.ones(views, num_images)
    return ViewPlan(offsets, flips, partners, weights, padding, seed, float(mixup))


def render_views(images: torch.Tensor, plan: ViewPlan, rows: torch.Tensor,
                 view_ids: torch.Tensor) -> torch.Tensor:
    """The pixels of view ``view_ids[b]`` of image ``rows[b]``: uint8 ``[B, C, H, W]``.

    ``images`` are the plan's ``N`` uint8 images ``[N, C, H, W]``; view 0 is the image itself.
    """
    if images.shape[0] != plan.images:
        raise ValueError(f"the view plan was drawn for {plan.images} images, got "
                         f"{images.shape[0]}")
    if rows.shape != view_ids.shape:
        raise ValueError(f"rows {tuple(rows.shape)} and view_ids {tuple(view_ids.shape)} differ")
    if len(view_ids) and (view_ids.min() < 0 or view_ids.max() > plan.views):
        raise ValueError(f"view ids must lie in [0, {plan.views}]")
    out = images[rows].clone()
    drawn = view_ids > 0
    if drawn.any():
        own, slot = rows[drawn], view_ids[drawn] - 1
        pixels = _cropped(images, plan, own, slot)
        if plan.mixup > 0:
            partner = plan.partners[slot, own]
            weight = plan.weights[slot, own].view(-1, 1, 1, 1)
            pixels = weight * pixels + (1 - weight) * _cropped(images, plan, partner, slot)
        out[drawn] = pixels.round().clamp(0, 255).to(torch.uint8)
    return out


def _cropped(images: torch.Tensor, plan: ViewPlan, rows: torch.Tensor, slot: torch.Tensor
             ) -> torch.Tensor:
    """Images ``rows`` cropped and flipped as drawn for view slot ``slot`` (float)."""
    return crop_flip(images[rows].float(), plan.padding, plan.offsets[slot, rows],
                     plan.flips[slot, rows])


def view_dataset(dataset: ImageDataset, plan: ViewPlan, view: int) -> ImageDataset:
    """View ``view`` of every image of ``dataset`` as a dataset (split named after the plan,
    so caches keyed by the split never mix views)."""
    if not 0 <= view <= plan.views:
        raise ValueError(f"view must lie in [0, {plan.views}], got {view}")
    if view == 0:
        return dataset
    rows = torch.arange(len(dataset))
    images = render_views(dataset.images, plan, rows, torch.full_like(rows, view))
    return ImageDataset(images, dataset.targets, dataset.info,
                        f"{dataset.split}+view{view}-of-{plan.key()}", dataset.indices)
