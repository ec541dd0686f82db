import pytest
import torch

from cnn2gnn_lib import teachers


@pytest.mark.parametrize("arch", teachers.ARCHITECTURES)
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_every_architecture_gives_logits(arch, channels, size):
    torch.manual_seed(0)
    model = teachers.build_teacher(arch, channels, 10).eval()
    images = torch.rand(2, channels, size, size)
    with torch.no_grad():
        logits = model(images)
        features = model.features(images)
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    assert features.shape == (2, model.backbone.num_features)


@pytest.mark.parametrize("arch, millions", [("resnet20", 0.27), ("resnet32", 0.46),
                                            ("resnet56", 0.85), ("resnet110", 1.7)])
def test_cifar_resnets_have_the_published_sizes(arch, millions):
    # He et al. (2016), Table 6: parameters of the CIFAR-10 ResNets
    model = teachers.build_teacher(arch, 3, 10)
    assert teachers.count_parameters(model) / 1e6 == pytest.approx(millions, rel=0.03)


def test_cifar_resnet_depth_is_6n_plus_2():
    model = teachers.build_teacher("resnet56", 1, 10)
    weighted = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weighted) == 56


def test_small_image_stem_keeps_resolution():
    model = teachers.build_teacher("resnet18", 3, 100)
    assert model.backbone.body.conv1.stride == (1, 1)
    assert isinstance(model.backbone.body.maxpool, torch.nn.Identity)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 100)


def test_normalisation_is_inside_the_model():
    model = teachers.build_teacher("resnet20", 1, 10, mean=(0.3,), std=(0.2,)).eval()
    images = torch.rand(3, 1, 28, 28)
    expected = model.backbone((images - 0.3) / 0.2)
    assert torch.allclose(model(images), expected)


def test_bad_requests_are_named():
    with pytest.raises(ValueError, match="unknown architecture 'resnet9000'"):
        teachers.build_teacher("resnet9000")
    with pytest.raises(ValueError, match="in_channels"):
        teachers.build_teacher("resnet20", in_channels=2)
    with pytest.raises(ValueError, match="expects images \\[B, 1, H, W\\]"):
        teachers.build_teacher("resnet20", 1)(torch.rand(2, 3, 28, 28))


def test_flip_averaged_logits_are_the_mean_of_both_orientations():
    torch.manual_seed(0)
    model = teachers.build_teacher("resnet20", 3, 10).eval()
    flipped = teachers.FlipAveraged(model).eval()
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        expected = (model(images) + model(images.flip(-1))) / 2
        assert torch.allclose(flipped(images), expected, atol=1e-6)
        assert not torch.allclose(flipped(images), model(images), atol=1e-4)
        # an image that is its own mirror image gets the plain answer
        symmetric = torch.cat([images[..., :16], images[..., :16].flip(-1)], dim=-1)
        assert torch.allclose(flipped(symmetric), model(symmetric), atol=1e-5)
        features = (model.features(images) + model.features(images.flip(-1))) / 2
        assert torch.allclose(flipped.features(images), features, atol=1e-6)
    assert flipped.arch == "resnet20" and flipped.in_channels == 3
    assert teachers.count_parameters(flipped) == teachers.count_parameters(model)
    with pytest.raises(ValueError, match="already flip-averaged"):
        teachers.FlipAveraged(flipped)


def test_flip_averaging_costs_two_forward_passes():
    from cnn2gnn_lib.efficiency import flops_per_image
    model = teachers.build_teacher("resnet20", 3, 10)
    images = torch.rand(2, 3, 32, 32)
    plain = flops_per_image(model, images)
    assert flops_per_image(teachers.FlipAveraged(model), images) == pytest.approx(2 * plain)
