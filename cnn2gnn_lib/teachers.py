"""CNN teachers: the CIFAR-style ResNets and torchvision ResNets adapted to small images.

Two families, one entry point, :func:`build_teacher`:

* ``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``, ``resnet110``: the CIFAR ResNets of
  He et al. (2016, section 4.2): a 3x3 stem with 16 channels, three stages of ``n`` basic blocks
  with 16/32/64 channels, depth ``6n + 2``, parameter-free (zero-padded identity) shortcuts.
  These are the "dozens of layers" CNNs of the CNN2GNN comparison.
* ``resnet18``, ``resnet34``, ``resnet50``, ``resnet152``: torchvision's ImageNet ResNets with the
  7x7 stride-2 stem and the max-pool replaced by one 3x3 stride-1 convolution, so 28-96 pixel
  images are not shrunk to nothing before the first stage.

Every teacher is an :class:`ImageClassifier`: it takes images in [0, 1], standardises them with
the dataset's statistics (kept as buffers, so a checkpoint is self-contained) and returns logits.
:class:`FlipAveraged` wraps a trained one for test-time flip averaging (an inference choice: it
changes no weight, and the checkpoint stays the plain teacher's).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

CIFAR_DEPTHS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18}
TORCHVISION_ARCHS = ("resnet18", "resnet34", "resnet50", "resnet152")
ARCHITECTURES = tuple(CIFAR_DEPTHS) + TORCHVISION_ARCHS


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; the shortcut subsamples and zero-pads channels."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.extra_channels = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.extra_channels:
            half = self.extra_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images (He et al. 2016, section 4.2)."""

    def __init__(self, blocks_per_stage: int, in_channels: int, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for index in range(blocks_per_stage):
                layers.append(BasicBlock(in_planes, planes, stride if index == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        self.num_features = 64
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


class SmallImageResNet(nn.Module):
    """A torchvision ResNet with a 3x3 stride-1 stem and no max-pool."""

    def __init__(self, arch: str, in_channels: int, num_classes: int):
        super().__init__()
        import torchvision

        net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        net.maxpool = nn.Identity()
        self.fc = net.fc
        net.fc = nn.Identity()
        self.body = net
        self.num_features = self.fc.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


class ImageClassifier(nn.Module):
    """Standardise images in [0, 1] with stored statistics, then run a backbone."""

    def __init__(self, backbone: nn.Module, mean: Sequence[float], std: Sequence[float],
                 arch: str = "custom"):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        self.backbone = backbone
        self.arch = arch
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    @property
    def in_channels(self) -> int:
        return self.mean.shape[1]

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.arch} expects images [B, {self.in_channels}, H, W], got "
                             f"{tuple(x.shape)}")
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (after global pooling)."""
        return self.backbone.forward_features(self._check(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self._check(x))


class FlipAveraged(nn.Module):
    r"""A classifier's logits averaged over the image and its mirror image.

    .. math:: z(x) = \tfrac12\,\bigl(f(x) + f(\operatorname{flip}(x))\bigr)

    where ``flip`` mirrors the width axis. Teachers trained with random horizontal flips see
    both orientations as the same class, so averaging the two answers removes part of the
    noise of each at twice the inference cost (two forward passes, which FLOP counts and
    timings include). The study uses it where the single-view teacher falls short of the
    accuracy the book asks of a teacher (``StudyPlan.teacher_flip``).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if isinstance(model, FlipAveraged):
            raise ValueError("the model is already flip-averaged")
        self.model = model
        self.arch = getattr(model, "arch", "custom")

    @property
    def in_channels(self) -> int:
        return self.model.in_channels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, averaged over the two orientations."""
        return 0.5 * (self.model.features(x) + self.model.features(x.flip(-1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.model(x) + self.model(x.flip(-1)))


def build_teacher(arch: str, in_channels: int = 1, num_classes: int = 10,
                  mean: Sequence[float] | None = None,
                  std: Sequence[float] | None = None) -> ImageClassifier:
    """Build an untrained teacher. ``arch`` is one of :data:`ARCHITECTURES`.

    ``mean``/``std`` default to 0.5 per channel; pass the dataset's (``info.mean``/``info.std``).
    """
    key = arch.strip().lower().replace("-", "")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 (grey) or 3 (RGB), got {in_channels}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if key in CIFAR_DEPTHS:
        backbone: nn.Module = CifarResNet(CIFAR_DEPTHS[key], in_channels, num_classes)
    elif key in TORCHVISION_ARCHS:
        backbone = SmallImageResNet(key, in_channels, num_classes)
    else:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    mean = tuple(mean) if mean is not None else (0.5,) * in_channels
    std = tuple(std) if std is not None else (0.5,) * in_channels
    if len(mean) != in_channels:
        raise ValueError(f"mean/std have {len(mean)} channels but in_channels={in_channels}")
    return ImageClassifier(backbone, mean, std, arch=key)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
